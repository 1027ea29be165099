# A pull-through cache of Docker Hub on its own instance (Debian's docker-registry on port 5000, its data
# on a separate persistent disk at /mnt/registry), so executors pull step images from inside the network.
locals {
  prefix = var.resource_prefix != "" ? "${var.resource_prefix}-" : ""
}

resource "google_compute_disk" "registry" {
  name = "${local.prefix}executors-docker-mirror-data"
  type = "pd-ssd"
  zone = var.zone
  size = var.disk_size
}

resource "google_compute_instance" "mirror" {
  name         = "${local.prefix}executors-docker-mirror"
  machine_type = var.machine_type
  zone         = var.zone
  tags         = [var.instance_tag]
  labels       = { executor_tag = var.instance_tag }

  boot_disk {
    initialize_params {
      image = var.machine_image
      size  = var.boot_disk_size
      type  = "pd-ssd"
    }
  }

  attached_disk {
    source      = google_compute_disk.registry.id
    device_name = "registry-data"
  }

  network_interface {
    network    = var.network_id
    subnetwork = var.subnet_id
    network_ip = var.static_ip
  }

  metadata_startup_script = file("${path.module}/startup-script.sh")
}

resource "google_compute_firewall" "mirror_http" {
  name          = "${local.prefix}executors-docker-mirror-http"
  network       = var.network_id
  target_tags   = [var.instance_tag]
  source_ranges = [var.http_access_cidr_range]

  allow {
    protocol = "tcp"
    ports    = ["5000"]
  }
}

resource "google_compute_firewall" "mirror_ssh" {
  name        = "${local.prefix}executors-docker-mirror-ssh"
  network     = var.network_id
  target_tags = [var.instance_tag]
  # Identity-Aware Proxy's TCP forwarding range: gcloud compute ssh --tunnel-through-iap.
  source_ranges = ["35.235.240.0/20"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}
