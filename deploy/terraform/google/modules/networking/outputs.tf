output "network_id" {
  value       = google_compute_network.executors.id
  description = "The network, for the executors and docker-mirror modules."
}

output "subnet_id" {
  value       = google_compute_subnetwork.executors.id
  description = "The subnet, for the executors and docker-mirror modules."
}

output "ip_cidr" {
  value       = google_compute_subnetwork.executors.ip_cidr_range
  description = "The subnet's range (the docker mirror accepts it)."
}
