"""The ops HTTP server, over a real loopback socket: probes, readiness transitions, metrics and their auth."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from pydantic import SecretStr

from sepsis_alert.ops.http import OpsServer, OpsServerError, start_ops_server
from sepsis_alert.ops.readiness import ReadinessRegistry

TOKEN = "metrics-token-0123456789"


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("sepsis_test_things_total", "things seen by the test", ["outcome"], registry=registry).labels(
        "accepted").inc(3)
    return registry


@pytest.fixture
def readiness() -> ReadinessRegistry:
    readiness = ReadinessRegistry()
    readiness.register("kafka_connected", "partitions_assigned")
    return readiness


@pytest.fixture
def server(registry: CollectorRegistry, readiness: ReadinessRegistry) -> Iterator[OpsServer]:
    with start_ops_server(0, readiness=readiness, registry=registry, worker="test") as handle:
        yield handle


@pytest.fixture
def secured(registry: CollectorRegistry, readiness: ReadinessRegistry) -> Iterator[OpsServer]:
    with start_ops_server(0, readiness=readiness, registry=registry, token=SecretStr(TOKEN),
                          worker="test") as handle:
        yield handle


def test_healthz_is_ok_even_when_not_ready(server: OpsServer) -> None:
    response = httpx.get(f"{server.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.text == "ok\n"


def test_readyz_transitions(server: OpsServer, readiness: ReadinessRegistry) -> None:
    first = httpx.get(f"{server.url}/readyz", timeout=10)
    assert first.status_code == 503
    assert first.json()["failing"] == ["kafka_connected", "partitions_assigned"]
    readiness.set("kafka_connected", True)
    second = httpx.get(f"{server.url}/readyz", timeout=10)
    assert second.status_code == 503
    assert second.json()["failing"] == ["partitions_assigned"]
    readiness.set("partitions_assigned", True, detail="6 of 6")
    third = httpx.get(f"{server.url}/readyz", timeout=10)
    assert third.status_code == 200
    assert third.json()["ready"] is True
    assert third.json()["checks"]["partitions_assigned"]["detail"] == "6 of 6"
    readiness.set("kafka_connected", False, detail="broker unreachable")
    fourth = httpx.get(f"{server.url}/readyz", timeout=10)
    assert fourth.status_code == 503
    assert fourth.json()["failing"] == ["kafka_connected"]


def test_metrics_expose_the_registry_and_readiness(server: OpsServer, readiness: ReadinessRegistry) -> None:
    readiness.set("kafka_connected", True)
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'sepsis_test_things_total{outcome="accepted"} 3.0' in text
    assert "sepsis_ready 0.0" in text
    assert 'sepsis_readiness_check_passing{check="kafka_connected"} 1.0' in text
    assert 'sepsis_readiness_check_passing{check="partitions_assigned"} 0.0' in text
    assert 'sepsis_build_info{version=' in text and 'worker="test"' in text


def test_metrics_negotiate_openmetrics(server: OpsServer) -> None:
    response = httpx.get(f"{server.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"},
                         timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, "Bearer x"])
def test_metrics_refuse_missing_or_wrong_token(secured: OpsServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = httpx.get(f"{secured.url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "sepsis_test_things_total" not in response.text


def test_metrics_accept_the_token_and_probes_need_none(secured: OpsServer) -> None:
    response = httpx.get(f"{secured.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    assert "sepsis_test_things_total" in response.text
    assert httpx.get(f"{secured.url}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{secured.url}/readyz", timeout=10).status_code == 503


def test_unknown_path_is_404(server: OpsServer) -> None:
    assert httpx.get(f"{server.url}/admin", timeout=10).status_code == 404


def test_port_in_use_is_a_clear_error(server: OpsServer) -> None:
    with pytest.raises(OpsServerError, match=f"127.0.0.1:{server.port}"):
        start_ops_server(server.port, registry=CollectorRegistry())


def test_stop_releases_the_port_and_the_collector(registry: CollectorRegistry) -> None:
    handle = start_ops_server(0, registry=registry)
    port = handle.port
    handle.stop()
    handle.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert registry.get_sample_value("sepsis_ready") is None
    again = start_ops_server(port, registry=registry)  # same port, same registry: both free again
    again.stop()


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
def test_head_answers_like_get_without_a_body(server: OpsServer, path: str) -> None:
    got = httpx.get(f"{server.url}{path}", timeout=10)
    head = httpx.head(f"{server.url}{path}", timeout=10)
    assert head.status_code == got.status_code != 501
    assert head.headers["content-type"] == got.headers["content-type"]
    assert int(head.headers["content-length"]) > 0 and head.content == b""
    # The connection must still be usable: a body written after HEAD would corrupt the next response.
    with httpx.Client(timeout=10) as client:
        assert client.head(f"{server.url}{path}").status_code == got.status_code
        assert client.get(f"{server.url}/healthz").text == "ok\n"


def test_head_on_protected_metrics_still_needs_the_token(secured: OpsServer) -> None:
    assert httpx.head(f"{secured.url}/metrics", timeout=10).status_code == 401
    assert httpx.head(f"{secured.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=10).status_code == 200


def test_metrics_carry_no_created_series(server: OpsServer) -> None:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert "sepsis_test_things_total" in text
    assert "_created" not in text
