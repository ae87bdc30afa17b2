#!/usr/bin/env bash
# One-shot job submitter of the compose stack: register the default weights when the
# registry has none and publish the champion to the weights topic, then submit the
# trending job to the session cluster, unless a job of the same name or consumer group is
# active there (so `docker compose up` can be re-run safely). The job resumes from the
# newest retained checkpoint or savepoint of the job's consumer group, so a resubmission
# after a crash or `trend job stop` continues the windows in flight instead of recomputing
# them from part of their events. The job's Java module is the jar
# the image built; the job finds it through TREND_UDF_JAR and ships it with itself.
set -euo pipefail
: "${JOBMANAGER_ADDRESS:?JOBMANAGER_ADDRESS (host:port of the Flink REST API) is required}"
: "${TREND_UDF_JAR:?TREND_UDF_JAR (the jar of the Java module, built into the image) is required}"

trend weights ensure-default
# The job reads its weights from the topic: make sure it holds the champion before the job
# starts (the weights-publisher service keeps it current after that; no duplicate is
# written when it already does).
trend weights publish

# Nothing to do when the job is active already, so `docker compose up` can be repeated.
exec trend job submit --jobmanager "$JOBMANAGER_ADDRESS" --if-not-running
