"""The new figures' bookkeeping: the better of two rounds, which figures --skip leaves out, the
everyday experiment's expected search counts and where an artifact goes through the proxy."""

import pytest

from benchmarks import artifacts, workload


def test_the_better_of_two_rounds_is_kept_field_by_field():
    first = {"runs_per_s": 150.0, "p50_ms": 9.0, "tag_p50_ms": 4.0, "runs": 400}
    second = {"runs_per_s": 170.0, "p50_ms": 11.0, "tag_p50_ms": 3.0, "runs": 400}

    best = workload.best_of([first, second])

    assert (best["runs_per_s"], best["p50_ms"], best["tag_p50_ms"]) == (170.0, 9.0, 3.0)
    assert best["rounds"] == [first, second]


def test_a_failed_round_leaves_the_other_and_two_failed_rounds_stay_failed():
    failed = {"status": "error", "error": "HttpError: 500"}
    measured = {"requests_per_s": 500.0}

    assert workload.best_of([failed, measured])["requests_per_s"] == 500.0
    both = workload.best_of([failed, {"status": "n/a", "reason": "x"}])
    assert both["status"] == "error"


def test_skip_takes_groups_and_single_steps():
    assert workload.skipped_steps("mixed,charts") == {"mixed", "chart_data"}
    assert workload.skipped_steps("everyday") == {
        name for name in workload.STEPS if name.startswith("everyday_")
    }
    assert workload.skipped_steps("artifacts,search") == {"artifacts", "search"}
    assert workload.skipped_steps(None) == frozenset()
    large = workload.skipped_steps("large")
    assert {"ingest_batched", "seed", "summary_lag"} <= large
    assert not large & workload.skipped_steps("everyday,artifacts,mixed,charts")
    with pytest.raises(ValueError, match="--skip seed"):
        workload.skipped_steps("seed")


def test_the_everyday_experiment_matches_the_issues_counts():
    runs = workload.FULL.everyday_runs

    def count(name):
        return sum(workload.everyday_matches(name, i, runs) for i in range(runs))

    assert count("tag") == 100
    assert count("one_run") == 1
    assert 30 <= count("metric_param") <= 40
    assert count("unfiltered") == runs
    params = {p["key"]: p["value"] for p in workload.everyday_params(3)}
    assert len(params) == 10 and params["seed"] == "3" and "lr" in params


def test_the_one_run_filter_finds_exactly_its_run():
    runs = workload.FULL.everyday_runs
    one = workload.everyday_one_run(runs)
    seeds = [
        next(p["value"] for p in workload.everyday_params(i) if p["key"] == "seed")
        for i in range(runs)
    ]

    assert seeds.count(str(one)) == 1


def test_an_artifact_goes_through_the_proxy_only_for_a_proxy_uri():
    assert artifacts._proxy_path("mlflow-artifacts:/3/abc/artifacts") == "3/abc/artifacts"
    assert artifacts._proxy_path("mlflow-artifacts://host:5000/3/abc/artifacts") == (
        "3/abc/artifacts"
    )
    assert artifacts._proxy_path("file:///tmp/artifacts/1/abc/artifacts") is None
