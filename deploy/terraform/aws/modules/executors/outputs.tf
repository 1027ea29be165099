output "autoscaling_group_name" {
  value       = aws_autoscaling_group.executor.name
  description = "The executors' auto scaling group."
}

output "metric_queue_name" {
  value       = local.metric_queue_name
  description = "The queueName dimension the scaling alarms read: the queue, or the sorted queues joined by _."
}
