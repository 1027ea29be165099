variable "zone" {
  type        = string
  description = "The zone of the mirror instance, e.g. us-central1-c."
}

variable "network_id" {
  type        = string
  description = "The network (networking module's network_id)."
}

variable "subnet_id" {
  type        = string
  description = "The subnet (networking module's subnet_id)."
}

variable "machine_image" {
  type        = string
  default     = "debian-cloud/debian-12"
  description = "The mirror's boot image."
}

variable "machine_type" {
  type        = string
  default     = "n1-standard-2"
  description = "Machine type of the mirror."
}

variable "boot_disk_size" {
  type        = number
  default     = 32
  description = "Boot disk size in GB."
}

variable "disk_size" {
  type        = number
  default     = 64
  description = "Size in GB of the disk the cached images live on (mounted at /mnt/registry)."
}

variable "static_ip" {
  type        = string
  default     = "10.0.1.2"
  description = "The mirror's internal IP in the subnet: executors use http://<static_ip>:5000."
}

variable "http_access_cidr_range" {
  type        = string
  default     = "10.0.0.0/16"
  description = "Who may pull from the mirror (port 5000)."
}

variable "instance_tag" {
  type        = string
  default     = "executor-docker-mirror"
  description = "Network tag and label executor_tag of the mirror."
}

variable "resource_prefix" {
  type        = string
  default     = ""
  description = "A prefix for the names of every resource."
}
