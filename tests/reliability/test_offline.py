"""The default pipeline never reaches out: sockets are blocked while it runs."""

from __future__ import annotations

import socket

import pytest

from curvebench.api import RunOptions, run


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection (IPv4, IPv6, DNS) fails the test loudly."""
    attempts = []

    def refuse(*args, **kwargs):
        import traceback

        attempts.append((args, "".join(traceback.format_stack(limit=15))))
        raise NetworkBlocked(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")
    return attempts


@pytest.mark.slow
def test_default_pipeline_runs_with_the_network_blocked(no_network, tmp_path) -> None:
    output = run(RunOptions(limit=2, out=tmp_path, wandb=False, cache_dir=tmp_path / "cache"))
    results = output.results.results["noise-at-5s"]
    assert {r.role for r in results.values()} == {"training", "generated", "ood"}
    assert no_network == [], no_network[0][1] if no_network else ""


def test_the_guard_itself_blocks(no_network) -> None:
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("127.0.0.1", 9))
