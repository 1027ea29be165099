variable "availability_zone" {
  type        = string
  description = "The availability zone of the subnet, e.g. us-west-2a."
}

variable "resource_prefix" {
  type        = string
  default     = ""
  description = "A prefix for the names of every resource, to run several deployments in one account."
}

variable "nat" {
  type        = bool
  default     = false
  description = "Give the executors a NAT gateway instead of public IPs: set it, and assign_public_ip = false on the executors module."
}

variable "cidr_block" {
  type        = string
  default     = "10.0.0.0/16"
  description = "The VPC's address range."
}

variable "subnet_cidr_block" {
  type        = string
  default     = "10.0.1.0/24"
  description = "The executors' subnet, inside cidr_block; the docker-mirror module's static_ip is in it."
}
