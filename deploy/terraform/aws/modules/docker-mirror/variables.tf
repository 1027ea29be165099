variable "vpc_id" {
  type        = string
  description = "The VPC (networking module's vpc_id)."
}

variable "subnet_id" {
  type        = string
  description = "The subnet (networking module's subnet_id)."
}

variable "machine_image" {
  type        = string
  default     = ""
  description = "An AMI ID for the mirror; empty: the newest official Debian 12 AMI."
}

variable "machine_type" {
  type        = string
  default     = "m5n.large"
  description = "Instance type of the mirror."
}

variable "boot_disk_size" {
  type        = number
  default     = 32
  description = "Root volume size in GB."
}

variable "disk_size" {
  type        = number
  default     = 64
  description = "Size in GB of the data volume the cached images live on (mounted at /mnt/registry)."
}

variable "disk_iops" {
  type        = number
  default     = 3000
  description = "IOPS of the data volume (gp3)."
}

variable "disk_throughput" {
  type        = number
  default     = 125
  description = "Throughput of the data volume in MiB/s (gp3)."
}

variable "static_ip" {
  type        = string
  default     = "10.0.1.4"
  description = "The mirror's private IP in the subnet: executors use http://<static_ip>:5000."
}

variable "ssh_access_cidr_range" {
  type        = string
  default     = "10.0.0.0/16"
  description = "Who may SSH to the mirror."
}

variable "http_access_cidr_range" {
  type        = string
  default     = "10.0.0.0/16"
  description = "Who may pull from the mirror (port 5000): the executors' network."
}

variable "instance_tag" {
  type        = string
  default     = "executor-docker-mirror"
  description = "Tag executor_tag on the mirror instance."
}

variable "assign_public_ip" {
  type        = bool
  default     = true
  description = "Give the mirror a public IP (not needed with the networking module's NAT)."
}

variable "resource_prefix" {
  type        = string
  default     = ""
  description = "A prefix for the names of every resource."
}
