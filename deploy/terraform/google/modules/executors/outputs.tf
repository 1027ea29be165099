output "instance_group_manager" {
  value       = google_compute_instance_group_manager.executor.id
  description = "The executors' managed instance group."
}

output "metric_queue_name" {
  value       = local.metric_queue_name
  description = "The queueName label the autoscaler filters on: the queue, or the sorted queues joined by _."
}
