#!/usr/bin/env bash
# One-shot job submitter of the compose stack: register the default weights when the
# registry has none, then submit the trending job to the session cluster, unless a job of
# the same name is already running there (so `docker compose up` can be re-run safely).
set -euo pipefail
: "${JOBMANAGER_ADDRESS:?JOBMANAGER_ADDRESS (host:port of the Flink REST API) is required}"
: "${FLINK_JOB_NAME:?FLINK_JOB_NAME is required}"

trend weights ensure-default

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
