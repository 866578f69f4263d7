terraform {
  required_version = ">= 1.4.0"
}

variable "environment" {
  type    = string
  default = "dev"
}

resource "terraform_data" "network" {
  input = {
    name       = "demo-${var.environment}-vpc"
    cidr_block = "10.42.0.0/16"
  }
}

resource "terraform_data" "service" {
  input = {
    name          = "demo-${var.environment}-api"
    desired_count = 2
    network       = terraform_data.network.output.name
  }
}

output "service_name" {
  value = terraform_data.service.output.name
}
