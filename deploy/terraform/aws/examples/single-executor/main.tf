# One executor instance for the codeintel queue (no autoscaling), with a network of its own, a docker
# mirror, and the metric writer the coordinator uses to publish queue sizes. Fill in the three locals,
# build the machine image first (deploy/packer), then: terraform init && terraform apply.
terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

locals {
  region                   = "us-west-2"
  availability_zone        = "us-west-2a"
  sourcegraph_external_url = "https://coordinator.example.com"
}

variable "executors_access_token" {
  type        = string
  sensitive   = true
  description = "The coordinator's COORDINATOR_EXECUTORS_ACCESS_TOKEN (executors.accessToken)."
}

provider "aws" {
  region = local.region
}

module "networking" {
  source            = "../../modules/networking"
  availability_zone = local.availability_zone
}

module "docker-mirror" {
  source    = "../../modules/docker-mirror"
  vpc_id    = module.networking.vpc_id
  subnet_id = module.networking.subnet_id
}

module "executors" {
  source                              = "../../modules/executors"
  vpc_id                              = module.networking.vpc_id
  subnet_id                           = module.networking.subnet_id
  sourcegraph_external_url            = local.sourcegraph_external_url
  sourcegraph_executor_proxy_password = var.executors_access_token
  queue_name                          = "codeintel"
  metrics_environment_label           = "prod"
  docker_registry_mirror              = "http://${module.docker-mirror.ip_address}:5000"
}

module "credentials" {
  source = "../../modules/credentials"
}

# For the coordinator: EXECUTOR_METRIC_AWS_NAMESPACE=sourcegraph-executor, EXECUTOR_METRIC_AWS_REGION,
# EXECUTOR_METRIC_ENVIRONMENT_LABEL=prod and these two.
output "metric_writer_access_key_id" {
  value = module.credentials.metric_writer_access_key_id
}

output "metric_writer_secret_key" {
  value     = module.credentials.metric_writer_secret_key
  sensitive = true
}
