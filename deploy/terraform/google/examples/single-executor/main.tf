# One executor instance for the codeintel queue (no autoscaling), with a network of its own, a docker
# mirror, and the metric writer the coordinator uses to publish queue sizes. Fill in the locals, build
# the machine image first (deploy/packer), then: terraform init && terraform apply.
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

module "executors" {
  source                              = "../../modules/executors"
  zone                                = local.zone
  network_id                          = module.networking.network_id
  subnet_id                           = module.networking.subnet_id
  sourcegraph_external_url            = local.sourcegraph_external_url
  sourcegraph_executor_proxy_password = var.executors_access_token
  queue_name                          = "codeintel"
  metrics_environment_label           = "prod"
  docker_registry_mirror              = "http://${module.docker-mirror.ip_address}:5000"
}

module "credentials" {
  source     = "../../modules/credentials"
  project_id = local.project_id
}

# For the coordinator: EXECUTOR_METRIC_GCP_PROJECT_ID, EXECUTOR_METRIC_ENVIRONMENT_LABEL=prod, and this key
# (terraform output -raw metric_writer_credentials_file | base64 -d > metric-writer.json).
output "metric_writer_credentials_file" {
  value     = module.credentials.metric_writer_credentials_file
  sensitive = true
}
