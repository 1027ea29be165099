variable "resource_prefix" {
  type        = string
  default     = ""
  description = "A prefix for the names of every resource."
}

variable "metric_namespace" {
  type        = string
  default     = "sourcegraph-executor"
  description = "The CloudWatch namespace the metric writer may write to: the coordinator's EXECUTOR_METRIC_AWS_NAMESPACE."
}
