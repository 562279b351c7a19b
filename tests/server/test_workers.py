"""``--workers N``: several processes on the same addresses (SO_REUSEPORT), one supervisor."""

from __future__ import annotations

import signal
import socket
import tempfile
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from rootwalk.lab import Lab

from .conftest import ask, run_cli, start_server


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
    sock = tmp_path / "ctl.sock"
    extra = f'control_socket = "{sock}"\n'
    proc = start_server(lab, tmp_path, extra, args=["--workers", "2"], listen=["127.0.0.1:0"])
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
        # The restarted worker answers the supervisor again on its private socket.
        stats = _stats(sock)
        assert stats["workers_answering"] == 2 and stats["queries_udp"] >= 20
    finally:
        assert proc.stop() == 0


def _stats(sock: Path) -> dict[str, int]:
    p = run_cli(["ctl", "--socket", str(sock), "stats"])
    assert p.returncode == 0, p.stderr
    return {k: int(v) for k, v in (line.split(" ", 1) for line in p.stdout.splitlines())}


def test_workers_share_one_control_socket_and_metrics(lab: Lab, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"
    extra = f'control_socket = "{sock}"\nmetrics_listen = "127.0.0.1:0"\n'
    proc = start_server(lab, tmp_path, extra, args=["--workers", "2"], listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    supervisor = proc.proc.pid
    try:
        found = proc.find(r"metrics on (http://\S+/metrics)")
        assert found is not None, proc.stderr
        metrics = found.group(1)
        assert (sock.stat().st_mode & 0o777) == 0o600
        # N questions from N client ports: the kernel spreads them over both workers.
        n = 40
        for i in range(n):
            assert ask(where, f"s{i}.wild.example.com").answer
        stats = _stats(sock)
        assert stats["workers"] == 2 and stats["workers_answering"] == 2
        assert stats["queries_udp"] == n and stats["rcode_NOERROR"] == n
        assert stats["cache_entries"] > 0
        with urllib.request.urlopen(metrics, timeout=5) as r:  # noqa: S310 (loopback)
            body = r.read().decode()
        assert f'rootwalk_queries_total{{transport="udp"}} {n}\n' in body
        assert f'rootwalk_responses_total{{rcode="NOERROR"}} {n}\n' in body
        assert "rootwalk_workers 2\n" in body
        # flush-all empties every worker's cache: the summed gauge is 0, and a name cached
        # before is asked of the lab again by whichever worker answers.
        for _ in range(10):
            assert ask(where, "www.example.com").answer
        lab.reset_counters()
        for _ in range(10):
            assert ask(where, "www.example.com").answer
        ns = [lab.server("ns1.example.com"), lab.server("ns2.example.com")]
        assert sum(s.count("www.example.com", "A") for s in ns) == 0  # cached everywhere
        p = run_cli(["ctl", "--socket", str(sock), "flush-all"])
        assert p.returncode == 0, p.stderr
        after = _stats(sock)
        assert after["cache_entries"] == 0 and after["workers_answering"] == 2
        assert ask(where, "www.example.com").answer
        assert sum(s.count("www.example.com", "A") for s in ns) == 1
        # flush NAME reaches every worker; the counts are summed.
        p = run_cli(["ctl", "--socket", str(sock), "flush", "www.example.com"])
        assert p.returncode == 0 and "entries removed (2 workers)" in p.stdout, p.stderr
        p = run_cli(["ctl", "--socket", str(sock), "flush", "bad..name"])
        assert p.returncode == 1 and p.stderr.count("bad name") == 1, p.stderr
        # reload reaches every worker, and a broken file is reported, workers unharmed.
        p = run_cli(["ctl", "--socket", str(sock), "reload"])
        assert p.returncode == 0 and "(2 workers)" in p.stdout, p.stderr
        for _ in range(2):
            proc.wait_for("configuration reloaded")
        assert proc.config_path is not None
        good = proc.config_path.read_text()
        proc.config_path.write_text(good + "bogus_key = 1\n")
        p = run_cli(["ctl", "--socket", str(sock), "reload"])
        # Both workers refuse it alike; said once, in one line naming the key.
        assert p.returncode == 1 and p.stderr.count("'server.bogus_key'") == 1, p.stderr
        assert len(p.stderr.splitlines()) == 1
        proc.config_path.write_text(good)
        dump = run_cli(["ctl", "--socket", str(sock), "dump-cache"])
        assert dump.returncode == 0 and "; worker 0" in dump.stdout and "; worker 1" in dump.stdout
        assert _stats(sock)["queries_udp"] == n + 21
    finally:
        assert proc.stop() == 0
    assert "Traceback" not in proc.stderr
    assert not sock.exists()
    assert not list(Path(tempfile.gettempdir()).glob(f"rootwalk-{supervisor}-*"))
