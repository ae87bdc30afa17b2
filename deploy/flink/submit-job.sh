#!/usr/bin/env bash
# One-shot job submitter of the compose stack: register the default weights when the
# registry has none and publish the champion to the weights topic, then submit the
# trending job to the session cluster, unless a job of the same name is already running
# there (so `docker compose up` can be re-run safely). The job resumes from the
# newest retained checkpoint or savepoint of the job's consumer group, so a resubmission
# after a crash or `trend job stop` continues the windows in flight instead of recomputing
# them from part of their events. The job's Java module is the jar
# the image built; the job finds it through TREND_UDF_JAR and ships it with itself.
set -euo pipefail
: "${JOBMANAGER_ADDRESS:?JOBMANAGER_ADDRESS (host:port of the Flink REST API) is required}"
: "${FLINK_JOB_NAME:?FLINK_JOB_NAME is required}"
: "${TREND_UDF_JAR:?TREND_UDF_JAR (the jar of the Java module, built into the image) is required}"

trend weights ensure-default
# The job reads its weights from the topic: make sure it holds the champion before the job
# starts (the weights-publisher service keeps it current after that; no duplicate is
# written when it already does).
trend weights publish

if python - "$JOBMANAGER_ADDRESS" "$FLINK_JOB_NAME" <<'PY'
import json
import sys
import urllib.request

address, name = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(f"http://{address}/jobs/overview", timeout=10) as response:
    jobs = json.load(response)["jobs"]
active = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING"}
sys.exit(0 if any(j["name"] == name and j["state"] in active for j in jobs) else 1)
PY
then
  echo "job ${FLINK_JOB_NAME} is already running on ${JOBMANAGER_ADDRESS}: not submitting again"
  exit 0
fi

exec trend job submit --jobmanager "$JOBMANAGER_ADDRESS"
