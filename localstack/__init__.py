"""The embedded local stack: a Kafka-protocol broker, Redis, an S3 endpoint and MLflow."""

from localstack.stack import LocalStack, StackError, StackState

__all__ = ["LocalStack", "StackError", "StackState"]
