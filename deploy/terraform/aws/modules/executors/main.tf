# Executors on EC2: a launch template of the executor machine image, an auto scaling group, and — when
# min_replicas != max_replicas — two CloudWatch alarms on the queue size that the coordinator publishes
# (src/coordinator/autoscaling: namespace sourcegraph-executor, metric src_executors_queue_size,
# dimensions queueName and environment), each driving a step policy that adds or removes one instance.
locals {
  prefix      = var.resource_prefix != "" ? "${var.resource_prefix}-" : ""
  autoscaling = var.min_replicas != var.max_replicas
  queue_names = var.queue_names != null ? join(",", sort(var.queue_names)) : ""
  # The queueName dimension the coordinator publishes: the queue, or the sorted queues joined by "_".
  metric_queue_name = var.queue_name != "" ? var.queue_name : replace(local.queue_names, ",", "_")
  # The instances the queue needs beyond those running; > 0 scales out, < 0 scales in.
  scaling_expression = "CEIL(queueSize / ${var.jobs_per_instance_scaling}) - instanceCount"

  environment = {
    EXECUTOR_FRONTEND_URL               = var.sourcegraph_external_url
    EXECUTOR_FRONTEND_PASSWORD          = var.sourcegraph_executor_proxy_password
    EXECUTOR_QUEUE_NAME                 = var.queue_name
    EXECUTOR_QUEUE_NAMES                = local.queue_names
    EXECUTOR_MAXIMUM_NUM_JOBS           = tostring(var.maximum_num_jobs)
    EXECUTOR_MAXIMUM_RUNTIME_PER_JOB    = var.maximum_runtime_per_job
    EXECUTOR_NUM_TOTAL_JOBS             = tostring(var.num_total_jobs)
    EXECUTOR_MAX_ACTIVE_TIME            = var.max_active_time
    EXECUTOR_JOB_NUM_CPUS               = tostring(var.job_num_cpus)
    EXECUTOR_JOB_MEMORY                 = var.job_memory
    EXECUTOR_FIRECRACKER_DISK_SPACE     = var.firecracker_disk_space
    EXECUTOR_USE_FIRECRACKER            = tostring(var.use_firecracker)
    EXECUTOR_DOCKER_REGISTRY_MIRROR_URL = var.docker_registry_mirror
    DOCKER_REGISTRY_NODE_EXPORTER_URL   = var.docker_registry_mirror_node_exporter_url
    EXECUTOR_DOCKER_AUTH_CONFIG         = var.docker_auth_config
  }
}

data "aws_ami" "executor" {
  count       = var.machine_image == "" ? 1 : 0
  most_recent = true
  owners      = ["self"]
  filter {
    name   = "name"
    values = ["executors-*"]
  }
  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "executor" {
  name                 = "${local.prefix}executors"
  assume_role_policy   = data.aws_iam_policy_document.assume_ec2.json
  permissions_boundary = var.permissions_boundary_arn != "" ? var.permissions_boundary_arn : null
}

# Session Manager instead of open SSH, and the CloudWatch agent for logs.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.executor.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy_attachment" "cloudwatch_agent" {
  role       = aws_iam_role.executor.name
  policy_arn = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
}

resource "aws_iam_instance_profile" "executor" {
  name = "${local.prefix}executors"
  role = aws_iam_role.executor.name
}

resource "aws_security_group" "executor" {
  name   = "${local.prefix}executors"
  vpc_id = var.vpc_id

  ingress {
    description = "SSH"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [var.ssh_access_cidr_range]
  }

  egress {
    from_port        = 0
    to_port          = 0
    protocol         = "-1"
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }
}

resource "aws_launch_template" "executor" {
  name_prefix   = "${local.prefix}executors-"
  image_id      = var.machine_image != "" ? var.machine_image : data.aws_ami.executor[0].id
  instance_type = var.machine_type

  # A clean exit of the executor powers the machine off (its unit, --power-off-on-exit); the group then
  # replaces it with a fresh one.
  instance_initiated_shutdown_behavior = "terminate"

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = var.boot_disk_size
      volume_type = "gp3"
      iops        = var.boot_disk_iops
      throughput  = var.boot_disk_throughput
    }
  }

  network_interfaces {
    associate_public_ip_address = var.assign_public_ip
    subnet_id                   = var.subnet_id
    security_groups             = [aws_security_group.executor.id]
  }

  iam_instance_profile {
    name = aws_iam_instance_profile.executor.name
  }

  # Instance metadata only with a session token (IMDSv2), one hop: a job's container cannot reach it.
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  dynamic "instance_market_options" {
    for_each = var.preemptible_machines ? [1] : []
    content {
      market_type = "spot"
      spot_options {
        spot_instance_type = "one-time"
      }
    }
  }

  user_data = base64encode(templatefile("${path.module}/startup-script.sh.tpl", {
    environment            = { for name, value in local.environment : name => base64encode(value) if value != "" }
    private_ca_cert        = var.private_ca_cert_path != "" ? base64encode(file(var.private_ca_cert_path)) : ""
    docker_registry_mirror = base64encode(var.docker_registry_mirror)
    scratch_disk           = ""
  }))

  update_default_version = true

  tag_specifications {
    resource_type = "instance"
    tags = {
      Name         = "${local.prefix}executor"
      executor_tag = var.instance_tag
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_autoscaling_group" "executor" {
  name                      = "${local.prefix}executors"
  min_size                  = var.min_replicas
  max_size                  = var.max_replicas
  vpc_zone_identifier       = [var.subnet_id]
  health_check_grace_period = 300
  # GroupTotalInstances feeds the alarms' instanceCount.
  enabled_metrics = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"]

  launch_template {
    id      = aws_launch_template.executor.id
    version = "$Latest"
  }

  tag {
    key                 = "executor_tag"
    value               = var.instance_tag
    propagate_at_launch = true
  }

  lifecycle {
    # The alarms change the desired capacity; a later apply must not reset it.
    ignore_changes = [desired_capacity]
  }
}

resource "aws_autoscaling_policy" "scale_out" {
  count                  = local.autoscaling ? 1 : 0
  name                   = "${local.prefix}executors-scale-out"
  autoscaling_group_name = aws_autoscaling_group.executor.name
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = 1
}

resource "aws_autoscaling_policy" "scale_in" {
  count                  = local.autoscaling ? 1 : 0
  name                   = "${local.prefix}executors-scale-in"
  autoscaling_group_name = aws_autoscaling_group.executor.name
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = -1
}

resource "aws_cloudwatch_metric_alarm" "scale_out" {
  count               = local.autoscaling ? 1 : 0
  alarm_name          = "${local.prefix}executors-queue-scale-out"
  alarm_description   = "The queue needs more executor instances than are running."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  alarm_actions       = [aws_autoscaling_policy.scale_out[0].arn]

  metric_query {
    id = "queueSize"
    metric {
      namespace   = "sourcegraph-executor"
      metric_name = "src_executors_queue_size"
      period      = 60
      stat        = "Maximum"
      dimensions = {
        queueName   = local.metric_queue_name
        environment = var.metrics_environment_label
      }
    }
  }

  metric_query {
    id = "instanceCount"
    metric {
      namespace   = "AWS/AutoScaling"
      metric_name = "GroupTotalInstances"
      period      = 60
      stat        = "Maximum"
      dimensions = {
        AutoScalingGroupName = aws_autoscaling_group.executor.name
      }
    }
  }

  metric_query {
    id          = "instancesNeeded"
    expression  = local.scaling_expression
    label       = "Instances the queue needs beyond those running"
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "scale_in" {
  count               = local.autoscaling ? 1 : 0
  alarm_name          = "${local.prefix}executors-queue-scale-in"
  alarm_description   = "More executor instances are running than the queue needs."
  comparison_operator = "LessThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  alarm_actions       = [aws_autoscaling_policy.scale_in[0].arn]

  metric_query {
    id = "queueSize"
    metric {
      namespace   = "sourcegraph-executor"
      metric_name = "src_executors_queue_size"
      period      = 60
      stat        = "Maximum"
      dimensions = {
        queueName   = local.metric_queue_name
        environment = var.metrics_environment_label
      }
    }
  }

  metric_query {
    id = "instanceCount"
    metric {
      namespace   = "AWS/AutoScaling"
      metric_name = "GroupTotalInstances"
      period      = 60
      stat        = "Maximum"
      dimensions = {
        AutoScalingGroupName = aws_autoscaling_group.executor.name
      }
    }
  }

  metric_query {
    id          = "instancesNeeded"
    expression  = local.scaling_expression
    label       = "Instances the queue needs beyond those running"
    return_data = true
  }
}
