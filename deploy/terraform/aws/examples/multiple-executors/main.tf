# Two autoscaled executor groups sharing a network and a docker mirror: batches (scales to zero, one
# instance per 10 queued or running jobs) and codeintel (one to ten instances, one per 360). Each group
# scales on its own queue's size, which the coordinator publishes to CloudWatch every 5 s.
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
  metrics_environment      = "prod"
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
  nat               = true
}

module "docker-mirror" {
  source           = "../../modules/docker-mirror"
  vpc_id           = module.networking.vpc_id
  subnet_id        = module.networking.subnet_id
  assign_public_ip = false
}

module "executors-batches" {
  source                              = "../../modules/executors"
  resource_prefix                     = "batches"
  vpc_id                              = module.networking.vpc_id
  subnet_id                           = module.networking.subnet_id
  assign_public_ip                    = false
  sourcegraph_external_url            = local.sourcegraph_external_url
  sourcegraph_executor_proxy_password = var.executors_access_token
  queue_name                          = "batches"
  metrics_environment_label           = local.metrics_environment
  docker_registry_mirror              = "http://${module.docker-mirror.ip_address}:5000"
  min_replicas                        = 0
  max_replicas                        = 5
  jobs_per_instance_scaling           = 10
  maximum_num_jobs                    = 8
}

module "executors-codeintel" {
  source                              = "../../modules/executors"
  resource_prefix                     = "codeintel"
  vpc_id                              = module.networking.vpc_id
  subnet_id                           = module.networking.subnet_id
  assign_public_ip                    = false
  sourcegraph_external_url            = local.sourcegraph_external_url
  sourcegraph_executor_proxy_password = var.executors_access_token
  queue_name                          = "codeintel"
  metrics_environment_label           = local.metrics_environment
  docker_registry_mirror              = "http://${module.docker-mirror.ip_address}:5000"
  min_replicas                        = 1
  max_replicas                        = 10
  jobs_per_instance_scaling           = 360
}

module "credentials" {
  source = "../../modules/credentials"
}

output "metric_writer_access_key_id" {
  value = module.credentials.metric_writer_access_key_id
}

output "metric_writer_secret_key" {
  value     = module.credentials.metric_writer_secret_key
  sensitive = true
}
