variable "project_id" {
  type        = string
  description = "The project the queue-size metric is written to: the coordinator's EXECUTOR_METRIC_GCP_PROJECT_ID."
}

variable "resource_prefix" {
  type        = string
  default     = ""
  description = "A prefix for the names of every resource."
}
