"""The API's request handling that needs no Redis: validation, errors, methods, CORS.

The app points at a loopback port where nothing listens, so any route that does reach
Redis meets a real refused connection.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from localstack.stack import free_port
from trend_tracker.settings import Settings


def settings(**overrides) -> Settings:
    values = {"redis_url": f"redis://127.0.0.1:{free_port()}/0", "top_n": 100,
              "redis_timeout_s": 0.5}
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(settings()), raise_server_exceptions=False) as test_client:
        yield test_client


def error_of(response) -> dict:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


def test_health_needs_no_redis(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_head_answers_like_get_without_a_body(client):
    response = client.head("/health")
    assert response.status_code == 200
    assert response.content == b""


#: The body of every invalid k with top_n = 100, whatever the value.
INVALID_K = {"error": {"code": "invalid_parameter",
                       "message": "k: must be an integer from 1 to 100 (the job's top_n)"}}


@pytest.mark.parametrize("k", ["101", "100000", "0", "-1", "abc", "1.5", "", "%20",
                               "10001", "99999999999999999999999"])
def test_every_invalid_k_gets_the_same_error(client, k):
    response = client.get(f"/trending?k={k}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json() == INVALID_K


def test_an_invalid_k_is_named_once_beside_other_invalid_parameters(client):
    response = client.get("/trending?k=abc&category=a%20b")
    assert response.status_code == 422
    message = error_of(response)["message"]
    assert message.startswith(INVALID_K["error"]["message"] + "; category: ")
    assert message.count("k: ") == 1


def test_the_k_range_follows_the_deployments_top_n():
    with TestClient(create_app(settings(top_n=20))) as test_client:
        for k in ("21", "0", "abc"):
            assert test_client.get(f"/trending?k={k}").json() == {"error": {
                "code": "invalid_parameter",
                "message": "k: must be an integer from 1 to 20 (the job's top_n)"}}


@pytest.mark.parametrize("query, fragment", [
    ("category=", "category: String should match pattern"),
    ("category=a%20b", "category: String should match pattern"),
    ("category=a%2Fb", "category: String should match pattern"),
    ("category=" + "c" * 65, "category: String should match pattern"),
    ("category=%0A", "category: String should match pattern"),
    ("ranking=falling", "ranking: Input should be 'popular' or 'rising'"),
    ("ranking=Rising", "ranking: Input should be 'popular' or 'rising'"),
    ("ranking=", "ranking: Input should be 'popular' or 'rising'"),
])
def test_invalid_trending_parameters_are_422(client, query, fragment):
    response = client.get(f"/trending?{query}")
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_parameter"
    assert fragment in error["message"]


@pytest.mark.parametrize("path", [
    "/products/" + "p" * 65 + "/trend",
    "/products/a%20b/trend",
    "/products/a%0A/trend",
    "/products/p1/trend?windows=0",
    "/products/p1/trend?windows=1001",
    "/products/p1/trend?windows=x",
    "/products/p1/trend?category=a%20b",
    "/products/p1/trend?category=",
    "/products/p1/trend?category=" + "c" * 65,
])
def test_invalid_product_trend_parameters_are_422(client, path):
    response = client.get(path)
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_parameter"


def test_unknown_query_parameters_are_rejected_with_the_allowed_ones(client):
    response = client.get("/trending?k=5&categroy=books")
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "unknown_parameter",
        "message": "unknown query parameter(s): categroy (allowed: category, k, ranking)"}
    response = client.get("/health?verbose=1")
    assert error_of(response) == {
        "code": "unknown_parameter",
        "message": "unknown query parameter(s): verbose (allowed: none)"}


def test_product_trend_names_its_parameters_when_one_is_unknown(client):
    response = client.get("/products/p1/trend?categroy=books")
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "unknown_parameter",
        "message": "unknown query parameter(s): categroy (allowed: category, ranking, windows)"}


def test_a_parameter_given_twice_is_rejected(client):
    response = client.get("/trending?k=1&k=2")
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "invalid_parameter", "message": "each query parameter may be given once"}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/trending", "/products/p1/trend", "/categories", "/health"])
def test_the_api_is_read_only(client, method, path):
    response = client.request(method, path)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET"


def test_unknown_path_is_a_json_404(client):
    response = client.get("/nothing/here")
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "Not Found"}


@pytest.mark.parametrize("path", ["/trending", "/trending?category=books", "/categories",
                                  "/products/p1/trend", "/ready"])
def test_unreachable_redis_is_a_503_to_retry(client, path):
    response = client.get(path)
    assert response.status_code == 503
    assert error_of(response) == {"code": "redis_unavailable",
                                  "message": "the ranking store is unavailable; retry"}
    assert response.headers["retry-after"] == "1"


def test_metrics_are_served_and_count_redis_errors(client):
    client.get("/trending")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'trend_api_redis_errors_total{kind="ConnectionError"}' in text
    assert 'trend_api_requests_total{method="GET",route="/trending",status="503"}' in text
    assert 'trend_api_request_duration_seconds_bucket{le="0.005",route="/trending"}' in text


@pytest.mark.parametrize("service, prefix", [("client", "trend_api"),
                                             ("ingest_client", "trend_ingest")])
def test_made_up_http_methods_share_one_metric_label(service, prefix, request):
    http = request.getfixturevalue(service)
    for number in range(50):
        assert http.request(f"MADEUP{number}", "/health").status_code == 405
    text = http.get("/metrics").text
    others = re.findall(prefix + r'_requests_total\{method="other",route="([^"]+)",'
                        r'status="(\d+)"\} (\S+)', text)
    assert others == [("/health", "405", "50.0")]
    assert not re.search(r'method="MADEUP', text)


def test_an_unexpected_error_is_a_json_500_without_details():
    app = create_app(settings())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")
    assert response.status_code == 500
    assert error_of(response) == {"code": "internal_error", "message": "internal error"}
    assert "secret" not in response.text and "Traceback" not in response.text


def test_cors_is_off_by_default(client):
    response = client.get("/health", headers={"Origin": "https://shop.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_applies_to_trending_answers_too():
    """``/trending``, which sends pre-rendered bytes, still gets CORS headers."""
    app = create_app(settings(api_cors_origins=["https://shop.example"]))
    with TestClient(app) as test_client:
        response = test_client.get("/trending?k=3", headers={"Origin": "https://shop.example"})
    assert response.status_code == 503  # nothing listens where Redis should be
    assert error_of(response)["code"] == "redis_unavailable"
    assert response.headers["access-control-allow-origin"] == "https://shop.example"


def test_cors_allows_configured_origins_only():
    app = create_app(settings(api_cors_origins=["https://shop.example"]))
    with TestClient(app) as test_client:
        allowed = test_client.get("/health", headers={"Origin": "https://shop.example"})
        other = test_client.get("/health", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in other.headers


def test_openapi_documents_every_route_with_a_model_and_the_error_shape(client):
    spec = client.get("/openapi.json").json()
    operations = {path: ops["get"] for path, ops in spec["paths"].items()}
    assert set(operations) == {"/trending", "/products/{product_id}/trend", "/categories",
                               "/health", "/ready", "/metrics"}
    for path, operation in operations.items():
        assert operation["description"] or operation["summary"], path
        assert "200" in operation["responses"], path
        for status in ("422", "503"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)
    for path in ("/trending", "/products/{product_id}/trend", "/categories", "/ready"):
        schema = operations[path]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["$ref"].startswith("#/components/schemas/"), path
    k = next(p for p in operations["/trending"]["parameters"] if p["name"] == "k")
    assert (k["schema"]["minimum"], k["schema"]["maximum"], k["schema"]["default"]) == (1, 100, 10)


def test_the_page_and_its_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="static/app.js"' in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200
    assert "trending?" in script.text


def test_the_cli_registers_the_api_command():
    import typer
    from typer.testing import CliRunner

    from api.cli import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:
        """A second command, so typer keeps sub-command names."""

    result = CliRunner().invoke(app, ["api", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--redis-url", "--access-log"):
        assert option in result.output


def test_the_redis_client_has_the_configured_connect_and_read_timeouts():
    from api.main import redis_client

    client = redis_client(settings(redis_timeout_s=0.25, redis_connect_timeout_s=0.75))
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.25, 0.75)


def test_the_favicon_is_served_from_the_package_and_linked_by_the_page(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.content.startswith(b"<svg ")
    assert '<link rel="icon" href="favicon.ico" type="image/svg+xml">' in client.get("/").text


#: The ingest service's API key in these tests (it starts only with one).
INGEST_KEY = "test-ingest-key-0123456789"


def ingest_settings() -> Settings:
    """The ingest service's settings: its broker unreachable, one API key."""
    return settings(bootstrap_servers=f"127.0.0.1:{free_port()}",
                    ingest_api_keys=f"test:{INGEST_KEY}")


@pytest.fixture(scope="module")
def ingest_client():
    """The ingest service, its broker unreachable: the OpenAPI pages need none."""
    from api.ingest import create_ingest_app

    app = create_ingest_app(ingest_settings())
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("service", ["client", "ingest_client"])
def test_the_redoc_page_loads_redoc_from_the_service_itself(service, request):
    client = request.getfixturevalue(service)
    response = client.get("/redoc")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    urls = re.findall(r'(?:src|href|spec-url)="([^"]*)"', html)
    assert sorted(urls) == ["/favicon.ico", "/openapi.json", "/static/redoc/redoc.standalone.js"]
    assert "http" not in html  # no CDN, no Google Fonts
    script = client.get("/static/redoc/redoc.standalone.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert script.text.startswith("/*! For license information please see "
                                  "redoc.standalone.js.LICENSE.txt */")
    assert client.get("/favicon.ico").headers["content-type"] == "image/svg+xml"


def test_the_ingest_docs_page_loads_swagger_ui_from_the_service_itself(ingest_client):
    html = ingest_client.get("/docs").text
    urls = re.findall(r'(?:src|href)="([^"]*)"', html) + re.findall(r"url: '([^']*)'", html)
    assert sorted(urls) == ["/favicon.ico", "/openapi.json",
                            "/static/swagger/swagger-ui-bundle.js",
                            "/static/swagger/swagger-ui.css"]
    assert "http" not in html
    assert ingest_client.get("/static/swagger/swagger-ui.css").status_code == 200
    # Only the OpenAPI pages' assets: the trends page is the API's, not the ingest's.
    assert ingest_client.get("/static/app.js").status_code == 404


def test_the_docs_page_loads_swagger_ui_from_the_api_itself(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    urls = re.findall(r'(?:src|href)="([^"]*)"', html) + re.findall(r"url: '([^']*)'", html)
    assert sorted(urls) == ["/favicon.ico", "/openapi.json",
                            "/static/swagger/swagger-ui-bundle.js",
                            "/static/swagger/swagger-ui.css"]
    assert "http" not in html  # no absolute URL: nothing is fetched from another host
    script = client.get("/static/swagger/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "SwaggerUIBundle" in script.text
    styles = client.get("/static/swagger/swagger-ui.css")
    assert styles.status_code == 200
    assert styles.headers["content-type"].startswith("text/css")


def test_the_ingest_service_and_the_read_only_api_are_separate_apps(client, ingest_client):
    """Writing is the ingest service's alone: the trending API has no route that takes events,
    and the ingest service serves no trending route."""
    api_routes = {(route.path, method) for route in client.app.routes
                  for method in getattr(route, "methods", None) or ()}
    assert not {method for _, method in api_routes} - {"GET", "HEAD"}
    assert client.post("/events", json={}).status_code == 404
    assert ingest_client.get("/trending").status_code == 404


def test_the_ingest_producer_waits_for_every_in_sync_replica():
    """202 means acknowledged by the broker: acks=all, idempotent retries, and a record not
    acknowledged by the request's deadline fails instead of waiting on."""
    from api.ingest import producer_config

    config = producer_config(settings(bootstrap_servers="kafka:9092",
                                      ingest_request_timeout_s=2.5))
    assert config["bootstrap.servers"] == "kafka:9092"
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["message.timeout.ms"] == 2500
    assert config["partitioner"] == "murmur2_random"


def test_the_ingest_producer_queue_stays_well_under_the_pods_memory_limit():
    """librdkafka queues up to 1 GiB by default, twice the pod's limit: the queue is bounded
    to a quarter of it, so a slow broker gives 503 queue_full, not an OOM kill."""
    import yaml

    from api.ingest import producer_config

    config = producer_config(settings())
    assert config["queue.buffering.max.kbytes"] == 64 * 1024
    manifests = list(yaml.safe_load_all((Path(__file__).parents[2] / "deploy/k8s/ingest.yaml")
                                        .read_text()))
    (deployment,) = [m for m in manifests if m and m["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["memory"] == "512Mi"
    largest_bodies = Settings.model_fields["ingest_max_concurrent_requests"].default * \
        Settings.model_fields["ingest_max_body_bytes"].default
    assert config["queue.buffering.max.kbytes"] * 1024 + largest_bodies <= 512 * 2**20 // 4


def test_a_fatal_producer_error_turns_ready_red_and_refuses_events():
    from confluent_kafka import KafkaError

    from api.ingest import create_ingest_app

    app = create_ingest_app(ingest_settings())
    with TestClient(app, raise_server_exceptions=False) as http:
        # What librdkafka reports when its idempotent producer cannot go on.
        app.state.producer.on_error(KafkaError(KafkaError._FATAL, "OUT_OF_ORDER_SEQUENCE",
                                               fatal=True))
        ready = http.get("/ready")
        assert (ready.status_code, error_of(ready)) == (503, {
            "code": "producer_failed",
            "message": "the producer failed for good (OUT_OF_ORDER_SEQUENCE): restart the "
                       "service"})
        event = {"event_id": "e-1", "event_type": "click", "product_id": "p-1",
                 "category": "c", "user_id": "u-1", "ts": 1_704_067_200_000}
        response = http.post("/events", json=[event],
                             headers={"content-type": "application/json",
                                      "authorization": f"Bearer {INGEST_KEY}"})
        assert response.status_code == 503
        assert error_of(response)["code"] == "broker_unavailable"
        assert response.headers["retry-after"] == "5"
        assert 'trend_ingest_produce_errors_total{kind="fatal"} 1.0' in http.get("/metrics").text
