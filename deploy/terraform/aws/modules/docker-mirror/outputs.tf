output "ip_address" {
  value       = aws_instance.mirror.private_ip
  description = "The mirror's private IP: pass http://<ip_address>:5000 as docker_registry_mirror to the executors module."
}
