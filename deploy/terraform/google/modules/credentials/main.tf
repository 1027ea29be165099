# The metric writer: a service account whose only role is roles/monitoring.metricWriter, and a key for
# it, for the coordinator's EXECUTOR_METRIC_GOOGLE_APPLICATION_CREDENTIALS_FILE (a coordinator on GCE
# can use its own service account instead).
locals {
  prefix = var.resource_prefix != "" ? "${var.resource_prefix}-" : ""
}

resource "google_service_account" "metric_writer" {
  project      = var.project_id
  account_id   = substr("${local.prefix}executors-metric-writer", 0, 30)
  display_name = "Executors queue-size metric writer"
}

resource "google_project_iam_member" "metric_writer" {
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.metric_writer.email}"
}

resource "google_service_account_key" "metric_writer" {
  service_account_id = google_service_account.metric_writer.name
}
