output "ip_address" {
  value       = google_compute_instance.mirror.network_interface[0].network_ip
  description = "The mirror's internal IP: pass http://<ip_address>:5000 as docker_registry_mirror to the executors module."
}
