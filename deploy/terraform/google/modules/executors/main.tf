# Executors on Compute Engine: an instance template of the executor machine image, a managed instance
# group, and an autoscaler on the queue size the coordinator publishes (src/coordinator/autoscaling: the
# gauge custom.googleapis.com/executors/queue/size with labels queueName and environment), one instance
# per jobs_per_instance_scaling queued or running jobs.
locals {
  prefix      = var.resource_prefix != "" ? "${var.resource_prefix}-" : ""
  queue_names = var.queue_names != null ? join(",", sort(var.queue_names)) : ""
  # The queueName label the coordinator publishes: the queue, or the sorted queues joined by "_".
  metric_queue_name = var.queue_name != "" ? var.queue_name : replace(local.queue_names, ",", "_")
  # Every term joined with AND (the original's filter lacked one between the first two).
  metric_filter  = "resource.type = \"global\" AND metric.labels.queueName = \"${local.metric_queue_name}\" AND metric.labels.environment = \"${var.metrics_environment_label}\""
  boot_disk_size = var.use_local_ssd && var.boot_disk_size == 100 ? 10 : var.boot_disk_size

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
    TMPDIR                              = var.use_local_ssd ? "/mnt/executor-scratch" : ""
  }
}

data "google_project" "project" {}

data "google_compute_image" "executor" {
  count   = var.machine_image == "" ? 1 : 0
  project = data.google_project.project.project_id
  family  = "executors"
}

# The instances' own identity: writing logs and metrics, nothing else.
resource "google_service_account" "executor" {
  account_id   = substr("${local.prefix}executors", 0, 30)
  display_name = "Executors instances"
}

resource "google_project_iam_member" "log_writer" {
  project = data.google_project.project.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.executor.email}"
}

resource "google_project_iam_member" "metric_writer" {
  project = data.google_project.project.project_id
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.executor.email}"
}

resource "google_compute_instance_template" "executor" {
  name_prefix  = "${local.prefix}executors-"
  machine_type = var.machine_type
  tags         = [var.instance_tag]
  labels       = merge({ executor_tag = var.instance_tag }, var.labels)

  # The vm runtime runs a KVM guest per job: nested virtualization on a VM.
  advanced_machine_features {
    enable_nested_virtualization = var.use_firecracker
  }

  scheduling {
    # A clean exit of the executor powers the machine off (its unit, --power-off-on-exit): the group
    # recreates it instead of restarting it.
    automatic_restart   = false
    on_host_maintenance = "TERMINATE"
    preemptible         = var.preemptible_machines
  }

  service_account {
    email  = google_service_account.executor.email
    scopes = ["https://www.googleapis.com/auth/logging.write", "https://www.googleapis.com/auth/monitoring.write"]
  }

  disk {
    source_image = var.machine_image != "" ? var.machine_image : data.google_compute_image.executor[0].self_link
    disk_size_gb = local.boot_disk_size
    disk_type    = "pd-ssd"
    boot         = true
  }

  dynamic "disk" {
    for_each = var.use_local_ssd ? [1] : []
    content {
      device_name  = "executor-scratch"
      interface    = "NVME"
      disk_type    = "local-ssd"
      type         = "SCRATCH"
      disk_size_gb = 375
    }
  }

  network_interface {
    network    = var.network_id
    subnetwork = var.subnet_id
    dynamic "access_config" {
      for_each = var.assign_public_ip ? [1] : []
      content {
        network_tier = "PREMIUM"
      }
    }
  }

  # SSH only with keys given to these instances (OS Login or instance keys), not the project's.
  metadata = {
    block-project-ssh-keys = "true"
  }

  metadata_startup_script = templatefile("${path.module}/startup-script.sh.tpl", {
    environment            = { for name, value in local.environment : name => base64encode(value) if value != "" }
    private_ca_cert        = var.private_ca_cert_path != "" ? base64encode(file(var.private_ca_cert_path)) : ""
    docker_registry_mirror = base64encode(var.docker_registry_mirror)
    scratch_disk           = var.use_local_ssd ? "/dev/disk/by-id/google-executor-scratch" : ""
  })

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_instance_group_manager" "executor" {
  name               = "${local.prefix}executors"
  zone               = var.zone
  base_instance_name = "${local.prefix}executor"

  version {
    instance_template = google_compute_instance_template.executor.id
    name              = "primary"
  }

  update_policy {
    type              = "PROACTIVE"
    minimal_action    = "REPLACE"
    max_surge_percent = 100
  }

  lifecycle {
    # The autoscaler owns the size.
    ignore_changes = [target_size]
  }
}

resource "google_compute_autoscaler" "executor" {
  name   = "${local.prefix}executors"
  zone   = var.zone
  target = google_compute_instance_group_manager.executor.id

  autoscaling_policy {
    min_replicas    = var.min_replicas
    max_replicas    = var.max_replicas
    cooldown_period = 300

    metric {
      name   = "custom.googleapis.com/executors/queue/size"
      filter = local.metric_filter
      # One instance per this many queued or running jobs.
      single_instance_assignment = var.jobs_per_instance_scaling
    }
  }
}

resource "google_compute_firewall" "executor_ssh" {
  name        = "${local.prefix}executors-ssh"
  network     = var.network_id
  target_tags = [var.instance_tag]
  # Identity-Aware Proxy's TCP forwarding range: gcloud compute ssh --tunnel-through-iap.
  source_ranges = ["35.235.240.0/20"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}
