# A pull-through cache of Docker Hub on its own instance, so executors pull step images from inside the
# VPC (Debian's docker-registry on port 5000, its data on a separate volume at /mnt/registry).
locals {
  prefix = var.resource_prefix != "" ? "${var.resource_prefix}-" : ""
}

data "aws_ami" "debian" {
  count       = var.machine_image == "" ? 1 : 0
  most_recent = true
  # Debian's official AMIs.
  owners = ["136693071363"]
  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

resource "aws_security_group" "mirror" {
  name   = "${local.prefix}executors-docker-mirror"
  vpc_id = var.vpc_id

  ingress {
    description = "SSH"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [var.ssh_access_cidr_range]
  }

  ingress {
    description = "Registry (pulls by the executors)"
    from_port   = 5000
    to_port     = 5000
    protocol    = "tcp"
    cidr_blocks = [var.http_access_cidr_range]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_instance" "mirror" {
  ami                         = var.machine_image != "" ? var.machine_image : data.aws_ami.debian[0].id
  instance_type               = var.machine_type
  subnet_id                   = var.subnet_id
  private_ip                  = var.static_ip
  associate_public_ip_address = var.assign_public_ip
  vpc_security_group_ids      = [aws_security_group.mirror.id]
  user_data                   = file("${path.module}/startup-script.sh")

  root_block_device {
    volume_size = var.boot_disk_size
    volume_type = "gp3"
  }

  metadata_options {
    http_tokens = "required"
  }

  tags = {
    Name         = "${local.prefix}executors-docker-mirror"
    executor_tag = var.instance_tag
  }
}

resource "aws_ebs_volume" "registry" {
  availability_zone = aws_instance.mirror.availability_zone
  size              = var.disk_size
  type              = "gp3"
  iops              = var.disk_iops
  throughput        = var.disk_throughput
  tags              = { Name = "${local.prefix}executors-docker-mirror-data" }
}

resource "aws_volume_attachment" "registry" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.registry.id
  instance_id = aws_instance.mirror.id
}
