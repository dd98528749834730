"""The detector's alerts, scores, reason texts and state bytes on the golden stays are unchanged.

See golden.py for the selection. A failure lists the stays whose digest changed; when the change is intended
(a clinical rule was changed on purpose, a bug fixed), regenerate the file and explain the change in the commit.
"""

from __future__ import annotations

import json

from tests.detector.golden.golden import GOLDEN_FILE, PHYSIONET, compute


def test_golden_stays_are_unchanged() -> None:
    assert PHYSIONET.exists(), f"the golden test replays PhysioNet 2019 set A from {PHYSIONET}"
    expected = json.loads(GOLDEN_FILE.read_text())
    actual = compute()
    assert actual["selection"] == expected["selection"]
    changed = []
    for group, table in actual["stays"].items():
        for key, digest in table.items():
            old = expected["stays"][group].get(key, {})
            if digest != old:
                changed.append(f"{group}/{key}: {sorted(k for k in digest if digest[k] != old.get(k))}")
    assert not changed, f"{len(changed)} golden stays changed: " + "; ".join(changed[:20])
    assert actual["stays"].keys() == expected["stays"].keys()
    for group, table in expected["stays"].items():
        assert table.keys() == actual["stays"][group].keys(), f"the {group} selection changed"
    assert actual["samples"] == expected["samples"]


def test_golden_selection_has_alerts_of_every_kind() -> None:
    """The goldens guard something: the selection raises alerts, including with suspected infection."""
    expected = json.loads(GOLDEN_FILE.read_text())
    assert len(expected["stays"]["physionet"]) == 300
    assert sum(d["alert_count"] for d in expected["stays"]["physionet"].values()) > 500
    assert sum(d["alert_count"] for d in expected["stays"]["care"].values()) > 60
    assert any(s["alert"]["reasons"] for s in expected["samples"])
