"""Static checks of the Kubernetes manifests in deploy/k8s (no cluster needed).

Built-in kinds are validated, strictly (unknown fields fail), against the Kubernetes
OpenAPI schemas shipped by the ``kubernetes-validate`` package. The operator's
FlinkDeployment has no schema on PyPI, so its required fields are checked here, together
with what ties the manifests to each other and to the project: probe paths, Secret and
ConfigMap references, settings names, the image's jars.
"""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from trend_tracker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
NAMESPACE = "trend-tracker"
#: Oldest Kubernetes release the manifests are meant for.
KUBERNETES_VERSION = "1.30.0"


#: The Secret's shape, for operators to fill in; never applied by the kustomization.
SECRET_EXAMPLE = K8S_DIR / "secret.example.yaml"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"


def kustomization() -> dict:
    return yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())


def load_manifests() -> list[dict]:
    """Every resource ``kubectl apply -k deploy/k8s`` applies."""
    docs = []
    for name in kustomization()["resources"]:
        docs.extend(doc for doc in yaml.safe_load_all((K8S_DIR / name).read_text()) if doc)
    return docs


MANIFESTS = load_manifests()
SECRET = yaml.safe_load(SECRET_EXAMPLE.read_text())


def find(kind: str, name: str | None = None) -> dict:
    matches = [d for d in MANIFESTS
               if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def pod_containers(doc: dict) -> list[dict]:
    if doc["kind"] == "FlinkDeployment":
        return doc["spec"]["podTemplate"]["spec"]["containers"]
    return doc["spec"]["template"]["spec"]["containers"]


def test_expected_resources_exist():
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in MANIFESTS)
    assert kinds == [
        ("ConfigMap", "trend-tracker-settings"),
        ("Deployment", "trend-api"),
        ("Deployment", "trend-ingest"),
        ("Deployment", "trend-weights-publisher"),
        ("FlinkDeployment", "trend-tracker"),
        ("Namespace", NAMESPACE),
        ("NetworkPolicy", "trend-tracker-jobmanager"),
        ("Service", "redis"),
        ("Service", "trend-api"),
        ("Service", "trend-ingest"),
        ("StatefulSet", "redis"),
    ]


def test_kustomization_lists_every_manifest_but_the_examples():
    files = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    examples = {name for name in files if name.endswith(".example.yaml")}
    assert examples == {SECRET_EXAMPLE.name}
    assert sorted(kustomization()["resources"]) == sorted(files - examples)
    assert kustomization()["namespace"] == NAMESPACE


def test_applying_the_kustomization_never_overwrites_the_real_secret():
    """A placeholder Secret in the kustomization would replace the real one on every
    `kubectl apply -k`: the Secret ships as an example only, created out of band."""
    assert not [d for d in MANIFESTS if d["kind"] == "Secret"]
    assert not any("secretGenerator" in key or "secrets" in key for key in kustomization())


def test_operations_doc_creates_the_secret_with_every_key_of_the_example():
    text = OPERATIONS.read_text()
    command = re.search(r"kubectl -n trend-tracker create secret generic "
                        r"trend-tracker-secrets(?:[^\n]*\\\n)*[^\n]*", text)
    assert command, "docs/OPERATIONS.md shows the kubectl create secret command"
    keys = set(re.findall(r"--from-literal=(\w+)=", command[0]))
    assert keys == set(SECRET["stringData"])
    assert SECRET_EXAMPLE.name in text


def test_namespaced_resources_are_in_the_project_namespace():
    for doc in MANIFESTS:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "trend-tracker"


@pytest.mark.parametrize(
    "doc", [d for d in MANIFESTS if d["kind"] != "FlinkDeployment"] + [SECRET],
    ids=lambda d: f"{d['kind']}-{d['metadata']['name']}")
def test_builtin_kinds_match_the_kubernetes_schema(doc):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_is_strict():
    broken = yaml.safe_load(yaml.safe_dump(find("Deployment", "trend-api")))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_image_is_pinned():
    for doc in MANIFESTS:
        if doc["kind"] == "FlinkDeployment":
            images = [doc["spec"]["image"]]
        elif doc["kind"] in ("Deployment", "StatefulSet"):
            images = [c["image"] for c in pod_containers(doc)]
        else:
            continue
        for image in images:
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert tag and tag != "latest" and re.search(r"\d", tag), image


# --- the job ------------------------------------------------------------------------------


def test_flink_deployment_runs_the_pyflink_job_in_application_mode():
    spec = find("FlinkDeployment")["spec"]
    assert find("FlinkDeployment")["apiVersion"] == "flink.apache.org/v1beta1"
    assert spec["flinkVersion"] == "v2_1"
    assert spec["serviceAccount"]
    job = spec["job"]
    # Application mode: the deployment carries its job; the Python driver runs it.
    assert job["jarURI"] == "local:///opt/flink/opt/flink-python-2.2.1.jar"
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    args = job["args"]
    assert args[0] == "-pym"
    module = args[1]
    module_file = ROOT / Path(*module.split("."))
    assert module_file.with_suffix(".py").is_file() or (module_file / "__main__.py").is_file(), (
        f"job module {module} not found in the repository")
    assert job["upgradeMode"] == "savepoint"
    assert job["state"] == "running"
    assert job["parallelism"] >= 1
    for part in ("jobManager", "taskManager"):
        resource = spec[part]["resource"]
        assert resource["cpu"] and re.fullmatch(r"\d+[mg]", resource["memory"]), part


def test_flink_deployment_checkpoints_to_s3_with_kubernetes_ha():
    conf = find("FlinkDeployment")["spec"]["flinkConfiguration"]
    assert all(isinstance(v, str) for v in conf.values()), "flinkConfiguration values are strings"
    assert conf["execution.checkpointing.dir"].startswith("s3://")
    assert conf["execution.checkpointing.savepoint-dir"].startswith("s3://")
    assert conf["high-availability.type"] == "kubernetes"
    assert conf["high-availability.storageDir"].startswith("s3://")
    assert conf["metrics.reporter.prom.factory.class"] == (
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory")
    assert conf["metrics.reporter.prom.port"] == "9249"
    assert not any("secret" in key or "access-key" in key for key in conf), (
        "S3 keys come from the Secret through the environment, not the configuration")


def test_flink_image_provides_what_the_deployment_names():
    """Jar paths named by the deployment are the ones the image build asserts exist."""
    dockerfile = (ROOT / "deploy/flink/Dockerfile").read_text()
    spec = find("FlinkDeployment")["spec"]
    assert 'test -f "/opt/flink/opt/flink-python-${FLINK_VERSION}.jar"' in dockerfile
    assert "ARG FLINK_VERSION=2.2.1" in dockerfile
    assert "ARG FLINK_IMAGE=flink:2.2.1-java17" in dockerfile
    container = pod_containers(find("FlinkDeployment"))[0]
    assert container["name"] == "flink-main-container"
    env = {e["name"]: e for e in container["env"]}
    assert env["ENABLE_BUILT_IN_PLUGINS"]["value"] == "flink-s3-fs-presto-2.2.1.jar"
    assert 'test -f "/opt/flink/opt/flink-s3-fs-presto-${FLINK_VERSION}.jar"' in dockerfile
    assert spec["image"].split(":")[0] == "trend-tracker-flink"
    # The job's Java module: the jar the image builds, named as the image names it.
    from trend_tracker.jars import JAR_NAME

    jar = env["TREND_UDF_JAR"]["value"]
    assert Path(jar).name == JAR_NAME
    assert f"ENV TREND_UDF_JAR={jar}" in dockerfile
    assert f"/src/udfs/java/target/{JAR_NAME} \\\n    {jar}\n" in dockerfile


# --- the API ------------------------------------------------------------------------------


def test_api_probes_health_and_readiness_on_its_port():
    deployment = find("Deployment", "trend-api")
    container = pod_containers(deployment)[0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    settings = find("ConfigMap")["data"]
    assert ports["http"] == int(settings["TREND_API_PORT"])
    assert settings["TREND_API_HOST"] == "0.0.0.0"


def test_api_routes_named_by_the_probes_exist():
    routes = (ROOT / "api" / "routes.py").read_text()
    for path in ("/health", "/ready", "/metrics"):
        assert f'@router.get("{path}"' in routes, path


# --- the ingest service ---------------------------------------------------------------------


def test_ingest_probes_health_and_readiness_and_serves_metrics_on_its_port():
    deployment = find("Deployment", "trend-ingest")
    container = pod_containers(deployment)[0]
    assert container["args"] == ["ingest"]
    assert container["image"] == pod_containers(find("Deployment", "trend-api"))[0]["image"], (
        "the app image has the project")
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    settings = find("ConfigMap")["data"]
    assert ports == {"http": int(settings["TREND_INGEST_PORT"])}
    assert settings["TREND_INGEST_HOST"] == "0.0.0.0"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == settings["TREND_INGEST_PORT"]
    assert annotations["prometheus.io/path"] == "/metrics"
    # Kafka and the topics come from the ConfigMap the job reads: the same topics, the same
    # future skew (the same verdicts as the job's decoder).
    assert container["envFrom"] == [{"configMapRef": {"name": "trend-tracker-settings"}}]
    # Its secrets: its Kafka user's password (with a SASL protocol only) and its API keys
    # (a file: test_ingest_reads_its_api_keys_from_the_secret_as_a_file_that_can_rotate).
    assert [var["name"] for var in container["env"]] == [
        "TREND_INGEST_API_KEYS_FILE", "TREND_KAFKA_SASL_USERNAME", "TREND_KAFKA_SASL_PASSWORD"]
    assert container["env"][1:] == [
        {"name": "TREND_KAFKA_SASL_USERNAME", "value": "trend-ingest"},
        {"name": "TREND_KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {
            "name": "trend-tracker-secrets", "key": "KAFKA_INGEST_PASSWORD",
            "optional": True}}},
    ]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_ingest_reads_its_api_keys_from_the_secret_as_a_file_that_can_rotate():
    """The keys file is the Secret's INGEST_API_KEYS, mounted without subPath (the kubelet
    updates only such mounts when the Secret changes), readable by the pod's user alone
    among non-root users; the service is told where it is, and gets no key any other way."""
    deployment = find("Deployment", "trend-ingest")
    pod = deployment["spec"]["template"]["spec"]
    container = pod_containers(deployment)[0]
    assert container["env"][0] == {"name": "TREND_INGEST_API_KEYS_FILE",
                                   "value": "/etc/trend-ingest/api-keys"}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["api-keys"]["projected"] == {
        "defaultMode": 0o440,
        "sources": [{"secret": {"name": SECRET["metadata"]["name"],
                                "items": [{"key": "INGEST_API_KEYS", "path": "api-keys"}]}}]}
    assert "INGEST_API_KEYS" in SECRET["stringData"]
    mounts = [m for m in container["volumeMounts"] if m["name"] == "api-keys"]
    assert mounts == [{"name": "api-keys", "mountPath": "/etc/trend-ingest",
                       "readOnly": True}]
    assert f"{mounts[0]['mountPath']}/api-keys" == container["env"][0]["value"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    # No other workload mounts the keys or reads them from the Secret.
    for doc in MANIFESTS:
        if doc["kind"] not in ("Deployment", "StatefulSet", "FlinkDeployment") or doc is deployment:
            continue
        spec = (doc["spec"]["podTemplate"] if doc["kind"] == "FlinkDeployment"
                else doc["spec"]["template"])["spec"]
        assert "INGEST_API_KEYS" not in str(spec), doc["metadata"]["name"]
    settings = find("ConfigMap")["data"]
    assert (settings["TREND_INGEST_RATE_LIMIT_EVENTS_PER_S"], settings["TREND_INGEST_RATE_BURST"]) \
        == ("2000", "10000")


def test_ingest_routes_named_by_the_probes_exist():
    from api.ingest import router

    paths = {route.path for route in router.routes}
    assert {"/events", "/health", "/ready", "/metrics"} <= paths


# --- the weights publisher ------------------------------------------------------------------


def test_weights_publisher_follows_the_registry_and_serves_metrics():
    deployment = find("Deployment", "trend-weights-publisher")
    spec = deployment["spec"]
    # One publisher; a rollout never runs two side by side.
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    container = pod_containers(deployment)[0]
    assert container["image"] == pod_containers(find("Deployment", "trend-api"))[0]["image"], (
        "the app image has the project")
    args = container["args"]
    assert args[:3] == ["weights", "publish", "--follow"]
    port = int(args[args.index("--metrics-port") + 1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": port}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    assert [s["configMapRef"]["name"] for s in container["envFrom"]] == [
        find("ConfigMap")["metadata"]["name"]]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_the_publisher_and_the_job_agree_on_topic_and_model():
    """Both read the same ConfigMap, which names the weights topic and the model."""
    data = find("ConfigMap")["data"]
    assert data["TREND_TOPIC_WEIGHTS"] == "trend-weights"
    assert data["TREND_WEIGHTS_MODEL_NAME"]
    for doc in (find("Deployment", "trend-weights-publisher"), find("FlinkDeployment")):
        container = pod_containers(doc)[0]
        assert container["envFrom"] == [{"configMapRef": {"name": "trend-tracker-settings"}}]
        overridden = {e["name"] for e in container.get("env", [])}
        assert not overridden & {"TREND_TOPIC_WEIGHTS", "TREND_WEIGHTS_MODEL_NAME",
                                 "TREND_BOOTSTRAP_SERVERS"}


def test_services_select_their_pods_and_ports():
    for service_name, workload_kind in (("trend-api", "Deployment"),
                                        ("trend-ingest", "Deployment"),
                                        ("redis", "StatefulSet")):
        service = find("Service", service_name)
        workload = find(workload_kind, service_name)
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
        port_names = {p["name"] for c in pod_containers(workload) for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


def test_redis_is_persistent():
    from tests.unit.test_compose import redis_server_argv

    redis = find("StatefulSet", "redis")
    assert redis["spec"]["serviceName"] == "redis"
    args = redis_server_argv(pod_containers(redis)[0]["command"][2])
    assert args[args.index("--appendonly") + 1] == "yes"
    claim = redis["spec"]["volumeClaimTemplates"][0]
    mounts = pod_containers(redis)[0]["volumeMounts"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in mounts


# --- configuration -------------------------------------------------------------------------


def test_every_container_and_the_job_s_jvms_log_json_lines():
    assert find("ConfigMap")["data"]["TREND_LOG_FORMAT"] == "json"
    spec = find("FlinkDeployment")["spec"]
    console = ROOT / "deploy" / "flink" / "log4j-console.properties"
    assert spec["logConfiguration"] == {"log4j-console.properties": console.read_text()}
    containers = spec["podTemplate"]["spec"]["containers"]
    assert containers[0]["envFrom"] == [{"configMapRef": {"name": "trend-tracker-settings"}}]


#: OpenTelemetry's own variables the ConfigMap may set (the API's and ingest's traces).
OTEL_VARIABLES = {"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"}


def test_config_map_names_only_settings_fields():
    fields = set(Settings.model_fields)
    data = find("ConfigMap")["data"]
    assert all(isinstance(v, str) for v in data.values())
    unknown = {k for k in data if k not in OTEL_VARIABLES and (
        not k.startswith("TREND_") or k[len("TREND_"):].lower() not in fields)}
    assert unknown == set()


def test_secret_example_holds_placeholders_only():
    assert SECRET["kind"] == "Secret"
    assert SECRET["metadata"]["namespace"] == NAMESPACE
    assert "data" not in SECRET, "no encoded values: placeholders in stringData only"
    for key, value in SECRET["stringData"].items():
        assert "REPLACE-ME" in value, key


def test_every_reference_resolves():
    secret_keys = set(SECRET["stringData"])
    config_name = find("ConfigMap")["metadata"]["name"]
    secret_name = SECRET["metadata"]["name"]
    for doc in MANIFESTS:
        if doc["kind"] not in ("Deployment", "StatefulSet", "FlinkDeployment"):
            continue
        for container in pod_containers(doc):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] == config_name
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == secret_name and ref["key"] in secret_keys, var
        pod = (doc["spec"]["podTemplate"] if doc["kind"] == "FlinkDeployment"
               else doc["spec"]["template"])["spec"]
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == secret_name, volume
                assert {item["key"] for item in volume["secret"]["items"]} <= secret_keys
            for source in volume.get("projected", {}).get("sources", []):
                if "secret" in source:
                    assert source["secret"]["name"] == secret_name, volume
                    assert {item["key"] for item in source["secret"]["items"]} <= secret_keys


@pytest.mark.parametrize("workload, name", [
    ("Deployment", "trend-api"),
    ("Deployment", "trend-ingest"),
    ("Deployment", "trend-weights-publisher"),
    ("FlinkDeployment", None),
])
def test_containers_get_valid_settings(workload, name):
    """ConfigMap plus Secret (placeholders) as a container sees them build valid Settings."""
    doc = find(workload, name)
    container = pod_containers(doc)[0]
    env = dict(find("ConfigMap")["data"])
    secrets = SECRET["stringData"]
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        env[var["name"]] = secrets[ref["key"]] if ref else var["value"]
    fields = set(Settings.model_fields)
    values = {k[len("TREND_"):].lower(): v for k, v in env.items() if k.startswith("TREND_")}
    assert set(values) <= fields
    settings = Settings(_env_file=None, **values)
    assert settings.redis_url.startswith("redis://")
    conf = find("FlinkDeployment")["spec"]
    assert settings.topic_weights == "trend-weights"
    if workload == "FlinkDeployment":
        assert settings.udf_jar is not None
        assert settings.checkpoint_dir == conf["flinkConfiguration"]["execution.checkpointing.dir"]
        # The operator's savepoints land where `trend job stop` puts them and where the
        # job's restore lookup reads: the consumer group's directory in the object store.
        from jobs.resume import job_savepoint_dir

        assert job_savepoint_dir(settings) == (
            conf["flinkConfiguration"]["execution.checkpointing.savepoint-dir"])
        assert settings.resolved_savepoint_dir == "s3://trends/savepoints"
        assert settings.parallelism == conf["job"]["parallelism"]
        assert settings.topic_partitions >= settings.parallelism, (
            "more source subtasks than partitions would sit idle")


# --- secrets and exposure ------------------------------------------------------------------


def test_the_job_pods_get_the_secrets_its_workers_read():
    """The job graph holds no secret: the Python workers on the TaskManagers read the Redis
    URL (with its password) and the S3 keys from their environment, from the Secret."""
    from udfs.settings_transport import SECRET_VARIABLES

    container = pod_containers(find("FlinkDeployment"))[0]
    refs = {var["name"]: var["valueFrom"]["secretKeyRef"]
            for var in container["env"] if "valueFrom" in var}
    for variable in SECRET_VARIABLES.values():
        assert refs[variable] == {"name": SECRET["metadata"]["name"], "key": variable}
    # The operator merges the pod template into the JobManager and the TaskManager pods.
    template = find("FlinkDeployment")["spec"]["podTemplate"]
    assert "taskManager" not in template and "jobManager" not in template
    assert not find("FlinkDeployment")["spec"]["taskManager"].get("podTemplate")


# --- Redis: passwords in files, the API's read-only user -----------------------------------


def redis_container() -> dict:
    return pod_containers(find("StatefulSet", "redis"))[0]


def test_no_redis_password_is_on_a_command_line_or_in_the_environment():
    """The pod spec, `ps` and the container's environment hold no password: the Secret's two
    Redis passwords are mounted as files, which the start script and the probes read."""
    container = redis_container()
    assert "args" not in container
    shown = yaml.safe_dump([container["command"], container["env"],
                            container["readinessProbe"], container["livenessProbe"]])
    assert "PASSWORD" not in shown and "requirepass" not in shown
    assert not [var for var in container["env"] if "valueFrom" in var]
    env = {var["name"]: var["value"] for var in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "passwords")
    assert mount == {"name": "passwords", "mountPath": env["REDIS_CREDENTIALS_DIR"],
                     "readOnly": True}
    volumes = find("StatefulSet", "redis")["spec"]["template"]["spec"]["volumes"]
    secret = next(v for v in volumes if v["name"] == "passwords")["secret"]
    assert secret == {"secretName": SECRET["metadata"]["name"], "defaultMode": 0o440,
                      "items": [{"key": "REDIS_PASSWORD", "path": "redis-password"},
                                {"key": "REDIS_API_PASSWORD", "path": "redis-api-password"}]}
    check = ["sh", "-c", 'REDISCLI_AUTH="$(cat "$REDIS_CREDENTIALS_DIR/redis-password")" '
                         "redis-cli ping | grep -q PONG"]
    assert container["readinessProbe"]["exec"]["command"] == check
    assert container["livenessProbe"]["exec"]["command"] == check


def test_redis_starts_as_in_compose_with_the_same_api_user():
    """One start script and one API user for both deployments: the Kubernetes container runs
    compose's script, with the same user name and ACL rules."""
    from tests.unit.test_compose import compose_file

    compose_redis = compose_file()["services"]["redis"]
    container = redis_container()
    assert container["command"] == [*compose_redis["entrypoint"], compose_redis["command"][0]]
    env = {var["name"]: var["value"] for var in container["env"]}
    for name in ("REDIS_API_USER", "REDIS_API_ACL"):
        assert env[name] == compose_redis["environment"][name], name
    assert set(env) == set(compose_redis["environment"])


def test_the_api_reads_redis_as_its_own_user():
    from urllib.parse import urlsplit

    container = pod_containers(find("Deployment", "trend-api"))[0]
    refs = {var["name"]: var["valueFrom"]["secretKeyRef"] for var in container["env"]}
    assert refs == {"TREND_REDIS_URL": {"name": SECRET["metadata"]["name"],
                                        "key": "API_REDIS_URL"}}
    env = {var["name"]: var["value"] for var in redis_container()["env"]}
    api_url = urlsplit(SECRET["stringData"]["API_REDIS_URL"])
    assert (api_url.username, api_url.hostname, api_url.path) == (
        env["REDIS_API_USER"], "redis", "/0")
    job_url = urlsplit(SECRET["stringData"]["TREND_REDIS_URL"])
    assert job_url.username == ""


def test_the_api_gets_no_object_storage_credentials():
    """The API reads Redis alone: no S3 key reaches its pod, from the Secret or the
    ConfigMap (which holds no credentials at all)."""
    container = pod_containers(find("Deployment", "trend-api"))[0]
    keys = {var["valueFrom"]["secretKeyRef"]["key"] for var in container["env"]}
    assert keys == {"API_REDIS_URL"}
    assert not [source for source in container["envFrom"] if "secretRef" in source]
    data = find("ConfigMap")["data"]
    assert not {k for k in data if "KEY" in k or "PASSWORD" in k or "SECRET" in k}


# --- the JobManager's network policy --------------------------------------------------------


def flink_port(key: str) -> int:
    return int(find("FlinkDeployment")["spec"]["flinkConfiguration"][key])


def test_only_the_operator_reaches_the_jobmanager_rest_api():
    """Ingress to the JobManager: REST from the operator's pods only, RPC and blob server from
    this deployment's TaskManagers, the metrics port from anywhere; nothing else."""
    policy = find("NetworkPolicy", "trend-tracker-jobmanager")["spec"]
    deployment = find("FlinkDeployment")["metadata"]["name"]
    # Flink labels the pods of a native Kubernetes deployment with app and component.
    assert policy["podSelector"] == {"matchLabels": {"app": deployment,
                                                     "component": "jobmanager"}}
    assert policy["policyTypes"] == ["Ingress"]
    admitted = {}
    for rule in policy["ingress"]:
        for port in rule["ports"]:  # every rule names its ports
            assert port["protocol"] == "TCP"
            admitted[port["port"]] = rule.get("from")
    operator = [{"namespaceSelector": {},
                 "podSelector": {"matchLabels": {
                     "app.kubernetes.io/name": "flink-kubernetes-operator"}}}]
    taskmanagers = [{"podSelector": {"matchLabels": {"app": deployment,
                                                     "component": "taskmanager"}}}]
    assert admitted == {
        flink_port("rest.port"): operator,
        flink_port("jobmanager.rpc.port"): taskmanagers,
        flink_port("blob.server.port"): taskmanagers,
        flink_port("metrics.reporter.prom.port"): None,
    }
    assert flink_port("rest.port") == 8081
    # With HA the RPC endpoint takes this port; the policy's RPC port must be it.
    assert flink_port("high-availability.jobmanager.port") == flink_port("jobmanager.rpc.port")


def test_nothing_is_exposed_outside_the_cluster():
    """No NodePort, LoadBalancer or Ingress; the Flink REST service stays ClusterIP."""
    assert not [d for d in MANIFESTS if d["kind"] in ("Ingress", "Gateway", "HTTPRoute")]
    for doc in MANIFESTS:
        if doc["kind"] == "Service":
            assert doc["spec"].get("type", "ClusterIP") == "ClusterIP", doc["metadata"]["name"]
            for port in doc["spec"]["ports"]:
                assert "nodePort" not in port
    conf = find("FlinkDeployment")["spec"]["flinkConfiguration"]
    assert conf["kubernetes.rest-service.exposed.type"] == "ClusterIP"
    for doc in MANIFESTS:
        if doc["kind"] in ("Deployment", "StatefulSet", "FlinkDeployment"):
            spec = (doc["spec"]["podTemplate"] if doc["kind"] == "FlinkDeployment"
                    else doc["spec"]["template"])["spec"]
            assert not spec.get("hostNetwork"), doc["metadata"]["name"]
            for container in spec["containers"]:
                for port in container.get("ports", []):
                    assert "hostPort" not in port, doc["metadata"]["name"]


def test_traces_are_off_until_the_configmap_turns_them_on():
    settings = find("ConfigMap")["data"]
    assert settings["OTEL_TRACES_EXPORTER"] == "none"
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://")
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")
