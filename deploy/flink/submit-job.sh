#!/usr/bin/env bash
# The job submitter of the compose stack: register the default weights when the registry
# has none and publish the champion to the weights topic, then keep the trending job
# running on the session cluster (`trend job watch`). It submits the job when the
# JobManager has no job of its consumer group (the first start, and after a
# JobManager restart: without HA a restarted JobManager forgets its jobs), and leaves a
# job stopped with `trend job stop` alone while the JobManager lists it. The job resumes from the newest retained
# checkpoint or savepoint of its consumer group, in the object store, so a resubmission
# continues the windows in flight instead of recomputing them from part of their events.
# The job's Java module is the jar the image built; the job finds it through TREND_UDF_JAR
# and ships it with itself.
set -euo pipefail
: "${JOBMANAGER_ADDRESS:?JOBMANAGER_ADDRESS (host:port of the Flink REST API) is required}"
: "${TREND_UDF_JAR:?TREND_UDF_JAR (the jar of the Java module, built into the image) is required}"

trend weights ensure-default
# The job reads its weights from the topic: make sure it holds the champion before the job
# starts (the weights-publisher service keeps it current after that; no duplicate is
# written when it already does).
trend weights publish

# Submits nothing while the job is active, so `docker compose up` can be repeated.
exec trend job watch --jobmanager "$JOBMANAGER_ADDRESS"
