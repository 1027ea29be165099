output "metric_writer_credentials_file" {
  value       = google_service_account_key.metric_writer.private_key
  sensitive   = true
  description = "The key file, base64-encoded: base64 -d it into the file EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE names (or its JSON into _FILE_CONTENT)."
}
