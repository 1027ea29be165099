variable "region" {
  type        = string
  description = "The region of the subnet, e.g. us-central1."
}

variable "resource_prefix" {
  type        = string
  default     = ""
  description = "A prefix for the names of every resource."
}

variable "ip_cidr_range" {
  type        = string
  default     = "10.0.1.0/24"
  description = "The executors' subnet; the docker-mirror module's static_ip is in it."
}
