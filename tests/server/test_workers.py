"""``--workers N``: several processes on the same addresses (SO_REUSEPORT), one supervisor."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from rootwalk.lab import Lab

from .conftest import ask, start_server


def test_workers_serve_reload_and_stop(lab: Lab, tmp_path: Path) -> None:
    proc = start_server(lab, tmp_path, args=["--workers", "3"], listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        assert "with 3 workers" in proc.stderr
        children = _children(proc.proc.pid)
        assert len(children) == 3
        # Many client ports: the kernel spreads them over the workers; all get answers.
        for i in range(30):
            r = ask(where, f"w{i}.wild.example.com")
            assert r.answer[0][0].address == "192.0.2.99"
            assert ask(where, "www.example.com", tcp=True).rcode() == dns.rcode.NOERROR
        # SIGHUP reaches every worker.
        assert proc.config_path is not None
        proc.signal(signal.SIGHUP)
        for _ in range(3):
            proc.wait_for("configuration reloaded")
    finally:
        assert proc.stop() == 0
    assert "Traceback" not in proc.stderr
    assert all(not _alive(pid) for pid in children)
    # Everything closed: the address can be bound again at once.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(where)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "X"


def test_worker_restarted_when_it_dies(lab: Lab, tmp_path: Path) -> None:
    proc = start_server(lab, tmp_path, args=["--workers", "2"], listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        first = _children(proc.proc.pid)
        assert len(first) == 2
        import os

        os.kill(first[0], signal.SIGKILL)
        proc.wait_for("worker 0 exited unexpectedly")
        # Whatever the flow hash, every client keeps being answered.
        for i in range(20):
            q = dns.message.make_query("www.example.com", "A")
            r = dns.query.udp(q, where[0], port=where[1], timeout=5)
            assert r.answer, i
        assert len(_children(proc.proc.pid)) == 2
    finally:
        assert proc.stop() == 0
