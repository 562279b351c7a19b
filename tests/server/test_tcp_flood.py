"""A flood of idle and half-sent TCP connections must not lock new clients out (RFC 7766
§6.2.3: under pressure the idlest connections are closed first)."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from rootwalk.lab import Lab

from .conftest import ask, run_cli, start_server

TABLE = 32  # server.max_tcp_connections for the test
FLOOD = 300  # connections opened and left idle or half-sent: far beyond the table
IDLE = 3.0  # server.tcp_idle_timeout
SLACK = 2.0  # seconds a busy machine may add to it (never the next multiple of IDLE)


def stats(sock: Path) -> dict[str, int]:
    out = run_cli(["ctl", "--socket", str(sock), "stats"]).stdout
    return {k: int(v) for k, v in (line.split(" ", 1) for line in out.splitlines())}


def test_flood_of_idle_connections(lab: Lab, tmp_path: Path) -> None:
    ctl = tmp_path / "ctl.sock"
    extra = (
        f"max_tcp_connections = {TABLE}\ntcp_idle_timeout = {IDLE}\n"
        f'control_socket = "{ctl}"\nmetrics_listen = "127.0.0.1:0"\n'
    )
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    where = proc.addresses[0]
    flood: list[tuple[float, socket.socket]] = []
    try:
        assert ask(where, "www.example.com").answer  # cached
        for i in range(FLOOD):
            opened = time.monotonic()
            s = socket.create_connection(where, timeout=5)
            if i % 3 == 1:
                s.sendall(b"\x00")  # half a length prefix
            elif i % 3 == 2:
                s.sendall(b"\x00\x20" + b"\x12\x34\x01\x00")  # a length, then part of it
            flood.append((opened, s))
        # A real client, while all of that is held open: answered over TCP within a second.
        q = dns.message.make_query("www.example.com", "A")
        asked = time.monotonic()
        r = dns.query.tcp(q, where[0], port=where[1], timeout=1.0)
        assert time.monotonic() - asked < 1.0
        assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "192.0.2.1"
        counters = stats(ctl)
        assert counters.get("tcp_rejected", 0) == 0, counters
        # Room was made by evicting the idlest; how many timed out instead depends on the
        # pace of the flood (the idle timeout shrinks to 0.5 s as the table fills).
        assert counters["tcp_evicted"] > 0, counters
        assert counters["tcp_connections"] <= TABLE
        found = proc.find(r"metrics on (http://\S+/metrics)")
        assert found is not None
        with urllib.request.urlopen(found.group(1), timeout=5) as resp:
            text = resp.read().decode()
        assert f'rootwalk_tcp_closed_total{{reason="evicted"}} {counters["tcp_evicted"]}' in text
        # Every flood connection is closed by the server within the normal idle timeout, plus
        # SLACK for the server to accept and sweep it on a busy machine (the suite's other
        # worker may be running a headless Chromium on the same 2 CPUs).
        for opened, s in flood:
            left = opened + IDLE + SLACK - time.monotonic()
            assert left > 0, "a flood connection outlived the idle timeout"
            s.settimeout(left)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass  # closed with unread data: as good
    finally:
        for _opened, s in flood:
            s.close()
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr
