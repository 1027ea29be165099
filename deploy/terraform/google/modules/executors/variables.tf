# Inputs follow the original's modules/executors/variables.tf (reference §6.7), with its defaults.

variable "zone" {
  type        = string
  description = "The zone of the instance group, e.g. us-central1-c."
}

variable "network_id" {
  type        = string
  description = "The network (networking module's network_id)."
}

variable "subnet_id" {
  type        = string
  description = "The subnet (networking module's subnet_id)."
}

variable "resource_prefix" {
  type        = string
  default     = ""
  description = "A prefix for the names of every resource, to run several executor groups (one per queue) in one project."
}

variable "machine_image" {
  type        = string
  default     = ""
  description = "The boot image: one built with deploy/packer. Empty: the newest of this project's image family executors."
}

variable "machine_type" {
  type        = string
  default     = "c2-standard-8"
  description = "Machine type (c2-standard-8: 8 vCPU, 32 GB). The vm runtime needs nested virtualization, which the template enables."
}

variable "boot_disk_size" {
  type        = number
  default     = 100
  description = "Boot disk size in GB (10 with use_local_ssd and this default)."
}

variable "use_local_ssd" {
  type        = bool
  default     = false
  description = "Attach a 375 GB local SSD for job workspaces (TMPDIR=/mnt/executor-scratch)."
}

variable "preemptible_machines" {
  type        = bool
  default     = false
  description = "Run preemptible (spot) instances."
}

variable "instance_tag" {
  type        = string
  default     = "executor"
  description = "Network tag and label executor_tag of the instances."
}

variable "assign_public_ip" {
  type        = bool
  default     = false
  description = "Give instances public IPs (not needed with the networking module's Cloud NAT)."
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
  default     = "45m"
  description = "EXECUTOR_MAXIMUM_RUNTIME_PER_JOB."
}

variable "maximum_num_jobs" {
  type        = number
  default     = 2
  description = "Jobs per instance at once: EXECUTOR_MAXIMUM_NUM_JOBS."
}

variable "num_total_jobs" {
  type        = number
  default     = 200
  description = "Jobs an instance takes before it exits and powers off (the group replaces it): EXECUTOR_NUM_TOTAL_JOBS."
}

variable "max_active_time" {
  type        = string
  default     = "12h"
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
  description = "Most instances."
}

variable "jobs_per_instance_scaling" {
  type        = number
  default     = 20
  description = "Queue size per instance: the autoscaler keeps one instance per this many queued or running jobs."
}

variable "metrics_environment_label" {
  type        = string
  default     = "dev"
  description = "The environment label of the queue-size metric: the coordinator's EXECUTOR_METRIC_ENVIRONMENT_LABEL."
}

variable "docker_registry_mirror" {
  type        = string
  default     = ""
  description = "A registry mirror, e.g. http://10.0.1.2:5000 (the docker-mirror module): EXECUTOR_DOCKER_REGISTRY_MIRROR_URL and the host daemon's registry-mirrors."
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

variable "labels" {
  type        = map(string)
  default     = {}
  description = "Labels on the instances, besides executor_tag."
}
