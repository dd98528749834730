"""Deployment manifests: valid YAML, kustomize references resolve, probes/limits/PDBs, secrets by reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY

K8S_BASE = DEPLOY / "k8s" / "base"
ALL_YAML = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _k8s_objects() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in _docs(K8S_BASE / name)]


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_is_valid_yaml(path: Path) -> None:
    assert _docs(path), f"{path} is empty"


def test_dashboard_is_valid_json() -> None:
    doc = json.loads((DEPLOY / "grafana" / "sepsis-alert-dashboard.json").read_text())
    assert doc["uid"] and doc["panels"]


def test_kustomization_references_resolve() -> None:
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        assert (K8S_BASE / name).is_file(), name
    for generator in kustomization.get("configMapGenerator", []):
        for entry in generator.get("files", []):
            assert (K8S_BASE / entry.split("=")[-1]).is_file(), entry
    configmaps = {g["name"] for g in kustomization.get("configMapGenerator", [])}
    for obj in _k8s_objects():
        spec = obj["spec"].get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps


def test_deployments_have_probes_limits_and_a_pdb() -> None:
    objects = _k8s_objects()
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {
        "sepsis-ingest-hl7", "sepsis-ingest-fhir", "sepsis-detector", "sepsis-notifier"}
    pdb_selectors = [o["spec"]["selector"]["matchLabels"] for o in objects if o["kind"] == "PodDisruptionBudget"]
    services = [o for o in objects if o["kind"] == "Service"]
    for deployment in deployments:
        pod = deployment["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        (container,) = pod["spec"]["containers"]
        port_names = {p["name"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in port_names
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][kind].keys()
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert any(sel.items() <= labels.items() for sel in pdb_selectors), deployment["metadata"]["name"]
        assert any(s["spec"]["selector"].items() <= labels.items() for s in services), deployment["metadata"]["name"]
        annotations = pod["metadata"]["annotations"]
        ops_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "ops")
        assert annotations["prometheus.io/port"] == str(ops_port)


def test_secrets_only_by_reference_and_documented() -> None:
    readme = (DEPLOY / "k8s" / "README.md").read_text()
    assert not [o for o in _k8s_objects() if o["kind"] == "Secret"], "the base must not carry Secret objects"
    referenced: set[str] = set()
    for obj in _k8s_objects():
        spec = obj["spec"].get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.add(ref["name"])
                secret_like = env["name"].endswith(("PASSWORD", "_SECRET", "_TOKEN", "_KEY"))
                assert not (secret_like and "value" in env), f"{env['name']} must come from a Secret"
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                referenced.add(volume["secret"]["secretName"])
    assert referenced
    for name in referenced:
        assert f"`{name}`" in readme, f"secret {name} is not documented in deploy/k8s/README.md"


def test_compose_references_resolve() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "topics", "ingest-hl7", "ingest-fhir", "detector", "notifier", "prometheus"} <= services.keys()
    assert services["kafka"]["image"].startswith("apache/kafka:")
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for secret in service.get("secrets", []):
            source = secret["source"] if isinstance(secret, dict) else secret
            assert source in compose["secrets"], f"{name}: secret {source} not declared"
        for volume in service.get("volumes", []):
            host = volume.split(":", 1)[0]
            if host.startswith("./") and "/secrets/" not in host:
                assert (DEPLOY / host).is_file(), f"{name}: {host} missing"
    for name in ("ingest-hl7", "ingest-fhir", "detector", "notifier"):
        env = services[name]["environment"]
        assert env["SEPSIS_OPS_HOST"] == "0.0.0.0" and env["SEPSIS_OPS_METRICS_TOKEN_FILE"]


def test_scrape_jobs_match_the_ops_ports() -> None:
    from sepsis_alert.ops.settings import DEFAULT_OPS_PORTS

    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    ports = {job["job_name"]: int(job["static_configs"][0]["targets"][0].rsplit(":", 1)[1])
             for job in config["scrape_configs"]}
    assert ports == {"sepsis-ingest-hl7": DEFAULT_OPS_PORTS["ingest-hl7"],
                     "sepsis-ingest-fhir": DEFAULT_OPS_PORTS["ingest-fhir"],
                     "sepsis-detector": DEFAULT_OPS_PORTS["detect"], "sepsis-notifier": DEFAULT_OPS_PORTS["notify"]}


def test_notifier_routing_of_the_base_is_a_valid_notifier_config() -> None:
    from notifier.config import load_config

    config = load_config(K8S_BASE / "notifier-routing.yaml")
    assert config.fallback_receiver == "ehr-inbox"


def test_dockerfile_runs_the_cli_as_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["sepsis-alert"]' in text
    assert "USER 10001" in text
