"""The Kafka detector figure is the median of several passes, reported as one pass's figures."""

from __future__ import annotations

from benchmarks.bench_detector import _median_pass


def test_the_median_pass_is_reported_whole_with_every_pass_listed() -> None:
    passes: list[dict[str, float | int]] = [
        {"k_obs_per_process_cpu_s": 27_468, "k_obs_per_wall_s": 25_000, "k_join_s": 0.9},
        {"k_obs_per_process_cpu_s": 19_772, "k_obs_per_wall_s": 18_689, "k_join_s": 0.8},
        {"k_obs_per_process_cpu_s": 22_973, "k_obs_per_wall_s": 21_000, "k_join_s": 1.1},
    ]
    out = _median_pass(passes, "k")
    assert out["k_obs_per_process_cpu_s"] == 22_973
    assert out["k_obs_per_wall_s"] == 21_000 and out["k_join_s"] == 1.1  # the same pass, not a mix
    assert out["k_obs_per_process_cpu_s_passes"] == "27,468 / 19,772 / 22,973"
