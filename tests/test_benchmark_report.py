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
