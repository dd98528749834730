"""Which resources an id-only notification makes the worker read, and the notification filled with them."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.core.errors import InputRejected
from ingest.core.fhir.id_only import fetch_targets, normalise_base_url, with_fetched_resources

BASE = normalise_base_url("https://EHR.example/fhir")


def _backport(*focus: str, extra_entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    events = [{"name": "notification-event", "part": [{"name": "event-number", "valueString": str(i + 1)},
                                                      {"name": "focus", "valueReference": {"reference": ref}}]}
              for i, ref in enumerate(focus)]
    status = {"resourceType": "Parameters", "parameter": [
        {"name": "subscription", "valueReference": {"reference": "https://ehr.example/fhir/Subscription/1"}},
        {"name": "type", "valueCode": "event-notification"}, *events]}
    return {"resourceType": "Bundle", "type": "history",
            "entry": [{"fullUrl": "urn:uuid:1", "resource": status}, *(extra_entries or [])]}


def test_base_url_is_normalised_and_checked() -> None:
    assert BASE == "https://ehr.example/fhir/"
    assert normalise_base_url("http://127.0.0.1:9000/") == "http://127.0.0.1:9000/"
    for bad in ("ftp://x/fhir", "https://x/fhir?a=1", "not a url"):
        with pytest.raises(ValueError):
            normalise_base_url(bad)


def test_focus_references_become_targets_with_their_fhirpath() -> None:
    doc = _backport("https://ehr.example/fhir/Observation/o1", "Observation/o2")
    targets = fetch_targets(doc, (BASE,))
    assert [(t.url, t.resource_type, t.resource_id) for t in targets] == [
        ("https://ehr.example/fhir/Observation/o1", "Observation", "o1"),
        ("https://ehr.example/fhir/Observation/o2", "Observation", "o2"),  # relative: against the first base
    ]
    assert targets[0].location == "Bundle.entry[0].resource.parameter[2].part[1].valueReference.reference"


def test_r5_status_and_entries_without_resource_are_read_once() -> None:
    url = "https://ehr.example/fhir/Encounter/e1"
    doc = {"resourceType": "Bundle", "type": "subscription-notification", "entry": [
        {"resource": {"resourceType": "SubscriptionStatus", "type": "event-notification",
                      "notificationEvent": [{"eventNumber": "1", "focus": {"reference": url}}]}},
        {"fullUrl": url, "request": {"method": "PUT", "url": "Encounter/e1"}},
        {"fullUrl": "https://ehr.example/fhir/Observation/o9", "request": {"method": "POST", "url": "Observation"}},
    ]}
    assert [t.url for t in fetch_targets(doc, (BASE,))] == [url, "https://ehr.example/fhir/Observation/o9"]


def test_included_resources_unsupported_types_and_urns_are_not_fetched() -> None:
    url = "https://ehr.example/fhir/Observation/o1"
    doc = _backport(url, "https://ehr.example/fhir/Location/l1", "urn:uuid:abc",
                    extra_entries=[{"fullUrl": url, "resource": {"resourceType": "Observation", "id": "o1"}}])
    assert fetch_targets(doc, (BASE,)) == []


def test_reference_to_another_server_is_rejected_not_fetched() -> None:
    doc = _backport("https://attacker.example/fhir/Observation/o1")
    with pytest.raises(InputRejected) as info:
        fetch_targets(doc, (BASE,))
    assert info.value.code == "fetch_not_allowed"
    # A prefix that only looks alike (another host whose name starts with the base's) is refused too.
    with pytest.raises(InputRejected):
        fetch_targets(_backport("https://ehr.example/fhirx/Observation/o1"), (BASE,))


def test_without_configured_servers_an_id_only_notification_is_rejected() -> None:
    with pytest.raises(InputRejected) as info:
        fetch_targets(_backport("https://ehr.example/fhir/Observation/o1"), ())
    assert info.value.code == "fetch_not_configured"


def test_fetched_resources_fill_the_notification_and_gone_ones_are_left_out() -> None:
    doc = _backport("https://ehr.example/fhir/Observation/o1", "https://ehr.example/fhir/Observation/o2")
    targets = fetch_targets(doc, (BASE,))
    o1 = {"resourceType": "Observation", "id": "o1", "status": "final"}
    filled = with_fetched_resources(doc, {targets[0].url: o1, targets[1].url: None}, targets)
    assert len(doc["entry"]) == 1  # the input is not modified
    assert [e.get("resource") for e in filled["entry"][1:]] == [o1]
    assert filled["entry"][1]["fullUrl"] == "https://ehr.example/fhir/Observation/o1"


def test_a_resource_that_does_not_match_its_url_is_rejected() -> None:
    doc = _backport("https://ehr.example/fhir/Observation/o1")
    targets = fetch_targets(doc, (BASE,))
    with pytest.raises(InputRejected) as info:
        with_fetched_resources(doc, {targets[0].url: {"resourceType": "Observation", "id": "other"}}, targets)
    assert info.value.code == "fetch_mismatch"


def test_relative_focus_on_an_included_resource_needs_no_fetch_and_no_configuration() -> None:
    included = {"resourceType": "Observation", "id": "o1"}
    doc = _backport("Observation/o1",
                    extra_entries=[{"fullUrl": "https://ehr.example/fhir/Observation/o1", "resource": included}])
    assert fetch_targets(doc, ()) == []
