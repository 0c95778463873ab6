"""The peers' venv follows the interpreter the benchmark runs on."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks import servers


def fake_venv(root: Path, interpreter: str) -> Path:
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(interpreter)
    (venv / "bin" / "fml").touch()
    (venv / f"installed-mlflow-{servers.MLFLOW_VERSION}-fml-{servers.FASTTRACKML_VERSION}").touch()
    return venv


def test_a_peer_venv_on_this_interpreter_is_kept(tmp_path, monkeypatch):
    venv = fake_venv(tmp_path, str(servers.base_interpreter()))
    monkeypatch.setattr(servers, "PEER_VENV", venv)
    ran = []
    monkeypatch.setattr(servers.subprocess, "run", lambda *a, **kw: ran.append(a))

    assert servers.ensure_peer_venv(log=lambda _: None) == venv
    assert ran == []


def test_a_peer_venv_on_another_interpreter_is_made_again(tmp_path, monkeypatch):
    venv = fake_venv(tmp_path, "/bin/sh")
    monkeypatch.setattr(servers, "PEER_VENV", venv)
    ran = []

    def run(cmd, **kwargs):
        # Stands in for `python -m venv` and pip, which take minutes and the network.
        ran.append(cmd)
        if cmd[1:3] == ["-m", "venv"]:
            (venv / "bin").mkdir(parents=True)
        if "--no-deps" in cmd:
            (venv / "bin" / "fml").touch()

    monkeypatch.setattr(servers.subprocess, "run", run)

    servers.ensure_peer_venv(log=lambda _: None)

    assert ran[0] == [sys.executable, "-m", "venv", str(venv)]
    assert len(ran) == 3
