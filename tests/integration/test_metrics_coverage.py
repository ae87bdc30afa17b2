"""Every metric the Grafana dashboard and the alert rules query is really exported.

The three components run for real, on the embedded local stack: the simulator (its
metrics port) feeds the topics, the trending job runs embedded (`trend job run`, a Flink
MiniCluster with Flink's Prometheus reporter on ``flink_metrics_port``) and writes Redis,
the API (uvicorn) reads that Redis and serves ``/metrics``. Each endpoint is scraped over
HTTP, and the names (and the labels the queries group by) are compared with what the
dashboard and the alerts ask for.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from localstack.servers import ApiServer, IngestServer
from localstack.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "trend-tracker.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
LOCAL_PROMETHEUS = ROOT / "deploy" / "prometheus" / "local.yml"

#: Series Prometheus makes itself, not exported by any component.
PROMETHEUS_SERIES = {"up"}
#: PromQL words that look like metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}
#: Samples that show the job's pipeline has produced output (windows written to Redis).
JOB_READY = ("flink_taskmanager_job_task_operator_trend_windows_emitted",
             "flink_taskmanager_job_task_operator_trend_last_window_end_seconds")
STARTUP_TIMEOUT_S = 420


# --- what the dashboard and the alerts query ---------------------------------------------


@dataclass(frozen=True)
class Query:
    where: str
    expr: str


def dashboard_queries() -> list[Query]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [Query(f"dashboard panel {p['title']!r}", t["expr"])
            for p in panels if p["type"] != "row" for t in p["targets"]]


def alert_queries() -> list[Query]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [Query(f"alert {r['alert']}", r["expr"]) for g in groups for r in g["rules"]]


def _strip(expr: str) -> str:
    """The expression without strings, label matchers and range/subquery brackets."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    return re.sub(r"\[[^\]]*\]", " ", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (function calls, keywords, labels excluded)."""
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ",
                  _strip(expr))
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def grouping_labels(expr: str) -> set[str]:
    """Labels an expression groups or matches by (``by (...)``, ``{label=...}``)."""
    labels = set()
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    for matchers in re.findall(r"\{([^}]*)\}", re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)):
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    return labels


def test_query_parsing_finds_metrics_and_labels():
    expr = ('histogram_quantile(0.99, sum by (le) (rate(trend_api_request_duration_seconds_'
            'bucket{route!="/metrics"}[5m]))) > 0.05 and on (job) up{job="x"} == 0')
    assert metric_names(expr) == {"trend_api_request_duration_seconds_bucket", "up"}
    assert grouping_labels(expr) == {"le", "route", "job"}
    expr = ("(time() * 1000 - min by (job_name) (a_b > 0)) / 1000 > 600 or "
            "deriv(sum(c:d)[10m:1m]) > 0 or vector(0)")
    assert metric_names(expr) == {"a_b", "c:d"}
    assert grouping_labels(expr) == {"job_name"}


def test_every_panel_and_alert_queries_some_metric():
    for query in dashboard_queries() + alert_queries():
        assert metric_names(query.expr), query


# --- the running components --------------------------------------------------------------


@dataclass
class Scrape:
    """Metric names (sample names, plus the derived names of families without samples)
    and, per metric, its labels with the values seen, of one endpoint."""

    source: str
    names: set[str] = field(default_factory=set)
    labels: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, source: str, text: str) -> Scrape:
        """Parse exposition text (several scrapes of one component may be concatenated)."""
        scrape = cls(source)
        for family in text_string_to_metric_families(text):
            # A labelled metric that was never touched has no sample, only HELP/TYPE:
            # Prometheus would store nothing for it, but the name is exported.
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"],
                        "summary": ["", "_sum", "_count"]}.get(family.type, [""])
            scrape.names |= {family.name + suffix for suffix in suffixes}
            for sample in family.samples:
                scrape.names.add(sample.name)
                labels = scrape.labels.setdefault(sample.name, {})
                for label, value in sample.labels.items():
                    labels.setdefault(label, set()).add(value)
        return scrape


def scrape_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def try_scrape(url: str) -> str | None:
    try:
        return scrape_text(url)
    except (urllib.error.URLError, OSError):
        return None


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "wb")  # noqa: SIM115 - closed by the process' end
    return subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def epoch_s(timestamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC time as Prometheus writes it."""
    whole, _, fraction = timestamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    return seconds + float(f"0.{fraction or 0}")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def start_prometheus(work: Path, targets: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """Debian's Prometheus server with deploy/prometheus/local.yml and its alert rules,
    pointed at this run's ports, scraping and evaluating every second."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: run `make system-tools` (Debian package prometheus)"
    config = yaml.safe_load(LOCAL_PROMETHEUS.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(ALERTS)]
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    assert {job["job_name"] for job in config["scrape_configs"]} == set(targets)
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    process = _start([binary, f"--config.file={work / 'prometheus.yml'}",
                      f"--storage.tsdb.path={work / 'prometheus-data'}",
                      f"--web.listen-address={address}"], dict(os.environ),
                     work / "prometheus.log")
    return process, f"http://{address}"


#: The ingest service's API key here.
INGEST_KEY = "metrics-coverage-key-0123456789"


def post_json(url: str, body: object, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _trend(*args: str) -> list[str]:
    return [sys.executable, "-m", "trend_tracker.cli", *args]


@pytest.fixture(scope="module")
def scrapes(local_stack, tmp_path_factory) -> Iterator[dict[str, Scrape]]:
    """Start simulator, job, API and ingest service on the local stack; scrape each one once
    it has data."""
    work = tmp_path_factory.mktemp("metrics-coverage")
    suffix = uuid.uuid4().hex[:10]
    job_port, simulator_port = free_port(), free_port()
    env = {**os.environ, **local_stack.settings_env()}
    env.update({
        "TREND_STATE_DIR": str(work / "state"),
        "TREND_TOPIC_CLICKS": f"clicks-{suffix}",
        "TREND_TOPIC_CARTS": f"carts-{suffix}",
        "TREND_TOPIC_PURCHASES": f"purchases-{suffix}",
        "TREND_TOPIC_DEAD_LETTERS": f"events-dlq-{suffix}",
        "TREND_WEIGHTS_MODEL_NAME": f"trend-weights-{suffix}",
        "TREND_PARQUET_ROOT_URI": f"file://{work / 'parquet'}",
        # Short windows, so rankings reach Redis within seconds of the first events.
        "TREND_WINDOW_SIZE_S": "10",
        "TREND_WINDOW_SLIDE_S": "5",
        "TREND_CHECKPOINT_INTERVAL_S": "5",
        "TREND_FLINK_METRICS_PORT": str(job_port),
        "TREND_METRICS_PORT": str(simulator_port),
    })
    for step in (("topics", "create"), ("weights", "ensure-default")):
        done = subprocess.run(_trend(*step), env=env, capture_output=True, text=True,
                              timeout=180, check=False)
        assert done.returncode == 0, f"trend {' '.join(step)}: {done.stdout}{done.stderr}"

    processes: list[subprocess.Popen] = []
    apis: list[ApiServer] = []
    try:
        # Malformed events on purpose, so the dead-letter counters have samples too.
        simulator_log, job_log = work / "simulator.log", work / "job.log"
        processes.append(_start(_trend("simulate", "--rate", "200", "--throttle",
                                       "--bad-fraction", "0.05", "--no-progress"),
                                env, simulator_log))
        processes.append(_start(_trend("job", "run"), env, job_log))

        job_url = f"http://127.0.0.1:{job_port}/metrics"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        job_text = None
        while time.monotonic() < deadline:
            for process, log in zip(processes, (simulator_log, job_log), strict=True):
                assert process.poll() is None, f"exited early; log tail:\n{_tail(log)}"
            job_text = try_scrape(job_url)
            if job_text and all(re.search(rf"^{name}\{{", job_text, re.MULTILINE)
                                for name in JOB_READY):
                break
            time.sleep(2)
        else:
            pytest.fail(f"the job exported no window metrics on {job_url} within "
                        f"{STARTUP_TIMEOUT_S} s (reporter up: {job_text is not None});"
                        f" job log tail:\n{_tail(job_log)}")
        # Some counters appear later than the first window: the dead-letter ones on the first
        # bad event of each reason, the SQL counts up to 5 s behind. Scrape until every job
        # metric the queries name is there; past the deadline, the tests name what is missing.
        wanted = {name for query in dashboard_queries() + alert_queries()
                  for name in metric_names(query.expr) if owner(name) == "job"}
        deadline = time.monotonic() + 60
        while (not wanted <= Scrape.parse("job", job_text).names
               and time.monotonic() < deadline):
            time.sleep(1)
            job_text = scrape_text(job_url)

        api = ApiServer({**env, "TREND_API_HOST": "127.0.0.1"}, log_path=work / "api.log")
        apis.append(api.start())
        for path in ("/trending?k=5", "/ready", "/categories", "/no-such-route"):
            # A 404 is wanted: it is counted by status like any request.
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(api.url + path, timeout=5).read()
        api_text = scrape_text(api.url + "/metrics")
        # An API whose Redis is gone: its 503s and Redis errors are series too.
        no_redis = f"redis://127.0.0.1:{free_port()}/0"
        broken = ApiServer({**env, "TREND_API_HOST": "127.0.0.1", "TREND_REDIS_URL": no_redis},
                           log_path=work / "api-no-redis.log")
        apis.append(broken.start())
        for path in ("/trending?k=5", "/ready"):
            try:
                urllib.request.urlopen(broken.url + path, timeout=5).read()
            except urllib.error.HTTPError as error:
                assert error.code == 503, error
        api_text += scrape_text(broken.url + "/metrics")
        simulator_text = scrape_text(f"http://127.0.0.1:{simulator_port}/metrics")

        # The ingest service: one batch with a valid and an invalid event (accepted and
        # rejected counters, batch size, produce time), and one whose broker is gone, so
        # its 503s are series too.
        ingest_env = {**env, "TREND_INGEST_API_KEYS": f"metrics:{INGEST_KEY}"}
        authorization = {"Authorization": f"Bearer {INGEST_KEY}"}
        ingest = IngestServer(ingest_env, log_path=work / "ingest.log")
        apis.append(ingest.start())
        valid = {"event_id": "e-1", "event_type": "click", "product_id": "p-1",
                 "category": "c-1", "user_id": "u-1", "ts": int(time.time() * 1000)}
        post_json(ingest.url + "/events", [valid, {**valid, "product_id": "bad id"}],
                  authorization)
        ingest_text = scrape_text(ingest.url + "/metrics")
        no_broker = IngestServer({**ingest_env,
                                  "TREND_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
                                  "TREND_INGEST_REQUEST_TIMEOUT_S": "2"},
                                 log_path=work / "ingest-no-broker.log")
        apis.append(no_broker.start())
        try:
            post_json(no_broker.url + "/events", [valid], authorization)
            pytest.fail("an ingest service without a broker accepted an event")
        except urllib.error.HTTPError as error:
            assert error.code == 503, error
        ingest_text += scrape_text(no_broker.url + "/metrics")

        # A real Prometheus with the local config and the alert rules, on the live parts.
        prometheus, prometheus_url = start_prometheus(work, {
            "trend-job": f"127.0.0.1:{job_port}",
            "trend-api": api.url.removeprefix("http://"),
            "trend-simulator": f"127.0.0.1:{simulator_port}",
            "trend-ingest": ingest.url.removeprefix("http://"),
        })
        processes.append(prometheus)
        # Targets up first; then rules evaluated after that, so no state left over from
        # an evaluation that ran before the first scrape.
        deadline = time.monotonic() + 90
        targets, rules, all_up_at = [], [], None
        while time.monotonic() < deadline:
            assert prometheus.poll() is None, _tail(work / "prometheus.log")
            try:
                targets = get_json(prometheus_url + "/api/v1/targets")["data"]["activeTargets"]
                rules = [rule for group in get_json(prometheus_url + "/api/v1/rules")["data"]
                         ["groups"] for rule in group["rules"]]
            except (urllib.error.URLError, OSError):
                time.sleep(1)
                continue
            if all_up_at is None and len(targets) == 4 and all(
                    t["health"] == "up" for t in targets):
                all_up_at = time.time()
            if all_up_at and rules and all(
                    epoch_s(r["lastEvaluation"]) > all_up_at + 1 for r in rules):
                break
            time.sleep(1)
        yield {
            "job": Scrape.parse("job", job_text),
            "api": Scrape.parse("api", api_text),
            "simulator": Scrape.parse("simulator", simulator_text),
            "ingest": Scrape.parse("ingest", ingest_text),
            "prometheus": {"targets": targets, "rules": rules},
        }
    finally:
        for server in apis:
            server.stop()
        for process in processes:
            _stop(process)


COMPONENTS = ("job", "api", "simulator", "ingest")


def exported(scrapes: dict) -> set[str]:
    return set().union(*(scrapes[c].names for c in COMPONENTS)) | PROMETHEUS_SERIES


def owner(name: str) -> str:
    if name.startswith("trend_api_"):
        return "api"
    if name.startswith("trend_simulator_"):
        return "simulator"
    if name.startswith("trend_ingest_"):
        return "ingest"
    if name.startswith("flink_"):
        return "job"
    return "prometheus"


@pytest.mark.parametrize("queries", [dashboard_queries, alert_queries],
                         ids=["dashboard", "alerts"])
def test_every_queried_metric_is_exported(scrapes, queries):
    missing = {}
    for query in queries():
        for name in metric_names(query.expr) - exported(scrapes):
            missing.setdefault(name, []).append(query.where)
    report = "\n".join(f"{name} (should come from the {owner(name)}): {', '.join(where)}"
                       for name, where in sorted(missing.items()))
    assert not missing, f"queried but not exported:\n{report}"


def test_each_metric_comes_from_the_component_that_owns_its_prefix(scrapes):
    queried = set().union(*(metric_names(q.expr) for q in dashboard_queries() + alert_queries()))
    for name in queried - PROMETHEUS_SERIES:
        assert name in scrapes[owner(name)].names, f"{name} not exported by the {owner(name)}"


@pytest.mark.parametrize("queries", [dashboard_queries, alert_queries],
                         ids=["dashboard", "alerts"])
def test_labels_the_queries_use_exist_on_their_metrics(scrapes, queries):
    problems = []
    for query in queries():
        names = metric_names(query.expr) - PROMETHEUS_SERIES
        if not names:
            continue
        present = set().union(*(set(scrapes[owner(n)].labels.get(n, {})) for n in names))
        for label in grouping_labels(query.expr) - present:
            problems.append(f"{query.where}: label {label!r} not on {sorted(names)}")
    assert not problems, "\n".join(problems)


def test_the_job_labels_its_metrics_with_its_name(scrapes):
    """Alerts group by job_name: Flink exports the job name with '-' turned into '_'."""
    from jobs.trending import JOB_NAME

    labels = scrapes["job"].labels[
        "flink_taskmanager_job_task_operator_trend_event_type_events_read"]
    assert labels["job_name"] == {"trend_tracker"} and JOB_NAME == "trend-tracker"
    assert labels["event_type"] == {"click", "cart", "purchase"}


def test_prometheus_scrapes_every_component(scrapes):
    targets = scrapes["prometheus"]["targets"]
    health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
    assert health == {job: ("up", "") for job in ("trend-job", "trend-api", "trend-simulator",
                                                  "trend-ingest")}


def test_alert_rules_evaluate_on_the_real_series(scrapes):
    """Every rule evaluates without error against what the components really export, and
    with everything healthy, no critical alert is even pending."""
    rules = scrapes["prometheus"]["rules"]
    assert {r["name"] for r in rules} == {
        r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}
    for rule in rules:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
    critical = {r["name"]: r["state"] for r in rules if r["labels"]["severity"] == "critical"}
    assert critical == {name: "inactive" for name in (
        "TrendJobDown", "TrendsStale", "TrendApiErrorRateHigh", "TrendApiDown",
        "TrendIngestProduceErrors", "TrendIngestDown")}
