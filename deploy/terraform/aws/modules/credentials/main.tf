# The metric writer: an IAM user whose only permission is cloudwatch:PutMetricData in the executors'
# namespace, and its access key, for the coordinator's EXECUTOR_METRIC_AWS_ACCESS_KEY_ID and
# EXECUTOR_METRIC_AWS_SECRET_ACCESS_KEY (a coordinator running on EC2 can use an instance role instead).
locals {
  prefix = var.resource_prefix != "" ? "${var.resource_prefix}-" : ""
}

resource "aws_iam_user" "metric_writer" {
  name = "${local.prefix}executors-metric-writer"
}

data "aws_iam_policy_document" "metric_writer" {
  statement {
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metric_namespace]
    }
  }
}

resource "aws_iam_user_policy" "metric_writer" {
  name   = "${local.prefix}executors-metric-writer"
  user   = aws_iam_user.metric_writer.name
  policy = data.aws_iam_policy_document.metric_writer.json
}

resource "aws_iam_access_key" "metric_writer" {
  user = aws_iam_user.metric_writer.name
}
