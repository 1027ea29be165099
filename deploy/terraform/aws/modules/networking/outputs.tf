output "vpc_id" {
  value       = aws_vpc.executors.id
  description = "The VPC, for the executors and docker-mirror modules."
}

output "subnet_id" {
  value       = aws_subnet.executors.id
  description = "The executors' subnet, for the executors and docker-mirror modules."
}

output "ip_cidr" {
  value       = aws_subnet.executors.cidr_block
  description = "The executors' subnet range (the docker mirror accepts it)."
}
