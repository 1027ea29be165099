# A VPC with one subnet for the executors and the docker mirror, and a way out to the internet: an
# internet gateway for public IPs, or (nat = true) a NAT gateway in a public subnet of its own.
locals {
  prefix = var.resource_prefix != "" ? "${var.resource_prefix}-" : ""
}

resource "aws_vpc" "executors" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${local.prefix}executors" }
}

resource "aws_subnet" "executors" {
  vpc_id            = aws_vpc.executors.id
  cidr_block        = var.subnet_cidr_block
  availability_zone = var.availability_zone
  tags              = { Name = "${local.prefix}executors" }
}

resource "aws_internet_gateway" "executors" {
  vpc_id = aws_vpc.executors.id
  tags   = { Name = "${local.prefix}executors" }
}

# Without NAT, the executors' subnet routes straight to the internet gateway (instances need public IPs).
resource "aws_route_table" "public" {
  vpc_id = aws_vpc.executors.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.executors.id
  }
  tags = { Name = "${local.prefix}executors-public" }
}

resource "aws_route_table_association" "executors_public" {
  count          = var.nat ? 0 : 1
  subnet_id      = aws_subnet.executors.id
  route_table_id = aws_route_table.public.id
}

# With NAT: a small public subnet holds the NAT gateway; the executors' subnet routes through it.
resource "aws_subnet" "nat" {
  count             = var.nat ? 1 : 0
  vpc_id            = aws_vpc.executors.id
  cidr_block        = cidrsubnet(var.cidr_block, 8, 255)
  availability_zone = var.availability_zone
  tags              = { Name = "${local.prefix}executors-nat" }
}

resource "aws_route_table_association" "nat_public" {
  count          = var.nat ? 1 : 0
  subnet_id      = aws_subnet.nat[0].id
  route_table_id = aws_route_table.public.id
}

resource "aws_eip" "nat" {
  count  = var.nat ? 1 : 0
  domain = "vpc"
  tags   = { Name = "${local.prefix}executors-nat" }
}

resource "aws_nat_gateway" "executors" {
  count         = var.nat ? 1 : 0
  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.nat[0].id
  tags          = { Name = "${local.prefix}executors" }
}

resource "aws_route_table" "private" {
  count  = var.nat ? 1 : 0
  vpc_id = aws_vpc.executors.id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.executors[0].id
  }
  tags = { Name = "${local.prefix}executors-private" }
}

resource "aws_route_table_association" "executors_private" {
  count          = var.nat ? 1 : 0
  subnet_id      = aws_subnet.executors.id
  route_table_id = aws_route_table.private[0].id
}
