"""Static checks of docker-compose.yml and .env.example (no Docker engine needed).

The file is interpolated the way Compose does it (``${VAR}``, ``${VAR:-default}``,
``${VAR:?error}``, ``$$``) with the values of .env.example, then validated by the
``compose-spec`` package (Rust bindings of the ``compose_spec`` crate, which rejects
unknown keys, malformed durations, bad dependency conditions and undefined volumes).
What a schema cannot say is checked here: healthchecks, waiting conditions, pinned images,
unique host ports, declared variables and the project's settings names.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from compose_spec import PyCompose

from trend_tracker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

#: The secrets compose must refuse to start without (no default anywhere).
REQUIRED_SECRETS = {
    "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "TREND_S3_ACCESS_KEY", "TREND_S3_SECRET_KEY",
    "MLFLOW_S3_ACCESS_KEY", "MLFLOW_S3_SECRET_KEY",
    "REDIS_PASSWORD", "REDIS_API_PASSWORD", "MLFLOW_DB_PASSWORD", "GRAFANA_ADMIN_PASSWORD",
    "TREND_INGEST_API_KEYS",
}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}, ${NAME:+alt}
# and bare $NAME; "$$" is an escaped dollar.
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(KeyError):
    """A ``${VAR:?err}`` (or ``${VAR?err}``) whose variable is unset or empty."""


def interpolate_string(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation of one string."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        value = env.get(name)
        op, arg = match["op"], match["arg"] or ""
        empty_counts = op is not None and op.startswith(":")
        is_set = value is not None and (value != "" or not empty_counts)
        if op in (":-", "-"):
            return value if is_set else interpolate_string(arg, env)
        if op in (":?", "?"):
            if not is_set:
                raise MissingVariable(name)
            return value
        if op in (":+", "+"):
            return interpolate_string(arg, env) if is_set else ""
        return value or ""

    return _VARIABLE.sub(replace, text)


def interpolate(node, env: dict[str, str]):
    """Interpolate every string value of a parsed compose document (keys are literal)."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, str):
        return interpolate_string(node, env)
    return node


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a dotenv file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


def variables_used(text: str) -> set[str]:
    """Names of the variables a compose text interpolates (escaped ``$$`` excluded)."""
    return {m["braced"] or m["bare"] for m in _VARIABLE.finditer(text) if not m["escaped"]}


def filled_env() -> dict[str, str]:
    """.env.example with the required secrets filled in, as a user's .env would be."""
    env = read_env_file(ENV_EXAMPLE)
    env.update({name: f"test-{name.lower().replace('_', '-')}" for name in REQUIRED_SECRETS})
    return env


def compose_file() -> dict:
    """docker-compose.yml as Compose sees it with a filled-in .env."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), filled_env())


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    return interpolate(raw, filled_env())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


def one_shots(services: dict[str, dict]) -> set[str]:
    """Services that run to completion: restart "no" is how the file marks them."""
    return {name for name, svc in services.items() if svc.get("restart") == "no"}


# --- the interpolation helper itself (so the checks below can be trusted) ----------------


def test_interpolation_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate_string("${SET}|${UNSET}|$SET|$$SET", env) == "v||v|$SET"
    assert interpolate_string("${UNSET:-d}|${EMPTY:-d}|${EMPTY-d}|${SET:-d}", env) == "d|d||v"
    assert interpolate_string("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}", env) == "alt||alt"
    # Nested defaults (${A:-${B}}) are beyond this helper; the file must not use them.
    assert not re.search(r"\$\{[^}]*\$\{", COMPOSE_FILE.read_text())
    with pytest.raises(MissingVariable):
        interpolate_string("${EMPTY:?required}", env)
    assert interpolate_string("${EMPTY?required}", env) == ""
    assert variables_used("$${X} ${A:-b} $B ${C:?no}") == {"A", "B", "C"}


# --- schema and structure ----------------------------------------------------------------


def test_compose_file_is_valid_compose_spec(compose):
    # PyYAML already resolved the anchors and `<<` merges, as Compose does.
    parsed = PyCompose.from_json(json.dumps(compose))
    parsed.validate()  # every volume and network a service names is declared
    assert set(parsed.service_names()) == set(compose["services"])


def test_compose_spec_validator_rejects_what_compose_rejects(compose):
    """The validator is strict: a misspelt key or a bad condition fails, as in Compose."""
    typo = copy.deepcopy(compose)
    typo["services"]["api"]["helthcheck"] = typo["services"]["api"].pop("healthcheck")
    bad_condition = copy.deepcopy(compose)
    bad_condition["services"]["api"]["depends_on"]["redis"]["condition"] = "service_ready"
    for broken in (typo, bad_condition):
        with pytest.raises(ValueError):
            PyCompose.from_json(json.dumps(broken))


def test_stack_has_every_component(services):
    assert set(services) == {
        "kafka", "kafka-init", "minio", "minio-init", "redis", "mlflow-db", "mlflow",
        "jobmanager", "taskmanager", "job-submit", "weights-publisher", "api", "ingest",
        "simulator", "kafka-ui", "flink-ui", "prometheus", "grafana", "otel-collector",
        "jaeger",
    }
    assert services["simulator"]["profiles"] == ["simulator"]
    assert services["kafka-ui"]["profiles"] == ["ui"]
    assert services["flink-ui"]["profiles"] == ["ui"]
    assert services["otel-collector"]["profiles"] == ["tracing"]
    assert services["jaeger"]["profiles"] == ["tracing"]
    assert {name for name, svc in services.items() if "profiles" in svc} == {
        "simulator", "kafka-ui", "flink-ui", "otel-collector", "jaeger"}
    assert one_shots(services) == {"kafka-init", "minio-init"}


def test_every_long_running_service_has_a_healthcheck(services):
    for name, svc in services.items():
        if name in one_shots(services):
            continue
        check = svc.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), name
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        assert svc["restart"] == "unless-stopped", name


def test_one_shots_are_waited_on_by_completion_not_health(services):
    """A one-shot exits, so it is never "healthy": dependents wait for its success."""
    shots = one_shots(services)
    for name in shots:
        assert "healthcheck" not in services[name], name
        assert "ports" not in services[name], name
    for name, svc in services.items():
        for dependency, spec in svc.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = ("service_completed_successfully" if dependency in shots
                        else "service_healthy")
            assert spec["condition"] == expected, f"{name} -> {dependency}"


def test_dependencies_have_no_cycle_and_start_everything_in_order(services):
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        assert name not in visiting, f"dependency cycle through {name}"
        visiting.add(name)
        for dependency in services[name].get("depends_on", {}):
            visit(dependency)
        visiting.discard(name)
        order.append(name)

    for name in services:
        visit(name)
    assert order.index("kafka-init") < order.index("job-submit")
    assert order.index("mlflow") < order.index("job-submit")
    assert order.index("taskmanager") < order.index("job-submit")
    assert order.index("kafka-init") < order.index("weights-publisher")
    assert order.index("mlflow") < order.index("weights-publisher")


def test_job_submitter_waits_for_everything_the_job_touches(services):
    needs = set(services["job-submit"]["depends_on"])
    assert needs == {"jobmanager", "taskmanager", "kafka-init", "minio-init", "redis", "mlflow"}


def test_nothing_waits_on_a_sleep(raw):
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"\bsleep\b", text)
    assert not re.search(r"\bsleep\b", (ROOT / "deploy/flink/submit-job.sh").read_text())


# --- images ------------------------------------------------------------------------------


def _image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def test_every_image_is_pinned(services):
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name} has no image name"
        tag = _image_tag(image)
        assert tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} has no version in its tag"


def test_dockerfile_base_images_are_pinned():
    dockerfiles = sorted((ROOT / "deploy").glob("*/Dockerfile"))
    assert {p.parent.name for p in dockerfiles} == {"api", "flink", "mlflow"}
    for path in dockerfiles:
        text = path.read_text()
        args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.MULTILINE))
        for base in re.findall(r"^FROM (\S+)", text, re.MULTILINE):
            resolved = re.sub(r"\$\{(\w+)\}", lambda m, args=args: args[m[1]], base)
            tag = _image_tag(resolved)
            assert tag and tag != "latest" and re.search(r"\d", tag), f"{path}: {resolved}"


def test_builds_name_existing_dockerfiles_and_files(services):
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
    # Services that share a built image share one build definition.
    by_image: dict[str, list] = {}
    for svc in services.values():
        if "build" in svc:
            by_image.setdefault(svc["image"], []).append(svc["build"])
    for image, builds in by_image.items():
        assert all(b == builds[0] for b in builds), image
    for svc in services.values():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_submit_script_is_in_the_flink_image_and_valid_shell(services):
    entrypoint = services["job-submit"]["entrypoint"]
    script = entrypoint[-1]
    assert script == "/opt/trend-tracker/deploy/flink/submit-job.sh"
    # The image copies the repository to /opt/trend-tracker minus its .dockerignore.
    ignored = read_ignore(ROOT / "deploy/flink/Dockerfile.dockerignore")
    assert "deploy" not in ignored
    subprocess.run(["bash", "-n", str(ROOT / "deploy/flink/submit-job.sh")], check=True)


def read_ignore(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("service", ["kafka-init", "minio-init", "mlflow", "redis", "flink-ui"])
def test_inline_scripts_are_valid_shell(services, service):
    svc = services[service]
    shell = svc["entrypoint"][0]
    script = svc["command"][0] if isinstance(svc["command"], list) else svc["command"]
    interpreter = shutil.which(Path(shell).name) or shell
    subprocess.run([interpreter, "-n", "-c", script], check=True)


# --- ports -----------------------------------------------------------------------------


def _published(svc: dict) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each short-syntax port entry."""
    out = []
    for entry in svc.get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) == 3, f"publish with an explicit host ip: {entry}"
        out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def test_published_ports_are_unique_and_on_loopback(services):
    seen: dict[int, str] = {}
    for name, svc in services.items():
        for host_ip, host_port, _ in _published(svc):
            assert host_ip == "127.0.0.1", f"{name} publishes on {host_ip}"
            assert host_port not in seen, f"{name} and {seen[host_port]} both use {host_port}"
            seen[host_port] = name
    assert len(seen) == 12


@pytest.mark.parametrize("service, container_ports", [
    ("kafka", {9094}), ("mlflow", {5000}), ("flink-ui", {8081}),
])
def test_kafka_mlflow_and_the_flink_ui_are_reachable_from_this_host_only(services, service,
                                                                        container_ports):
    """No authentication on these: published on loopback only, never on every interface."""
    published = _published(services[service])
    assert {port for _, _, port in published} == container_ports
    assert {ip for ip, _, _ in published} == {"127.0.0.1"}
    assert "network_mode" not in services[service]
    # Kafka's host listener advertises the loopback name, so host clients stay local.
    if service == "kafka":
        listeners = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        assert "EXTERNAL://localhost:" in listeners


def test_the_flink_rest_api_is_not_published_and_its_ui_is_read_only(services):
    """Whoever reaches the REST API can submit and cancel jobs: the JobManager publishes no
    port, the tools reach it inside the compose network, and the UI (profile ui) goes
    through a proxy that passes GET requests only."""
    jobmanager = services["jobmanager"]
    assert "ports" not in jobmanager and "network_mode" not in jobmanager
    publishing_8081 = {name for name, svc in services.items()
                       if any(container == 8081 for _, _, container in _published(svc))}
    assert publishing_8081 == {"flink-ui"}
    ui = services["flink-ui"]
    assert ui["profiles"] == ["ui"]
    assert ui["depends_on"] == {"jobmanager": {"condition": "service_healthy"}}
    config = ui["command"][0]
    assert "set $jobmanager http://" + services["job-submit"]["environment"][
        "JOBMANAGER_ADDRESS"] + ";" in config
    location = re.search(r"location / \{(.*?)\n\s*\}\n", config, re.DOTALL)[1]
    assert " ".join(location.split()) == (
        "limit_except GET { deny all; } proxy_pass $jobmanager;")


def test_no_service_publishes_on_every_interface(raw):
    for name, svc in raw["services"].items():
        for entry in svc.get("ports", []):
            assert str(entry).startswith("127.0.0.1:"), f"{name}: {entry}"


def test_scalable_services_publish_no_port(services):
    """`--scale taskmanager=N` only works when the TaskManager binds no host port."""
    assert "ports" not in services["taskmanager"]


# --- variables -------------------------------------------------------------------------


def test_every_variable_used_is_declared_in_env_example():
    used = variables_used(COMPOSE_FILE.read_text())
    declared = set(read_env_file(ENV_EXAMPLE))
    assert used - declared == set()
    assert declared - used == set(), "declared in .env.example but never used"


def test_required_secrets_have_no_default_and_are_empty_in_the_example(raw):
    example = read_env_file(ENV_EXAMPLE)
    assert {k for k, v in example.items() if v == ""} == REQUIRED_SECRETS
    text = COMPOSE_FILE.read_text()
    for name in REQUIRED_SECRETS:
        uses = [m["op"] for m in _VARIABLE.finditer(text) if m["braced"] == name]
        assert uses, name
        assert set(uses) == {":?"}, f"{name} must always be ${{{name}:?...}}"
    # Each secret alone, when missing, stops the stack with its name.
    for name in REQUIRED_SECRETS:
        env = filled_env()
        env[name] = ""
        with pytest.raises(MissingVariable) as missing:
            interpolate(raw, env)
        assert missing.value.args[0] == name


def test_no_secret_value_is_committed():
    for path in (COMPOSE_FILE, ENV_EXAMPLE):
        text = path.read_text().lower()
        assert "password=" not in text.replace("password=\n", "")
        assert not re.search(r"(secret|password)[^\n]*:-", text), path


def _trend_names(mapping: dict) -> set[str]:
    return {key for key in mapping if key.startswith("TREND_")}


def test_every_trend_variable_is_a_settings_field(services):
    fields = set(Settings.model_fields)
    names = set(_trend_names(read_env_file(ENV_EXAMPLE)))
    for svc in services.values():
        names |= _trend_names(svc.get("environment", {}))
    assert names, "no TREND_ variable found"
    unknown = {n for n in names if n[len("TREND_"):].lower() not in fields}
    assert unknown == set()


@pytest.mark.parametrize("service", ["jobmanager", "taskmanager", "job-submit",
                                     "weights-publisher", "api", "ingest", "simulator"])
def test_project_containers_log_json_lines_by_default(raw, services, service):
    assert raw["services"][service]["environment"]["TREND_LOG_FORMAT"] == (
        "${TREND_LOG_FORMAT:-json}")
    assert services[service]["environment"]["TREND_LOG_FORMAT"] == "json"


def test_the_flink_image_s_console_log_follows_the_switch():
    dockerfile = (ROOT / "deploy" / "flink" / "Dockerfile").read_text()
    assert ("COPY --chown=flink:flink deploy/flink/log4j-console.properties "
            "/opt/flink/conf/log4j-console.properties") in dockerfile


@pytest.mark.parametrize("service", ["jobmanager", "taskmanager", "job-submit",
                                     "weights-publisher", "api", "ingest", "simulator"])
def test_project_containers_get_valid_settings(services, service):
    """The TREND_ values a container gets build a valid Settings object."""
    env = services[service]["environment"]
    values = {k[len("TREND_"):].lower(): str(v) for k, v in env.items()
              if k.startswith("TREND_")}
    settings = Settings(_env_file=None, **values)
    if service not in ("simulator", "weights-publisher", "ingest"):
        assert settings.redis_url.endswith("@redis:6379/0")
    if service in ("jobmanager", "taskmanager", "job-submit"):
        assert settings.redis_url.startswith("redis://:test-redis-password@")
    if service in ("jobmanager", "taskmanager", "job-submit"):
        assert settings.bootstrap_servers == "kafka:9092"
        assert settings.parquet_root_uri == "s3://trends/parquet"
        assert settings.checkpoint_dir == "s3://trends/checkpoints"
        # Not under the container's own state directory: stop and submit run in
        # different containers.
        assert settings.resolved_savepoint_dir == "s3://trends/savepoints"
        assert settings.s3_endpoint_url == "http://minio:9000"
        assert settings.mlflow_tracking_uri == "http://mlflow:5000"
        assert settings.topic_partitions == 4
        assert settings.parallelism == 2
    if service in ("jobmanager", "taskmanager", "job-submit", "weights-publisher"):
        assert settings.topic_weights == "trend-weights"
        assert settings.weights_model_name == "trend-weights"
    if service in ("jobmanager", "taskmanager", "job-submit"):
        assert settings.udf_jar == Path("/opt/trend-tracker/build/java/trend-tracker-udfs.jar")
    if service == "weights-publisher":
        assert settings.bootstrap_servers == "kafka:9092"
        assert settings.mlflow_tracking_uri == "http://mlflow:5000"
    if service == "api":
        assert (settings.api_host, settings.api_port) == ("0.0.0.0", 8000)
        assert settings.redis_url.startswith("redis://trend-api:test-redis-api-password@")
    if service == "ingest":
        assert (settings.ingest_host, settings.ingest_port) == ("0.0.0.0", 8001)
        assert settings.bootstrap_servers == "kafka:9092"
        assert (settings.ingest_max_batch, settings.ingest_max_body_bytes) == (1000, 524_288)
        assert settings.ingest_api_keys.get_secret_value() == "test-trend-ingest-api-keys"
        assert (settings.ingest_rate_limit_events_per_s, settings.ingest_rate_burst) == (
            2000, 10_000)


# --- the weights publisher and the job's Java module ---------------------------------------


def test_weights_publisher_follows_the_registry_the_job_reads(services):
    """The publisher writes the topic the job reads, for the model the job scores with."""
    svc = services["weights-publisher"]
    assert svc["image"] == services["api"]["image"], "the app image has the project"
    assert svc["build"] == services["api"]["build"]
    assert svc["restart"] == "unless-stopped"
    command = svc["command"]
    assert command[:3] == ["weights", "publish", "--follow"]
    port = int(command[command.index("--metrics-port") + 1])
    assert svc["healthcheck"]["test"] == ["CMD", "http-health",
                                          f"http://localhost:{port}/metrics"]
    assert {name: spec["condition"] for name, spec in svc["depends_on"].items()} == {
        "kafka": "service_healthy", "kafka-init": "service_completed_successfully",
        "mlflow": "service_healthy"}
    job = services["jobmanager"]["environment"]
    for name in ("TREND_BOOTSTRAP_SERVERS", "TREND_TOPIC_WEIGHTS", "TREND_MLFLOW_TRACKING_URI",
                 "TREND_WEIGHTS_MODEL_NAME", "TREND_WEIGHTS_ALIAS",
                 "TREND_WEIGHTS_POLL_INTERVAL_S"):
        assert svc["environment"][name] == job[name], name
    assert "ports" not in svc


def test_the_weights_publish_command_exists():
    from typer.testing import CliRunner

    from registry.cli import app

    result = CliRunner().invoke(app, ["publish", "--help"])
    assert result.exit_code == 0
    for option in ("--follow", "--metrics-port"):
        assert option in result.output


def test_kafka_init_creates_the_compacted_weights_topic(services):
    svc = services["kafka-init"]
    assert svc["environment"]["TREND_TOPIC_WEIGHTS"] == "trend-weights"
    script = " ".join(svc["command"][0].replace("\\\n", " ").split())
    assert ('--create --if-not-exists --topic "$TREND_TOPIC_WEIGHTS" --partitions 1 '
            '--replication-factor 1 --config cleanup.policy=compact') in script


def test_kafka_init_creates_the_event_topics_with_the_configs_of_trend_topics_create(
        services):
    """The same topic configs as `trend topics create`: the broker's append time above all,
    which the job judges each event against."""
    from simulator.kafka_io import topic_config
    from trend_tracker.settings import Settings

    script = " ".join(services["kafka-init"]["command"][0].replace("\\\n", " ").split())
    # (retention.ms is computed by the shell from the hours; the regex stops at its space)
    configs = dict(re.findall(r"--config ([a-z.]+)=(\S+)", script.split("done")[0]))
    expected = topic_config(Settings(_env_file=None))
    assert configs == {**expected, "retention.ms": '"$((TREND_TOPIC_RETENTION_HOURS'}
    assert configs["message.timestamp.type"] == "LogAppendTime"


def test_flink_image_builds_the_jar_the_job_is_told_about(services):
    from trend_tracker.jars import JAR_NAME

    dockerfile = (ROOT / "deploy/flink/Dockerfile").read_text()
    jar = services["jobmanager"]["environment"]["TREND_UDF_JAR"]
    assert Path(jar).name == JAR_NAME
    # Built by Maven in its own stage, as `make jar` builds it, copied to the path the job
    # is given.
    assert re.search(r"^ARG MAVEN_IMAGE=maven:3\.9-eclipse-temurin-17$", dockerfile,
                     re.MULTILINE)
    assert re.search(r"^FROM \$\{MAVEN_IMAGE\} AS udf-build$", dockerfile, re.MULTILINE)
    assert "mvn -B -f udfs/java/pom.xml package -DskipTests" in dockerfile
    assert "javac" not in dockerfile and "curl" not in dockerfile
    assert f"COPY --from=udf-build /src/udfs/java/target/{JAR_NAME} \\\n    {jar}\n" \
        in dockerfile
    assert f"ENV TREND_UDF_JAR={jar}" in dockerfile
    assert 'test -s "$TREND_UDF_JAR"' in dockerfile
    # The Java module (sources and pom) is in the build context, its local build is not.
    ignored = read_ignore(ROOT / "deploy/flink/Dockerfile.dockerignore")
    assert not {"udfs", "udfs/java"} & ignored
    assert "udfs/java/target" in ignored
    # Every container of the job, the submitter included, names the same jar.
    for name in ("jobmanager", "taskmanager", "job-submit"):
        assert services[name]["environment"]["TREND_UDF_JAR"] == jar, name
    script = (ROOT / "deploy/flink/submit-job.sh").read_text()
    assert "TREND_UDF_JAR" in script
    assert script.index("trend weights publish") < script.index("exec trend job watch")


def test_flink_image_has_the_jars_the_java_module_ships_with():
    """The Kafka connector (its Kafka client relocated inside it) goes into Flink's lib/,
    from the Maven build; no lib/ beside the module's jar, so the job does not ship it
    twice."""
    dockerfile = (ROOT / "deploy/flink/Dockerfile").read_text()
    pom = (ROOT / "udfs/java/pom.xml").read_text()
    assert "<artifactId>flink-sql-connector-kafka</artifactId>" in pom
    assert "<artifactId>kafka-clients</artifactId>" not in pom
    assert "COPY --from=udf-build --chown=flink:flink /src/udfs/java/target/lib/ " \
           "/opt/flink/lib/" in dockerfile
    assert "ls /opt/flink/lib/flink-sql-connector-kafka-*.jar;" in dockerfile
    assert 'test ! -e "$(dirname "$TREND_UDF_JAR")/lib"' in dockerfile


def flink_properties(svc: dict) -> dict[str, str]:
    """The ``key: value`` lines the Flink image's entrypoint turns into config options."""
    props = {}
    for line in svc["environment"]["FLINK_PROPERTIES"].splitlines():
        if line.strip():
            key, sep, value = line.partition(":")
            assert sep, line
            props[key.strip()] = value.strip()
    return props


def test_flink_configuration(services):
    jm, tm = flink_properties(services["jobmanager"]), flink_properties(services["taskmanager"])
    assert jm == tm, "JobManager and TaskManagers must share one configuration"
    assert jm["metrics.reporter.prom.factory.class"] == (
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory")
    assert jm["metrics.reporter.prom.port"] == "9249"
    assert jm["execution.checkpointing.dir"] == "s3://trends/checkpoints"
    assert jm["execution.checkpointing.savepoint-dir"] == "s3://trends/savepoints"
    # The watcher leaves a stopped job alone only while the JobManager lists it.
    assert jm["jobstore.expiration-time"] == str(30 * 24 * 3600)
    assert jm["parallelism.default"] == "2"
    assert jm["s3.endpoint"] == "http://minio:9000"
    env = services["jobmanager"]["environment"]
    assert env["ENABLE_BUILT_IN_PLUGINS"] == "flink-s3-fs-presto-2.2.1.jar"
    assert env["AWS_ACCESS_KEY_ID"] == env["TREND_S3_ACCESS_KEY"]
    assert not any("key" in k and "s3" in k for k in jm), "S3 keys belong in the environment"
    # The entrypoint strips every blank from a line, so a value must not need one.
    assert all(" " not in value for value in jm.values())


def test_mlflow_keeps_artifacts_on_minio(services):
    svc = services["mlflow"]
    assert svc["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    script = svc["command"][0]
    assert '--artifacts-destination "s3://${MLFLOW_BUCKET}/artifacts"' in script
    assert "postgresql://mlflow:${MLFLOW_DB_PASSWORD}@mlflow-db:5432/mlflow" in script


def redis_server_argv(script: str) -> list[str]:
    """The words of the ``exec redis-server ...`` line of the Redis container's script."""
    joined = script.replace("\\\n", " ")
    line = next(line for line in joined.splitlines()
                if line.strip().startswith("exec redis-server"))
    return shlex.split(line)[1:]


def test_redis_persists_with_an_append_only_file(services):
    argv = redis_server_argv(services["redis"]["command"][0])
    assert argv[argv.index("--appendonly") + 1] == "yes"
    assert argv[argv.index("--appendfsync") + 1] == "everysec"
    assert any(v.startswith("redis-data:") for v in services["redis"]["volumes"])


# --- Redis: passwords in files, the API's read-only user -----------------------------------

#: The made-up passwords filled_env() gives, and what each one is.
REDIS_PASSWORDS = {"REDIS_PASSWORD": "test-redis-password",
                   "REDIS_API_PASSWORD": "test-redis-api-password"}


def test_no_redis_password_is_on_a_command_line_or_in_the_environment(raw, services):
    """ps and docker inspect show the command, the health check and the environment: the
    server reads its passwords from files (compose secrets) instead."""
    svc = services["redis"]
    shown = json.dumps([svc.get("entrypoint"), svc.get("command"), svc["healthcheck"],
                        svc.get("environment")])
    for password in REDIS_PASSWORDS.values():
        assert password not in shown
    raw_redis = json.dumps(raw["services"]["redis"])
    assert not variables_used(raw_redis) & set(REDIS_PASSWORDS)
    assert "requirepass" not in raw_redis
    # The passwords reach the container as the files the script and the health check read.
    assert svc["secrets"] == ["redis-password", "redis-api-password"]
    assert {name: secret["environment"] for name, secret in raw["secrets"].items()} == {
        "redis-password": "REDIS_PASSWORD", "redis-api-password": "REDIS_API_PASSWORD"}
    assert svc["environment"]["REDIS_CREDENTIALS_DIR"] == "/run/secrets"
    script = svc["command"][0]
    assert '$(cat "$REDIS_CREDENTIALS_DIR/redis-password")' in script
    assert '$(cat "$REDIS_CREDENTIALS_DIR/redis-api-password")' in script
    assert svc["healthcheck"]["test"] == [
        "CMD-SHELL",
        'REDISCLI_AUTH="$(cat "$REDIS_CREDENTIALS_DIR/redis-password")" redis-cli ping '
        "| grep -q PONG"]
    # The ACL file: written readable by its owner only, the server started on it.
    assert script.splitlines()[0] == "umask 077"
    argv = redis_server_argv(script)
    assert argv[argv.index("--aclfile") + 1] == "$acl"
    assert svc["user"] == "redis"


def test_the_api_reads_redis_as_its_own_user_and_the_job_as_default(services):
    from urllib.parse import urlsplit

    redis_env = services["redis"]["environment"]
    api_url = urlsplit(services["api"]["environment"]["TREND_REDIS_URL"])
    assert (api_url.username, api_url.password) == (
        redis_env["REDIS_API_USER"], REDIS_PASSWORDS["REDIS_API_PASSWORD"])
    assert redis_env["REDIS_API_USER"] == "trend-api"
    for name in ("jobmanager", "taskmanager", "job-submit"):
        job_url = urlsplit(services[name]["environment"]["TREND_REDIS_URL"])
        assert (job_url.username, job_url.password) == ("", REDIS_PASSWORDS["REDIS_PASSWORD"])
    # The API's user may run the commands the API sends, on the production namespace only.
    from trend_tracker.redis_layout import PREFIX

    rules = redis_env["REDIS_API_ACL"].split()
    assert rules == ["resetchannels", f"~{PREFIX}:*", "-@all", "+get", "+exists", "+zrange",
                     "+select", "+client|setinfo"]


def test_the_api_gets_no_object_storage_credentials(services):
    """The API reads Redis alone: no S3 keys, no MinIO account, no AWS variables."""
    env = services["api"]["environment"]
    assert not {k for k in env if "S3" in k or k.startswith(("AWS_", "MINIO_", "MLFLOW_"))}
    secrets = {"test-trend-s3-access-key", "test-trend-s3-secret-key",
               "test-mlflow-s3-access-key", "test-mlflow-s3-secret-key",
               "test-minio-root-user", "test-minio-root-password"}
    assert not {str(v) for v in env.values()} & secrets
    assert "secrets" not in services["api"] and "env_file" not in services["api"]


def test_the_api_code_touches_no_object_storage():
    """Why the API needs no S3 user: nothing in api/ imports an object-storage client."""
    imports = set()
    for path in (ROOT / "api").glob("*.py"):
        imports |= set(re.findall(r"^\s*(?:from|import) ([\w.]+)", path.read_text(),
                                  re.MULTILINE))
    storage = {name for name in imports
               if name.split(".")[0] in ("boto3", "botocore", "minio", "s3fs", "pyarrow",
                                         "fsspec")}
    assert storage == set()
    assert "redis.asyncio" in imports


def test_the_submitter_keeps_the_job_running_after_a_jobmanager_restart(services):
    """A session cluster without HA forgets its jobs when the JobManager restarts: the
    submitter stays up and submits the job again (the watcher's rule is unit-tested in
    test_submit.py, the whole run in tests/cluster/test_cluster_faults.py)."""
    script = (ROOT / "deploy/flink/submit-job.sh").read_text()
    assert script.rstrip().endswith('exec trend job watch --jobmanager "$JOBMANAGER_ADDRESS"')
    assert services["job-submit"]["restart"] == "unless-stopped"
    assert services["jobmanager"]["restart"] == "unless-stopped"


# --- object storage users and the job's secrets ----------------------------------------------

MC_STUB = """#!/bin/sh
# A stand-in for MinIO's client: logs each call and keeps users' policies in files.
echo "$*" >> "$MC_LOG"
case "$1 $2 $3" in
  "admin policy create") cp "$6" "$MC_STATE/policy-$5.json" ;;
  "admin policy attach") echo "$5" >> "$MC_STATE/user-$7" ;;
  "admin policy detach") grep -vx "$5" "$MC_STATE/user-$7" > "$MC_STATE/tmp" || true
                         mv "$MC_STATE/tmp" "$MC_STATE/user-$7" ;;
  "admin user info") touch "$MC_STATE/user-$5"
                     sed 's/^/PolicyName: /' "$MC_STATE/user-$5" ;;
esac
"""


@pytest.fixture
def minio_init_run(services, tmp_path):
    """Run minio-init's script against the stand-in client, as a stack created by an older
    version left it (the job's user with `readwrite` on every bucket); return the calls,
    the policies created and each user's policies."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    stub = bin_dir / "mc"
    stub.write_text(MC_STUB)
    stub.chmod(0o755)
    svc = services["minio-init"]
    env = {**{k: str(v) for k, v in svc["environment"].items()},
           "PATH": f"{bin_dir}:/usr/bin:/bin", "MC_LOG": str(tmp_path / "calls"),
           "MC_STATE": str(state), "TMPDIR": str(tmp_path)}
    (state / f"user-{env['TREND_S3_ACCESS_KEY']}").write_text("readwrite\n")
    for _ in range(2):  # the script is idempotent: a second run changes nothing
        subprocess.run([shutil.which("sh"), "-euc", svc["command"][0]], env=env, check=True)
    policies = {p.name[len("policy-"):-len(".json")]: json.loads(p.read_text())
                for p in state.glob("policy-*.json")}
    users = {p.name[len("user-"):]: p.read_text().split() for p in state.glob("user-*")}
    return (tmp_path / "calls").read_text().splitlines(), policies, users, env


def _resources(policy: dict) -> set[str]:
    return {r for s in policy["Statement"] for r in s["Resource"]}


def test_minio_init_gives_each_user_its_own_bucket_only(minio_init_run):
    calls, policies, users, env = minio_init_run
    job_bucket, mlflow_bucket = env["TREND_S3_BUCKET"], env["MLFLOW_BUCKET"]
    assert job_bucket != mlflow_bucket
    assert set(policies) == {"trend-job", "trend-mlflow"}
    assert _resources(policies["trend-job"]) == {
        f"arn:aws:s3:::{job_bucket}", f"arn:aws:s3:::{job_bucket}/*"}
    assert _resources(policies["trend-mlflow"]) == {
        f"arn:aws:s3:::{mlflow_bucket}", f"arn:aws:s3:::{mlflow_bucket}/*"}
    for policy in policies.values():
        assert policy["Version"] == "2012-10-17"
        actions = {a for s in policy["Statement"] for a in s["Action"]}
        assert {s["Effect"] for s in policy["Statement"]} == {"Allow"}
        assert actions <= {"s3:GetBucketLocation", "s3:ListBucket",
                           "s3:ListBucketMultipartUploads", "s3:GetObject", "s3:PutObject",
                           "s3:DeleteObject", "s3:AbortMultipartUpload",
                           "s3:ListMultipartUploadParts"}, "object access, nothing else"
    # Each user ends with exactly its own policy: the job's lost the old readwrite.
    assert users[env["TREND_S3_ACCESS_KEY"]] == ["trend-job"]
    assert users[env["MLFLOW_S3_ACCESS_KEY"]] == ["trend-mlflow"]
    assert env["TREND_S3_ACCESS_KEY"] != env["MLFLOW_S3_ACCESS_KEY"]
    assert not [c for c in calls if c.startswith("admin policy attach stack readwrite")]
    assert "admin policy detach stack readwrite --user " + env["TREND_S3_ACCESS_KEY"] in calls


def test_mlflow_uses_its_own_object_storage_user(services):
    mlflow = services["mlflow"]["environment"]
    assert mlflow["AWS_ACCESS_KEY_ID"] == "test-mlflow-s3-access-key"
    assert mlflow["AWS_SECRET_ACCESS_KEY"] == "test-mlflow-s3-secret-key"
    for name, svc in services.items():
        if name in ("mlflow", "minio-init"):
            continue
        values = {str(v) for v in svc.get("environment", {}).values()}
        assert not values & {"test-mlflow-s3-access-key", "test-mlflow-s3-secret-key"}, name
    assert "test-trend-s3-secret-key" not in set(mlflow.values())


@pytest.mark.parametrize("service", ["jobmanager", "taskmanager"])
def test_the_job_containers_get_the_secrets_their_workers_read(services, service):
    """The job graph holds no secret: the workers read these from their environment."""
    from udfs.settings_transport import SECRET_VARIABLES

    env = services[service]["environment"]
    for variable in SECRET_VARIABLES.values():
        assert env.get(variable), variable
    assert env["TREND_S3_SECRET_KEY"] == "test-trend-s3-secret-key"
    assert "test-redis-password" in env["TREND_REDIS_URL"]


# --- the ingest service and the Kafka UI -----------------------------------------------------


def test_ingest_service_writes_the_topics_the_job_reads(services):
    """The app image's `trend ingest`, on the job's topics, with the job's future skew (the
    same contract, the same verdicts), healthy only when Kafka lists the topics."""
    svc = services["ingest"]
    assert svc["image"] == services["api"]["image"] and svc["build"] == services["api"]["build"]
    assert svc["command"] == ["ingest"]
    assert svc["restart"] == "unless-stopped"
    env = svc["environment"]
    job = services["jobmanager"]["environment"]
    for name in ("TREND_BOOTSTRAP_SERVERS", "TREND_TOPIC_CLICKS", "TREND_TOPIC_CARTS",
                 "TREND_TOPIC_PURCHASES", "TREND_MAX_FUTURE_SKEW_S"):
        assert env[name] == job[name], name
    assert {name: spec["condition"] for name, spec in svc["depends_on"].items()} == {
        "kafka": "service_healthy", "kafka-init": "service_completed_successfully"}
    port = int(env["TREND_INGEST_PORT"])
    assert [(ip, container) for ip, _, container in _published(svc)] == [("127.0.0.1", port)]
    assert svc["healthcheck"]["test"] == ["CMD", "http-health", f"http://localhost:{port}/ready"]


def test_only_the_ingest_service_gets_the_api_keys_and_they_are_usable(services):
    """The keys from .env reach the ingest service alone, as a list it can start with."""
    from api.ingest_auth import ApiKeyStore, key_digest

    env = services["ingest"]["environment"]
    store = ApiKeyStore.from_settings(env["TREND_INGEST_API_KEYS"], None)
    assert [(key.name, key.digest) for key in store.keys] == [
        (f"key-{key_digest('test-trend-ingest-api-keys').hex()[:8]}",
         key_digest("test-trend-ingest-api-keys"))]
    for name, svc in services.items():
        values = {str(v) for v in svc.get("environment", {}).values()}
        if name != "ingest":
            assert "test-trend-ingest-api-keys" not in values, name


def test_the_ingest_command_and_routes_exist():
    from typer.testing import CliRunner

    from api.ingest import router
    from trend_tracker.cli import app

    result = CliRunner().invoke(app, ["ingest", "--help"])
    assert result.exit_code == 0
    paths = {(route.path, method) for route in router.routes for method in route.methods}
    assert {("/events", "POST"), ("/health", "GET"), ("/ready", "GET"),
            ("/metrics", "GET")} <= paths


def test_the_app_image_exposes_the_ingest_port(services):
    dockerfile = (ROOT / "deploy/api/Dockerfile").read_text()
    exposed = re.search(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE)[1].split()
    assert str(services["ingest"]["environment"]["TREND_INGEST_PORT"]) in exposed


def test_kafka_ui_is_a_maintained_pinned_image_on_loopback_pointed_at_kafka(services):
    svc = services["kafka-ui"]
    image = svc["image"]
    # provectuslabs/kafka-ui is unmaintained; Kafbat UI is its maintained fork.
    assert image.split(":")[0] in ("kafbat/kafka-ui", "ghcr.io/kafbat/kafka-ui")
    assert re.fullmatch(r"v\d+\.\d+\.\d+", _image_tag(image)), image
    assert svc["profiles"] == ["ui"]
    published = _published(svc)
    assert [(ip, container) for ip, _, container in published] == [("127.0.0.1", 8080)]
    assert svc["healthcheck"]["test"][-1] == "http://localhost:8080/actuator/health"
    env = svc["environment"]
    # The compose network's Kafka listener, the one every other container uses.
    internal = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")[0]
    assert internal == f"INTERNAL://{env['KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS']}"
    assert env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == services["ingest"]["environment"][
        "TREND_BOOTSTRAP_SERVERS"]
    # No login here: browsing only, and no clusters added through the UI.
    assert env["KAFKA_CLUSTERS_0_READONLY"] == "true"
    assert env["DYNAMIC_CONFIG_ENABLED"] == "false"
    assert svc["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def test_operations_doc_shows_the_ui_profile_and_the_ingest_service():
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    assert "docker compose --profile ui up -d kafka-ui" in text
    assert "KAFKA_UI_HOST_PORT" in text
    assert "INGEST_HOST_PORT" in text


def test_the_api_and_ingest_send_traces_to_the_collector_only_when_asked(services):
    """Off by default (OTEL_TRACES_EXPORTER none); on, to the collector of the profile
    tracing, which sends them to Jaeger."""
    for service, name in (("api", "trend-api"), ("ingest", "trend-ingest")):
        env = services[service]["environment"]
        assert env["OTEL_TRACES_EXPORTER"] == "none"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert env["OTEL_SERVICE_NAME"] == name
        # The collector is optional: nothing waits for it.
        assert "otel-collector" not in services[service].get("depends_on", {})
    collector = services["otel-collector"]
    config_file = next(v.split(":")[0] for v in collector["volumes"])
    config = yaml.safe_load((ROOT / config_file).read_text())
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp/jaeger"]
    assert collector["depends_on"] == {"jaeger": {"condition": "service_healthy"}}
