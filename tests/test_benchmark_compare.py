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

    def steps(target, sizes, log=print):
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


def test_each_step_runs_on_every_server_before_the_next_and_who_goes_first_rotates(recorded):
    results = interleave(bench.SERVERS)

    assert set(results) == set(bench.SERVERS)
    steps = [call for call in recorded if call[0] not in ("quiesce", "checkpoint")]
    assert len(steps) == len(STEPS) * 3
    for turn, name in enumerate(STEPS):
        taken = steps[3 * turn : 3 * turn + 3]
        assert {step for _, step in taken} == {name}
        assert sorted(label for label, _ in taken) == sorted(bench.SERVERS)
        assert taken[0][0] == bench.SERVERS[turn % 3]


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
