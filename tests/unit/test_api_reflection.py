"""The API never reflects raw input into an error: a hostile value sent in any parameter
of any route is absent from the response body and headers, whatever the status."""

from __future__ import annotations

import urllib.parse

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from localstack.stack import free_port
from trend_tracker.settings import Settings

MARKER = "zq<script>alert(1)</script>zq"
HOSTILE = [MARKER, MARKER * 50, f"../{MARKER}", f"{MARKER}\r\nX-Injected: 1", f"{MARKER}*",
           f"{{{MARKER}}}", f"1e308{MARKER}"]


@pytest.fixture(scope="module")
def client():
    settings = Settings(_env_file=None, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                        top_n=100, redis_timeout_s=0.5)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def requests_for(value: str) -> list[str]:
    quoted = urllib.parse.quote(value, safe="")
    return [
        f"/trending?k={quoted}",
        f"/trending?category={quoted}",
        f"/trending?category={quoted}&k=5",
        f"/products/{quoted}/trend",
        f"/products/p-1/trend?category={quoted}",
        f"/products/p-1/trend?limit={quoted}",
        f"/categories?limit={quoted}",
        f"/{quoted}",
    ]


@pytest.mark.parametrize("value", HOSTILE)
def test_no_error_reflects_its_input(client, value):
    for url in requests_for(value):
        response = client.get(url)
        assert 400 <= response.status_code < 600, url
        assert response.status_code != 500, url
        text = response.text
        assert "zq" not in text and "<script>" not in text, (url, text[:300])
        assert "X-Injected" not in response.headers, url
        for header, header_value in response.headers.items():
            assert "zq" not in header_value, (url, header)
