# The executor machine image for the Terraform modules (deploy/terraform): Debian 12 with docker, git,
# the vm runtime's packages, the release binary at /usr/local/bin/executor and its systemd unit
# (`executor install all --power-off-on-exit`). The instances' startup script writes the unit's
# environment file and starts it.
#
#   npm run release                     # release/executor-linux-amd64
#   cd deploy/packer && packer init . && packer build -only='amazon-ebs.executor' -var aws_region=us-west-2 .
#   packer build -only='googlecompute.executor' -var gcp_project_id=my-project .
packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
    googlecompute = {
      source  = "github.com/hashicorp/googlecompute"
      version = ">= 1.1.0"
    }
  }
}

variable "version" {
  type        = string
  default     = "0.1.0"
  description = "The executor's version, in the image's name (the package version of the release)."
}

variable "executor_binary" {
  type        = string
  default     = "../../release/executor-linux-amd64"
  description = "The release binary (npm run release)."
}

variable "preload_images" {
  type        = string
  default     = ""
  description = "Step images the vm runtime converts into its cache while the image is built (EXECUTOR_VM_PRELOAD_IMAGES, comma-separated)."
}

variable "aws_region" {
  type    = string
  default = "us-west-2"
}

variable "aws_instance_type" {
  type        = string
  default     = "m5.large"
  description = "The machine the image is built on (not the executors' machine type)."
}

variable "gcp_project_id" {
  type    = string
  default = ""
}

variable "gcp_zone" {
  type    = string
  default = "us-central1-c"
}

locals {
  # The AWS executors module looks for executors-* AMIs of the account; GCP for the image family executors.
  image_name = "executors-${replace(var.version, ".", "-")}-${formatdate("YYYYMMDDhhmmss", timestamp())}"
}

source "amazon-ebs" "executor" {
  region        = var.aws_region
  instance_type = var.aws_instance_type
  ami_name      = local.image_name
  ssh_username  = "admin"
  source_ami_filter {
    # Debian's official AMIs.
    owners      = ["136693071363"]
    most_recent = true
    filters = {
      name                = "debian-12-amd64-*"
      virtualization-type = "hvm"
    }
  }
  tags = {
    executor_version = var.version
  }
}

source "googlecompute" "executor" {
  project_id          = var.gcp_project_id
  zone                = var.gcp_zone
  source_image_family = "debian-12"
  image_name          = local.image_name
  image_family        = "executors"
  ssh_username        = "packer"
  disk_size           = 20
  image_labels = {
    executor_version = replace(var.version, ".", "-")
  }
}

build {
  sources = ["source.amazon-ebs.executor", "source.googlecompute.executor"]

  provisioner "file" {
    source      = var.executor_binary
    destination = "/tmp/executor"
  }

  provisioner "file" {
    source      = "install.sh"
    destination = "/tmp/install.sh"
  }

  provisioner "shell" {
    environment_vars = ["EXECUTOR_VM_PRELOAD_IMAGES=${var.preload_images}"]
    execute_command  = "sudo -E bash '{{ .Path }}'"
    inline           = ["bash /tmp/install.sh"]
  }
}
