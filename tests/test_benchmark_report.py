"""The benchmark table's verdicts against the issue's targets."""

from benchmarks.report import target_check


def test_a_figure_is_met_only_when_both_peers_are_beaten_by_the_target_margin():
    assert target_check("search", "p50_ms", False, 10, 6.0, 1.2).endswith(": met")
    assert target_check("search", "p50_ms", False, 10, 4.0, 1.2).endswith(": missed")
    assert target_check("search", "p50_ms", False, 10, 6.0, 0.9).endswith(": missed")


def test_batched_ingestion_needs_three_times_fasttrackml():
    assert target_check("ingest_batched", "points_per_s", True, 1, 12.0, 2.5).endswith("missed")
    assert target_check("ingest_batched", "points_per_s", True, 1, 12.0, 3.1).endswith(": met")


def test_a_peer_without_the_endpoint_leaves_the_verdict_to_the_other():
    verdict = target_check("history_downsampled", "p50_ms", False, 49, 17.5, None)
    assert verdict.endswith("met (no FastTrackML figure)")
    verdict = target_check("history_downsampled", "p50_ms", False, 49, 3.0, None)
    assert verdict.endswith("missed (no FastTrackML figure)")


# --- the everyday-size table and the table of artifacts, mixed load and chart view ----------

import pytest  # noqa: E402

from benchmarks import report  # noqa: E402

SIZES = {"everyday_runs": 400, "everyday_history_points": 50, "clients": 4, "artifact_mb": 50,
         "mixed_clients": 64, "mixed_seconds": 60, "chart_runs": 100, "chart_metrics": 10,
         "chart_steps": 1000}  # fmt: skip


def result(figures: dict) -> dict:
    return {"sizes": SIZES, "figures": figures}


def row(table: list[str], starts: str) -> list[str]:
    found = [line for line in table if line.startswith(f"| {starts}")]
    assert len(found) == 1, table
    return [c.strip() for c in found[0].strip("|").split("|")]


@pytest.fixture
def results():
    search = {"metric_param_p50_ms": 9.0, "tag_p50_ms": 12.0, "unfiltered_p50_ms": 30.0,
              "one_run_p50_ms": 2.0, "metric_param_runs": 34, "tag_runs": 100,
              "unfiltered_runs": 400, "one_run_runs": 1}  # fmt: skip
    return {
        "mlflow": result({
            "everyday_search": {**search, "metric_param_p50_ms": 90.0},
            "everyday_single": {"requests_per_s": 60.0},
            "artifacts": {"upload_mb_per_s": 100.0, "download_mb_per_s": 400.0},
            "mixed": {"requests_per_s": 100.0, "p99_ms": 900.0, "errors": 7, "lost_points": 0},
            "chart_data": {"status": "n/a", "reason": "our pages only"},
        }),
        "fasttrackml": result({
            "everyday_search": {**search, "metric_param_p50_ms": 8.0},
            "everyday_single": {"requests_per_s": 600.0},
            "artifacts": {"status": "n/a", "reason": "no artifact proxy: PUT answers 500"},
            "mixed": {"requests_per_s": 500.0, "p99_ms": 90.0, "errors": 0, "lost_points": 0},
        }),
        "mlplatform": result({
            "everyday_search": {**search, "metric_param_p50_ms": 10.0},
            "everyday_single": {"requests_per_s": 660.0},
            "artifacts": {"upload_mb_per_s": 150.0, "download_mb_per_s": 200.0},
            "mixed": {"requests_per_s": 400.0, "p99_ms": 120.0, "errors": 0, "lost_points": 2},
            "chart_data": {"data_p50_ms": 250.0, "request_p50_ms": 25.0, "page_p50_ms": 130.0},
        }),
    }  # fmt: skip


def test_everyday_rows_are_judged_against_fasttrackml_with_the_counts_in_the_label(results):
    table = report.everyday_table(results)

    search = row(table, "E1.")
    assert "(34 of 400 runs)" in search[0]
    assert search[2:8] == ["90", "8", "10", "9.00x", "0.80x", "≥1x FML: missed"]
    one_point = row(table, "E6.")
    assert one_point[0] == "E6. One point per request, 4 clients"
    assert one_point[-1] == "≥1x FML: met"
    assert row(table, "E4.")[0].startswith("E4. runs/search, a filter matching 1 run of 400")


def test_a_figure_no_server_measured_keeps_its_label_without_sizes():
    table = report.everyday_table({"mlplatform": None})

    assert row(table, "E5.")[0] == "E5. get-history of a ?-point metric, p50"
    assert row(table, "E5.")[2:5] == ["not run", "not run", "not run"]


def test_artifacts_need_mlflows_rate_and_a_peer_without_a_proxy_says_why(results):
    table = report.more_table(results)

    assert row(table, "9. Artifact upload")[2:8] == [
        "100", "n/a", "150", "1.50x", "-", "≥1x MLflow: met"
    ]  # fmt: skip
    assert row(table, "9. Artifact download")[-1] == "≥1x MLflow: missed"
    notes = report.reasons(results, ["artifacts", "mixed"])
    assert notes == ["- FastTrackML, artifacts: n/a, no artifact proxy: PUT answers 500."]
    assert notes[0] in report.markdown(results)


def test_the_mixed_load_wants_no_errors_and_no_lost_points_and_shows_no_ratio_for_counts(results):
    table = report.more_table(results)

    assert row(table, "10. Mixed load, 64 clients, 60 s")[5:7] == ["4.00x", "0.80x"]
    errors = row(table, "10. Mixed load, 5xx")
    assert errors[2:8] == ["7", "0", "0", "-", "-", "zero: met"]
    assert row(table, "10. Mixed load, acknowledged")[-1] == "zero: missed"


def test_the_chart_view_has_its_own_targets(results):
    table = report.more_table(results)

    data = row(table, "11. Chart view data, 100 runs")
    assert data[0].startswith("11. Chart view data, 100 runs x 10 metrics x 1,000 steps")
    assert data[-1] == "< 300 ms: met"
    assert row(table, "11. Chart view data, one chart's")[2:5] == ["n/a", "n/a", "25"]
    assert row(table, "11. Chart view page")[-1] == "< 100 ms: missed"


def test_the_markdown_has_the_three_tables_in_order(results):
    text = report.markdown(results)

    headings = [line for line in text.splitlines() if line.startswith("#### ")]
    assert headings == [
        "#### Large sizes",
        "#### Everyday sizes",
        "#### Artifacts, mixed load and the chart view",
    ]
