"""`compare` interleaves the servers: every server takes a step before any takes the next.

The workload itself is replaced by a recorder: this is about the order of the steps, and a
real comparison needs MLflow's server and FastTrackML installed (the quick smoke test runs the
real workload against ours).
"""

import os

import pytest

from benchmarks import __main__ as bench
from benchmarks import servers, workload

STEPS = list(workload.STEPS)


@pytest.fixture
def recorded(monkeypatch):
    calls = []

    def steps(target, sizes, log=print, skip=frozenset()):
        for name in STEPS:
            calls.append((target.label, name))
            yield name
        return {"label": target.label, "figures": {}}

    monkeypatch.setattr(workload, "workload_steps", steps)
    monkeypatch.setattr(workload, "quiesce", lambda url: calls.append(("quiesce", url)))
    monkeypatch.setattr(
        servers, "checkpoint", lambda url: calls.append(("checkpoint", url)) or True
    )
    return calls


def interleave(labels):
    return bench._interleave({label: _server(label) for label in labels}, None, "postgresql:///")


def _server(label):
    ours = label == "mlplatform"
    return servers.Server(
        label=label, url="http://127.0.0.1:9", ours=ours, database_url=f"postgresql:///{label}"
    )


def _taken(recorded):
    steps = [call for call in recorded if call[0] not in ("quiesce", "checkpoint")]
    return {name: [label for label, step in steps if step == name] for name in STEPS}, steps


def test_each_step_runs_on_every_server_before_the_next_and_who_goes_first_rotates(recorded):
    results = interleave(bench.SERVERS)

    assert set(results) == set(bench.SERVERS)
    _, steps = _taken(recorded)
    assert len(steps) == len(STEPS) * 3
    for turn, name in enumerate(STEPS):
        taken = steps[3 * turn : 3 * turn + 3]
        assert {step for _, step in taken} == {name}
        assert sorted(label for label, _ in taken) == sorted(bench.SERVERS)
        if name not in workload.REPEATS:
            assert taken[0][0] == bench.SERVERS[turn % 3]


def test_a_figure_measured_twice_takes_the_servers_in_reverse_order_the_second_time(recorded):
    interleave(bench.SERVERS)

    orders, _ = _taken(recorded)
    assert workload.REPEATS
    for second, first in workload.REPEATS.items():
        assert orders[second] == orders[first][::-1]
        assert STEPS.index(second) == STEPS.index(first) + 1


def test_skipped_figures_reach_every_server(recorded, monkeypatch):
    seen = []
    steps = workload.workload_steps

    def recording(target, sizes, log=print, skip=frozenset()):
        seen.append((target.label, skip))
        return steps(target, sizes, log=log, skip=skip)

    monkeypatch.setattr(workload, "workload_steps", recording)
    skip = workload.skipped_steps("mixed")
    bench._interleave({label: _server(label) for label in bench.SERVERS}, None, "pg:///", skip)

    assert seen == [(label, frozenset({"mixed"})) for label in bench.SERVERS]


def test_a_checkpoint_comes_before_every_step_of_every_server(recorded):
    interleave(bench.SERVERS)

    for i, call in enumerate(recorded):
        if call[0] in bench.SERVERS:
            assert recorded[i - 1] == ("checkpoint", "postgresql:///")
    assert sum(call[0] == "checkpoint" for call in recorded) == len(STEPS) * 3


def test_our_summary_worker_catches_up_after_each_of_our_steps(recorded):
    interleave(bench.SERVERS)

    for i, call in enumerate(recorded):
        if call[0] == "mlplatform":
            assert recorded[i + 1] == ("quiesce", "postgresql:///mlplatform")
    assert sum(call[0] == "quiesce" for call in recorded) == len(STEPS)


def test_alone_our_server_is_not_held_back(recorded):
    interleave(["mlplatform"])

    assert [step for label, step in recorded if label == "mlplatform"] == STEPS
    assert not any(label == "quiesce" for label, _ in recorded)


def test_an_unknown_server_is_refused_before_any_starts(monkeypatch):
    started = []
    monkeypatch.setattr(bench, "_start", lambda *args: started.append(args))
    with pytest.raises(SystemExit, match="unknown server nginx"):
        bench.main(["compare", "--only", "mlplatform,nginx"])
    assert started == []


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only"
)
def test_a_checkpoint_runs_on_the_shared_postgresql():
    assert servers.checkpoint(servers.database_url(os.environ["DATABASE_URL"], "postgres"))


def test_update_docs_replaces_every_table_between_the_markers(monkeypatch, tmp_path):
    docs = tmp_path / "performance.md"
    docs.write_text(f"intro\n{bench.DOCS_START}\nold table\n{bench.DOCS_END}\nafter\n")
    monkeypatch.setattr(bench, "DOCS", docs)
    monkeypatch.setattr(bench, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(bench, "_start", lambda label, args, log_dir: _server(label))
    monkeypatch.setattr(servers.Server, "stop", lambda self: None)
    figures = {"everyday_search": {"metric_param_p50_ms": 9.5, "metric_param_runs": 34}}
    monkeypatch.setattr(
        bench,
        "_interleave",
        lambda running, sizes, postgres, skip: {
            "mlplatform": {"label": "mlplatform", "figures": figures, "seed": {}}
        },
    )

    assert bench.main(["compare", "--only", "mlplatform", "--update-docs"]) == 0

    text = docs.read_text()
    assert "old table" not in text
    assert text.startswith("intro\n") and text.endswith(f"{bench.DOCS_END}\nafter\n")
    inside = text.split(bench.DOCS_START)[1].split(bench.DOCS_END)[0]
    assert "#### Large sizes" in inside and "#### Everyday sizes" in inside
    assert "| E1. runs/search" in inside and "| 9.5 |" in inside


def test_an_unknown_figure_to_skip_is_refused_before_any_server_starts(monkeypatch):
    started = []
    monkeypatch.setattr(bench, "_start", lambda *args: started.append(args))
    with pytest.raises(SystemExit, match="--skip nightly"):
        bench.main(["compare", "--skip", "nightly"])
    assert started == []
