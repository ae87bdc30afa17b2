"""Real servers started locally, on loopback: the embedded stack (a Kafka-protocol broker,
Redis, an S3 endpoint and MLflow) that ``make demo`` runs, plus what the tests and the
benchmarks start around it: a standalone Flink cluster from the wheel
(:mod:`localstack.flink_cluster`) and redis-server and uvicorn processes
(:mod:`localstack.servers`). The job, its functions and the API never import it; only
the `trend up` and `trend demo` commands do."""

from localstack.stack import LocalStack, StackError, StackState

__all__ = ["LocalStack", "StackError", "StackState"]
