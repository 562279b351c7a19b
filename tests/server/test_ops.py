"""Operating ``rootwalk serve``: access control, bind failures, signals, reload, TCP limits."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from rootwalk.lab import Faults, Lab

from .conftest import ROOTWALK, ServeProcess, ask, lab_config, run_cli, start_server


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def one(lab: Lab, tmp: Path) -> Iterator[ServeProcess]:
    """A server on 127.0.0.1 only, with a short TCP idle timeout and few connections."""
    extra = "tcp_idle_timeout = 0.5\nmax_tcp_connections = 4\nquery_log = true\n"
    proc = start_server(lab, tmp, extra, listen=["127.0.0.1:0"])
    yield proc
    proc.stop()
    assert "Traceback" not in proc.stderr


def test_access_control_refuses_and_denies(lab: Lab, tmp: Path) -> None:
    extra = 'access_control = ["127.0.0.0/8 refuse", "127.0.0.1/32 deny"]\n'
    proc = start_server(lab, tmp, extra, listen=["127.0.0.1:0", "127.0.0.2:0"])
    try:
        denied, refused = proc.addresses
        lab.reset_counters()
        # Replies go from the listener's address to the client's: bind the client to choose.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.2", 0))
            q = dns.message.make_query("www.example.com", "A", use_edns=0)
            r = dns.query.udp(q, refused[0], port=refused[1], timeout=5, sock=s)
        assert r.rcode() == dns.rcode.REFUSED
        assert [o.code for o in r.options if isinstance(o, dns.edns.EDEOption)] == [18]
        with pytest.raises(dns.exception.Timeout):
            ask(denied, "www.example.com", timeout=0.5)  # from 127.0.0.1: dropped
        assert lab.server("a.root-servers.net").count() == 0  # no resolution started
    finally:
        assert proc.stop() == 0


def test_tcp_idle_timeout(one: ServeProcess) -> None:
    where = one.addresses[0]
    started = time.monotonic()
    with socket.create_connection(where, timeout=5) as s:
        assert s.recv(10) == b""  # closed by the server
    assert 0.3 < time.monotonic() - started < 4


def test_tcp_connection_limit(one: ServeProcess) -> None:
    """At the limit a new connection evicts the one idle the longest (RFC 7766 §6.2.3)."""
    where = one.addresses[0]
    q = dns.message.make_query("www.example.com", "A")
    wire = q.to_wire()
    framed = len(wire).to_bytes(2, "big") + wire
    held: list[socket.socket] = []
    try:
        for _ in range(4):
            s = socket.create_connection(where, timeout=5)
            held.append(s)
            s.sendall(framed)
            assert len(s.recv(2048)) > 2  # served, so counted by the server
        with socket.create_connection(where, timeout=5) as extra:
            extra.sendall(framed)
            assert len(extra.recv(2048)) > 2  # served: the table made room
        assert held[0].recv(2048) == b""  # the idlest (oldest) one was closed for it
        held[1].sendall(framed)
        assert len(held[1].recv(2048)) > 2  # the others are still served
    finally:
        for s in held:
            s.close()


def test_query_log(one: ServeProcess) -> None:
    ask(one.addresses[0], "www.example.com", "AAAA")
    m = one.wait_for(r"query 127\.0\.0\.1:\d+ udp www\.example\.com\. AAAA NOERROR [\d.]+ms")
    assert "cache=" in m.string


def test_bind_failure_is_one_line_and_status_2(tmp: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        p = run_cli(["serve", "--listen", "127.0.0.1:0", "--listen", f"127.0.0.1:{port}"])
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0]
    assert "--listen 127.0.0.1:5300" in lines[0]
    p = run_cli(["serve", "--listen", "192.0.2.1:5300"])
    assert p.returncode == 2 and "192.0.2.1:5300" in p.stderr and "not an address" in p.stderr


def test_port_53_without_privilege() -> None:
    cmd = [*ROOTWALK, "serve", "--listen", "127.0.0.1:53"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is missing to drop the right")
        drop = ["--bounding-set=-net_bind_service", "--inh-caps=-net_bind_service"]
        cmd = [setpriv, *drop, "--", *cmd]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("this system lets anyone bind port 53 (ip_unprivileged_port_start)")
    if p.returncode == 2 and "in use" in p.stderr:
        pytest.skip("something already serves 127.0.0.1:53")
    if p.returncode == 0 or "listening on" in p.stderr:
        pytest.skip("this system lets anyone bind port 53 (ip_unprivileged_port_start)")
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "127.0.0.1:53" in lines[0] and "permission denied" in lines[0]
    assert "--listen 127.0.0.1:5300" in lines[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_cleanly(lab: Lab, tmp: Path, sig: signal.Signals) -> None:
    proc = start_server(lab, tmp, listen=["127.0.0.1:0"])
    assert ask(proc.addresses[0], "www.example.com").answer
    proc.signal(sig)
    assert proc.proc.wait(10) == 0
    proc.stop()
    assert "stopped" in proc.stderr and "Traceback" not in proc.stderr


def test_sigterm_finishes_questions_in_progress(lab: Lab, tmp: Path) -> None:
    proc = start_server(lab, tmp, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    lab.reset_counters()
    for srv in ("ns1.example.net", "ns2.example.net"):
        lab.server(srv).faults = Faults(delay=0.3)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            q = dns.message.make_query("www.example.org", "A")
            s.sendto(q.to_wire(), where)
            # Signal only once the resolution is under way (bounded wait on the lab's counters).
            deadline = time.monotonic() + 5
            while (
                lab.server("a.root-servers.net").count() + lab.server("b.root-servers.net").count()
                == 0
            ):
                assert time.monotonic() < deadline, "the question never reached the lab"
                time.sleep(0.005)
            started = time.monotonic()
            proc.signal(signal.SIGTERM)
            r = dns.message.from_wire(s.recv(4096))
        assert r.id == q.id  # answered (or failed) after SIGTERM, not dropped
        assert proc.proc.wait(10) == 0
        assert time.monotonic() - started < 5
    finally:
        lab.clear_faults()
        proc.stop()


def test_sighup_reloads_and_keeps_the_cache(lab: Lab, tmp: Path) -> None:
    proc = start_server(lab, tmp, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    path = proc.config_path
    assert path is not None
    try:
        assert ask(where, "mail.example.com").answer
        lab.reset_counters()
        # 1. A valid change (query log on) applies; the cache survives.
        path.write_text(lab_config(lab, "query_log = true\n", ["127.0.0.1:0"]))
        proc.signal(signal.SIGHUP)
        proc.wait_for("configuration reloaded")
        assert ask(where, "mail.example.com").answer
        proc.wait_for(r"query 127\.0\.0\.1:\d+ udp mail\.example\.com\. A NOERROR .* cache=hit")
        assert lab.server("ns1.example.com").count() + lab.server("ns2.example.com").count() == 0
        # 2. A broken file is reported; the running configuration stays.
        path.write_text(lab_config(lab, "max_tcp_connections = 'lots'\n", ["127.0.0.1:0"]))
        proc.signal(signal.SIGHUP)
        m = proc.wait_for("reload failed")
        assert "server.max_tcp_connections" in m.string
        assert ask(where, "www.example.com").rcode() == dns.rcode.NOERROR
        # 3. A new access list applies at once.
        path.write_text(
            lab_config(lab, 'access_control = ["127.0.0.0/8 refuse"]\n', ["127.0.0.1:0"])
        )
        proc.signal(signal.SIGHUP)
        proc.wait_for("configuration reloaded")
        assert ask(where, "www.example.com").rcode() == dns.rcode.REFUSED
        assert proc.proc.poll() is None
    finally:
        assert proc.stop() == 0
    assert "Traceback" not in proc.stderr


def test_flags_override_the_file(lab: Lab, tmp: Path) -> None:
    path = tmp / "r.toml"
    # The file names the wrong upstream port and hints; the flags fix both.
    path.write_text(
        '[resolver]\nupstream_port = 9\nupstream_allow = ["127.0.0.0/8"]\n'
        "do_not_query_localhost = false\n"
        f'[dnssec]\ntrust_anchor_file = "{lab.trust_anchor_path}"\n'
    )
    proc = ServeProcess(
        [
            "serve",
            "--config",
            str(path),
            "--listen",
            "127.0.0.1:0",
            "--root-hints",
            str(lab.root_hints_path),
            "--upstream-port",
            str(lab.port),
            "--no-qname-minimisation",
        ]
    )
    try:
        (where,) = proc.wait_listening(1)
        lab.reset_counters()
        assert ask(where, "www.example.com").answer
        # Without minimisation the root is asked the full name.
        roots = [lab.server("a.root-servers.net"), lab.server("b.root-servers.net")]
        assert sum(s.count(name="www.example.com") for s in roots) >= 1
    finally:
        assert proc.stop() == 0


def test_sighup_applies_resolver_settings_live_and_keeps_the_cache(lab: Lab, tmp: Path) -> None:
    proc = start_server(lab, tmp, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    path = proc.config_path
    assert path is not None
    roots = [lab.server("a.root-servers.net"), lab.server("b.root-servers.net")]
    try:
        assert ask(where, "www.example.com").answer  # walked with QNAME minimisation
        text = lab_config(lab, listen=["127.0.0.1:0"]).replace(
            "do_not_query_localhost = false\n",
            "do_not_query_localhost = false\nqname_minimisation = false\n",
        )
        path.write_text(text)
        lab.reset_counters()
        proc.signal(signal.SIGHUP)
        proc.wait_for("configuration reloaded")
        assert ask(where, "www.example.com").answer  # still cached: nothing sent
        assert sum(s.count() for s in lab.servers.values()) == 0
        assert ask(where, "www.example.net").answer  # a new walk, now with full names
        asked = {q.qname.to_text().lower() for s in roots for q in s.queries}
        assert "www.example.net." in asked
    finally:
        assert proc.stop() == 0
    assert "Traceback" not in proc.stderr
