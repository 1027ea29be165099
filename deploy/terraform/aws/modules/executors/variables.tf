# Inputs follow the original's modules/executors/variables.tf (reference §6.7), with its defaults.

variable "vpc_id" {
  type        = string
  description = "The VPC (networking module's vpc_id)."
}

variable "subnet_id" {
  type        = string
  description = "The subnet (networking module's subnet_id)."
}

variable "resource_prefix" {
  type        = string
  default     = ""
  description = "A prefix for the names of every resource, to run several executor groups (one per queue) in one account."
}

variable "machine_image" {
  type        = string
  default     = ""
  description = "The AMI to run: one built with deploy/packer. Empty: the newest AMI of this account named executors-*."
}

variable "machine_type" {
  type        = string
  default     = "c5n.metal"
  description = "Instance type. The vm runtime needs KVM, which on AWS means a .metal type (c5n.metal: 72 vCPU, 192 GB)."
}

variable "boot_disk_size" {
  type        = number
  default     = 500
  description = "Root volume size in GB (gp3)."
}

variable "boot_disk_iops" {
  type        = number
  default     = 3000
  description = "Root volume IOPS (gp3)."
}

variable "boot_disk_throughput" {
  type        = number
  default     = 125
  description = "Root volume throughput in MiB/s (gp3)."
}

variable "preemptible_machines" {
  type        = bool
  default     = false
  description = "Run spot instances."
}

variable "instance_tag" {
  type        = string
  default     = "executor"
  description = "Tag executor_tag on the instances (for finding them, e.g. by a Prometheus scrape)."
}

variable "ssh_access_cidr_range" {
  type        = string
  default     = "10.0.0.0/16"
  description = "Who may SSH to the instances."
}

variable "assign_public_ip" {
  type        = bool
  default     = true
  description = "Give instances public IPs (not needed with the networking module's NAT)."
}

variable "permissions_boundary_arn" {
  type        = string
  default     = ""
  description = "A permissions boundary for the instances' IAM role."
}

variable "sourcegraph_external_url" {
  type        = string
  description = "The coordinator's (or Sourcegraph instance's) URL: EXECUTOR_FRONTEND_URL."
}

variable "sourcegraph_executor_proxy_password" {
  type        = string
  sensitive   = true
  description = "The executors access token (executors.accessToken): EXECUTOR_FRONTEND_PASSWORD."
}

variable "queue_name" {
  type        = string
  default     = ""
  description = "The queue to serve: EXECUTOR_QUEUE_NAME. Set this or queue_names."
}

variable "queue_names" {
  type        = list(string)
  default     = null
  description = "Several queues to serve: EXECUTOR_QUEUE_NAMES; the autoscaling metric is their combined one (sorted, joined by _)."
}

variable "maximum_runtime_per_job" {
  type        = string
  default     = "30m"
  description = "EXECUTOR_MAXIMUM_RUNTIME_PER_JOB."
}

variable "maximum_num_jobs" {
  type        = number
  default     = 18
  description = "Jobs per instance at once: EXECUTOR_MAXIMUM_NUM_JOBS."
}

variable "num_total_jobs" {
  type        = number
  default     = 1800
  description = "Jobs an instance takes before it exits and powers off (the group replaces it): EXECUTOR_NUM_TOTAL_JOBS."
}

variable "max_active_time" {
  type        = string
  default     = "2h"
  description = "How long an instance takes jobs before it exits and powers off: EXECUTOR_MAX_ACTIVE_TIME."
}

variable "job_num_cpus" {
  type        = number
  default     = 4
  description = "CPUs per job: EXECUTOR_JOB_NUM_CPUS."
}

variable "job_memory" {
  type        = string
  default     = "12GB"
  description = "Memory per job: EXECUTOR_JOB_MEMORY."
}

variable "firecracker_disk_space" {
  type        = string
  default     = "20GB"
  description = "Workspace disk per job (vm runtime): EXECUTOR_FIRECRACKER_DISK_SPACE."
}

variable "use_firecracker" {
  type        = bool
  default     = true
  description = "Isolate each job in a micro-VM (the vm runtime; EXECUTOR_USE_FIRECRACKER). false: the docker runtime."
}

variable "min_replicas" {
  type        = number
  default     = 1
  description = "Fewest instances; 0 scales to zero when the queue is empty."
}

variable "max_replicas" {
  type        = number
  default     = 1
  description = "Most instances. Autoscaling is on when it differs from min_replicas."
}

variable "jobs_per_instance_scaling" {
  type        = number
  default     = 360
  description = "Queue size per instance: the group aims at CEIL(queue size / this) instances."
}

variable "metrics_environment_label" {
  type        = string
  default     = "dev"
  description = "The environment dimension of the queue-size metric: the coordinator's EXECUTOR_METRIC_ENVIRONMENT_LABEL."
}

variable "docker_registry_mirror" {
  type        = string
  default     = ""
  description = "A registry mirror, e.g. http://10.0.1.4:5000 (the docker-mirror module): EXECUTOR_DOCKER_REGISTRY_MIRROR_URL and the host daemon's registry-mirrors."
}

variable "docker_registry_mirror_node_exporter_url" {
  type        = string
  default     = ""
  description = "DOCKER_REGISTRY_NODE_EXPORTER_URL."
}

variable "docker_auth_config" {
  type        = string
  default     = ""
  sensitive   = true
  description = "Registry credentials, {\"auths\": {...}}: EXECUTOR_DOCKER_AUTH_CONFIG."
}

variable "private_ca_cert_path" {
  type        = string
  default     = ""
  description = "A PEM file on the machine running terraform: a CA the instances trust (for a coordinator behind a private CA)."
}
