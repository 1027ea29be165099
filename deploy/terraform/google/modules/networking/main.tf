# A VPC network with one subnet for the executors and the docker mirror, and Cloud NAT so instances
# without public IPs reach the coordinator and registries.
locals {
  prefix = var.resource_prefix != "" ? "${var.resource_prefix}-" : ""
}

resource "google_compute_network" "executors" {
  name                    = "${local.prefix}executors"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "executors" {
  name                     = "${local.prefix}executors"
  network                  = google_compute_network.executors.id
  region                   = var.region
  ip_cidr_range            = var.ip_cidr_range
  private_ip_google_access = true
}

resource "google_compute_router" "executors" {
  name    = "${local.prefix}executors"
  network = google_compute_network.executors.id
  region  = var.region
}

resource "google_compute_router_nat" "executors" {
  name                               = "${local.prefix}executors"
  router                             = google_compute_router.executors.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"
}
