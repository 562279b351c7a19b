"""``rootwalk ctl`` over the control socket, and the Prometheus /metrics endpoint."""

from __future__ import annotations

import re
import socket
import urllib.request
from pathlib import Path

import dns.rcode
import pytest

from rootwalk.lab import Lab

from .conftest import ask, lab_config, run_cli, start_server


def ctl(sock: Path, *words: str) -> tuple[int, str, str]:
    p = run_cli(["ctl", "--socket", str(sock), *words])
    return p.returncode, p.stdout, p.stderr


def test_ctl_and_metrics(lab: Lab, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"
    extra = f'control_socket = "{sock}"\nmetrics_listen = "127.0.0.1:0"\n'
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    try:
        found = proc.find(r"metrics on (http://\S+/metrics)")  # logged before "listening"
        assert found is not None, proc.stderr
        metrics = found.group(1)
        assert (sock.stat().st_mode & 0o777) == 0o600
        assert ask(where, "www.example.com").answer
        assert ask(where, "nonexistent.example.com").rcode() == dns.rcode.NXDOMAIN
        rc, out, _ = ctl(sock, "stats")
        stats = dict(line.split(" ", 1) for line in out.splitlines())
        assert rc == 0 and int(stats["cache_entries"]) > 0 and int(stats["queries_udp"]) >= 2
        assert int(stats["upstream_queries"]) >= 2 and stats["resolutions_shed"] == "0"
        # Asked twice more: a hit through the full parse (kept), then one from wire bytes,
        # and the counters include the fast path's answers.
        for _ in range(2):
            assert ask(where, "www.example.com").answer
        stats = dict(line.split(" ", 1) for line in ctl(sock, "stats")[1].splitlines())
        assert int(stats["answers_fast"]) == 1 and int(stats["wire_answers"]) >= 1
        assert int(stats["queries_udp"]) >= 4
        rc, out, _ = ctl(sock, "dump-cache")
        assert rc == 0 and "www.example.com. " in out and "192.0.2.1" in out
        assert "nonexistent.example.com." in out and "NXDOMAIN" in out
        # Each entry says what DNSSEC validation found (the lab's example.com is signed).
        www = [line for line in out.splitlines() if line.startswith("www.example.com. ")]
        assert www and all(line.endswith(" secure") for line in www), www
        assert re.search(r"nonexistent\.example\.com\. \d+ NXDOMAIN secure", out), out
        # flush NAME: the next question goes to the lab again.
        lab.reset_counters()
        rc, out, _ = ctl(sock, "flush", "www.example.com")
        assert rc == 0 and "removed" in out
        ask(where, "www.example.com")
        ns = [lab.server("ns1.example.com"), lab.server("ns2.example.com")]
        assert sum(s.count(name="www.example.com") for s in ns) == 1
        # A question answered without a cache lookup (class CH: REFUSED) is counted under a
        # key that a stats parser or Prometheus label can carry.
        assert ask(where, "version.bind", "TXT", rdclass="CH").rcode() == dns.rcode.REFUSED
        assert ask(where, "www.example.com").answer  # a hit again: rendered and kept
        stats = dict(line.split(" ", 1) for line in ctl(sock, "stats")[1].splitlines())
        assert stats["cache_none"] == "1" and not [k for k in stats if "-" in k]
        rc, out, _ = ctl(sock, "flush-all")
        m = re.fullmatch(
            r"removed (\d+) rrsets, (\d+) negative answers, (\d+) rendered answers "
            r"and (\d+) server \(RTT\) entries\n",
            out,
        )
        assert rc == 0 and m is not None, out
        rrsets, negative, wire, infra = map(int, m.groups())
        assert rrsets > 0 and negative >= 1 and wire >= 1 and infra > 0
        assert rrsets + negative == int(stats["cache_entries"])
        assert ctl(sock, "stats")[1].splitlines()[1] == "cache_entries 0"
        rc, out, _ = ctl(sock, "flush-all")
        assert out.startswith("removed 0 rrsets, 0 negative answers, 0 rendered answers and 0 ")
        # reload: ok, then a broken file reported with status 1.
        rc, out, _ = ctl(sock, "reload")
        assert rc == 0 and "reloaded" in out and "warning" not in out
        assert proc.config_path is not None
        # What waits for a restart is told to the ctl user, not only to the log.
        proc.config_path.write_text(lab_config(lab, extra, ["127.0.0.1:0", "127.0.0.2:0"]))
        rc, out, _ = ctl(sock, "reload")
        assert rc == 0 and "reloaded" in out, out
        assert "warning: server.listen applies at the next restart only" in out.splitlines()
        assert len(out.splitlines()) == 2
        proc.config_path.write_text(lab_config(lab, "workers = 'two'\n", ["127.0.0.1:0"]))
        rc, _, err = ctl(sock, "reload")
        assert rc == 1 and "server.workers" in err
        assert ctl(sock, "flush")[0] == 1  # usage error
        # Prometheus text format.
        with urllib.request.urlopen(metrics, timeout=5) as r:  # noqa: S310 (loopback)
            body = r.read().decode()
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert 'rootwalk_queries_total{transport="udp"}' in body
        assert 'rootwalk_responses_total{rcode="NXDOMAIN"} 1' in body
        assert "# TYPE rootwalk_cache_entries gauge" in body
        assert 'rootwalk_resolutions_shed_total{how="new"} 0' in body
        assert "rootwalk_upstream_queries_total " in body
        assert 'rootwalk_cache_results_total{result="none"} 1' in body
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(metrics.replace("/metrics", "/"), timeout=5)  # noqa: S310
    finally:
        assert proc.stop() == 0
    assert not sock.exists()  # removed on exit
    assert "Traceback" not in proc.stderr


def test_ctl_without_a_server(tmp_path: Path) -> None:
    rc, _, err = ctl(tmp_path / "nothing.sock", "stats")
    assert rc == 2 and "cannot reach" in err
    p = run_cli(["ctl", "stats"])  # the default socket (in the test's run directory)
    assert p.returncode == 2 and "control.sock" in p.stderr and "running" in p.stderr


def test_control_and_metrics_with_workers(lab: Lab, tmp_path: Path) -> None:
    # Accepted with several workers (the supervisor serves both; tests/server/test_workers.py).
    path = tmp_path / "r.toml"
    extra = (
        f'workers = 2\ncontrol_socket = "{tmp_path / "c.sock"}"\nmetrics_listen = "127.0.0.1:0"\n'
    )
    path.write_text(extra.join(["[server]\n", ""]))
    p = run_cli(["check-config", str(path)])
    assert p.returncode == 0 and p.stdout == "ok\n", p.stderr
    # A control socket that cannot be created: one line naming the key, nothing started.
    bad = tmp_path / "no-such-dir" / "c.sock"
    path.write_text(lab_config(lab, f'workers = 2\ncontrol_socket = "{bad}"\n', ["127.0.0.1:0"]))
    p = run_cli(["serve", "--config", str(path)])
    assert p.returncode == 2 and "server.control_socket" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "listening" not in p.stderr, p.stderr


def test_metrics_port_in_use(lab: Lab, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = tmp_path / "r.toml"
        path.write_text(lab_config(lab, f'metrics_listen = "127.0.0.1:{port}"\n', ["127.0.0.1:0"]))
        p = run_cli(["serve", "--config", str(path)])
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0]
