# Two autoscaled executor groups sharing a network and a docker mirror: batches (scales to zero, one
# instance per 10 queued or running jobs) and codeintel (one to ten instances, one per 20). Each group's
# autoscaler follows its own queue's size, which the coordinator publishes to Cloud Monitoring every 5 s.
terraform {
  required_version = ">= 1.3"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.0"
    }
  }
}

locals {
  project_id               = "my-project"
  region                   = "us-central1"
  zone                     = "us-central1-c"
  sourcegraph_external_url = "https://coordinator.example.com"
  metrics_environment      = "prod"
}

variable "executors_access_token" {
  type        = string
  sensitive   = true
  description = "The coordinator's COORDINATOR_EXECUTORS_ACCESS_TOKEN (executors.accessToken)."
}

provider "google" {
  project = local.project_id
  region  = local.region
  zone    = local.zone
}

module "networking" {
  source = "../../modules/networking"
  region = local.region
}

module "docker-mirror" {
  source     = "../../modules/docker-mirror"
  zone       = local.zone
  network_id = module.networking.network_id
  subnet_id  = module.networking.subnet_id
}

module "executors-batches" {
  source                              = "../../modules/executors"
  resource_prefix                     = "batches"
  zone                                = local.zone
  network_id                          = module.networking.network_id
  subnet_id                           = module.networking.subnet_id
  sourcegraph_external_url            = local.sourcegraph_external_url
  sourcegraph_executor_proxy_password = var.executors_access_token
  queue_name                          = "batches"
  metrics_environment_label           = local.metrics_environment
  docker_registry_mirror              = "http://${module.docker-mirror.ip_address}:5000"
  min_replicas                        = 0
  max_replicas                        = 5
  jobs_per_instance_scaling           = 10
}

module "executors-codeintel" {
  source                              = "../../modules/executors"
  resource_prefix                     = "codeintel"
  zone                                = local.zone
  network_id                          = module.networking.network_id
  subnet_id                           = module.networking.subnet_id
  sourcegraph_external_url            = local.sourcegraph_external_url
  sourcegraph_executor_proxy_password = var.executors_access_token
  queue_name                          = "codeintel"
  metrics_environment_label           = local.metrics_environment
  docker_registry_mirror              = "http://${module.docker-mirror.ip_address}:5000"
  min_replicas                        = 1
  max_replicas                        = 10
  jobs_per_instance_scaling           = 20
}

module "credentials" {
  source     = "../../modules/credentials"
  project_id = local.project_id
}

output "metric_writer_credentials_file" {
  value     = module.credentials.metric_writer_credentials_file
  sensitive = true
}
