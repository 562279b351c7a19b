"""Under overload, ``rootwalk serve`` answers what can still be used (issue #11).

Each test starts a real server with small overload settings (``server.max_inflight``,
``server.udp_rcvbuf``, ``server.client_deadline``) in front of the lab, makes a zone slow or
silent, and talks to it over loopback UDP. Floods are bounded in count; waits have deadlines.
"""

from __future__ import annotations

import signal
import socket
import time
import urllib.request
from pathlib import Path

import dns.exception
import dns.message
import dns.rcode
import pytest

from rootwalk.lab import Faults, Lab

from .conftest import ServeProcess, ask, run_cli, start_server

EXAMPLE_COM = ("ns1.example.com", "ns2.example.com")


def stats(sock: Path) -> dict[str, int]:
    p = run_cli(["ctl", "--socket", str(sock), "stats"])
    assert p.returncode == 0, p.stderr
    return {k: int(v) for k, v in (line.split(" ", 1) for line in p.stdout.splitlines()[1:])}


def wait_stat(sock: Path, key: str, at_least: int, timeout: float = 10.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        now = stats(sock)
        if now.get(key, 0) >= at_least or time.monotonic() > deadline:
            return now


def first_answer(
    where: tuple[str, int], name: str, within: float, every: float = 0.2
) -> dns.message.Message | None:
    """Ask as a stub does, again every ``every`` s, for at most ``within`` s: the answer or None."""
    q = dns.message.make_query(name, "A")
    deadline = time.monotonic() + within
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while (left := deadline - time.monotonic()) > 0:
            s.sendto(q.to_wire(), where)
            s.settimeout(min(every, left))
            try:
                data = s.recv(65535)
            except TimeoutError:
                continue
            return dns.message.from_wire(data)
    return None


def rx_queue(port: int) -> int:
    """Bytes waiting in the receive queue of the IPv4 UDP socket bound to ``port``."""
    # /proc/net/udp is read in pages: sockets opened and closed meanwhile (parallel tests)
    # can shift a line out of the read, so a missing line is read again.
    for _attempt in range(20):
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no UDP socket on port {port}")


def serve(lab: Lab, tmp: Path, server: str, limits: str = "") -> tuple[ServeProcess, Path]:
    sock = tmp / "ctl.sock"
    extra = f'control_socket = "{sock}"\n{server}\n[limits]\n{limits}\n'
    return start_server(lab, tmp, extra, listen=["127.0.0.1:0"]), sock


def test_an_answer_ready_after_the_deadline_is_dropped(lab: Lab, tmp_path: Path) -> None:
    # A resolution that ends after client_deadline (here the SERVFAIL of unreachable
    # authorities, after limits.total_timeout) is not sent: the stub has given up on it.
    proc, sock = serve(
        lab,
        tmp_path,
        'client_deadline = 0.5\nmetrics_listen = "127.0.0.1:0"',
        "total_timeout = 1.5",
    )
    where = proc.addresses[0]
    try:
        assert ask(where, "www.example.com").answer  # the delegation is cached
        for key in EXAMPLE_COM:
            lab.server(key).faults = Faults(silent=True)
        try:
            started = time.monotonic()
            with pytest.raises(dns.exception.Timeout):
                ask(where, "late.wild.example.com", timeout=3.0)
            assert time.monotonic() - started >= 3.0
        finally:
            lab.clear_faults()
        counted = wait_stat(sock, "dropped_late_answer", 1)
        assert counted["dropped_late_answer"] == 1, counted
        assert counted.get("rcode_SERVFAIL", 0) == 0, counted  # counted as dropped, not sent
        # A question answered in time is still answered, and the drop is in /metrics.
        assert ask(where, "www.example.org").rcode() == dns.rcode.NOERROR
        found = proc.find(r"metrics on (http://\S+/metrics)")
        assert found is not None, proc.stderr
        with urllib.request.urlopen(found.group(1), timeout=5) as r:
            text = r.read().decode()
        assert 'rootwalk_dropped_total{reason="late_answer"} 1' in text, text
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_a_full_table_drops_its_oldest_question_for_a_new_one(lab: Lab, tmp_path: Path) -> None:
    proc, sock = serve(
        lab, tmp_path, "max_inflight = 4", "jostle_timeout = 0.1\ntotal_timeout = 3.5"
    )
    where = proc.addresses[0]
    try:
        assert ask(where, "www.example.com").answer
        assert ask(where, "www.example.org").answer
        for key in EXAMPLE_COM:
            lab.server(key).faults = Faults(silent=True)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i in range(4):  # fill the table with questions that will not end soon
                    q = dns.message.make_query(f"stuck{i}.wild.example.com", "A")
                    s.sendto(q.to_wire(), where)
                deadline = time.monotonic() + 5.0
                while rx_queue(where[1]) and time.monotonic() < deadline:
                    time.sleep(0.01)  # until the server has read them all
                read = time.monotonic()
                assert rx_queue(where[1]) == 0
                time.sleep(0.3)  # let them grow older than the jostle timeout (0.1 s)
                assert time.monotonic() - read < 2.0, "still waiting on their resolutions"
                # A new cache miss in a healthy zone gets a slot, and its answer.
                r = ask(where, "fresh.example.org", timeout=2.0)
        finally:
            lab.clear_faults()
        assert r.rcode() == dns.rcode.NXDOMAIN
        counted = stats(sock)
        assert counted.get("dropped_evicted") == 1 and counted.get("dropped_overload", 0) == 0, (
            counted
        )
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_a_short_receive_queue_recovers_at_once_after_a_stall(lab: Lab, tmp_path: Path) -> None:
    # The server stops reading (SIGSTOP: as a host too busy to schedule it) while a flood of
    # never-seen names arrives. With a deep kernel queue it would then work through thousands
    # of questions whose stubs are gone before it read the next live one (issue #11: 8.7 s).
    proc, _sock = serve(lab, tmp_path, "udp_rcvbuf = 65536")
    where = proc.addresses[0]
    try:
        line = proc.find(r"UDP receive queue on \S+: (\d+) bytes \(server.udp_rcvbuf 65536\)")
        assert line is not None, proc.stderr
        assert int(line.group(1)) == 2 * 65536  # the kernel doubles what it is asked for
        for _ in range(3):  # resolved, then kept rendered: a fast-path cache hit from now on
            assert ask(where, "www.example.com").answer
        assert ask(where, "www.example.org").answer  # the zone is known; names in it are not
        proc.signal(signal.SIGSTOP)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i in range(8000):
                    q = dns.message.make_query(f"flood{i}.wild.example.com", "A")
                    s.sendto(q.to_wire(), where)
            assert rx_queue(where[1]) <= 2 * 65536
        finally:
            proc.signal(signal.SIGCONT)
        resumed = time.monotonic()
        hit = first_answer(where, "www.example.com", within=1.0)
        assert hit is not None and hit.answer, f"no cache hit within 1 s of resuming: {hit}"
        fresh = first_answer(where, "after.example.org", within=1.0)
        assert fresh is not None and fresh.rcode() == dns.rcode.NXDOMAIN, fresh
        print(f"\nRECOVERY: both answered {time.monotonic() - resumed:.3f} s after resuming")
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("udp_rcvbuf = 100", "server.udp_rcvbuf"),
        ("udp_rcvbuf = -1", "server.udp_rcvbuf"),
        ("client_deadline = 0", "server.client_deadline"),
        ("client_deadline = 61", "server.client_deadline"),
    ],
)
def test_bad_overload_settings_are_refused(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'[server]\nlisten = ["127.0.0.1:0"]\n{line}\n')
    for command in (["check-config", str(path)], ["serve", "--config", str(path)]):
        p = run_cli(command)
        assert p.returncode == 2, p
        assert len(p.stderr.strip().splitlines()) == 1 and f"'{key}'" in p.stderr, p.stderr
