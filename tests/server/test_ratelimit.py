"""Client rate limiting (``server.client_rate_limit``) through ``rootwalk serve``, and the
token buckets' own logic (server/ratelimit.py).

Clients are told apart by their source address: each test binds its client sockets to
different loopback addresses (127.0.0.2, 127.0.0.3, ...). Floods are bounded in count (well
under what the server's UDP receive queue holds, so the kernel drops none of them) and every
wait has a deadline.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from collections import Counter
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from rootwalk.config import load_config
from rootwalk.errors import ConfigError
from rootwalk.lab import Lab
from rootwalk.server.ratelimit import ClientRateLimit, truncated_reply

from .conftest import ServeProcess, ask, run_cli, start_server

FLOOD = 200  # questions; the server's default receive queue holds about 300


def stats(sock: Path) -> dict[str, int]:
    p = run_cli(["ctl", "--socket", str(sock), "stats"])
    assert p.returncode == 0, p.stderr
    return {k: int(v) for k, v in (line.split(" ", 1) for line in p.stdout.splitlines()[1:])}


def serve(lab: Lab, tmp: Path, settings: str) -> tuple[ServeProcess, Path]:
    sock = tmp / "ctl.sock"
    extra = f'control_socket = "{sock}"\nmetrics_listen = "127.0.0.1:0"\n{settings}\n'
    return start_server(lab, tmp, extra, listen=["127.0.0.1:0"]), sock


def client(source: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    return s


def query_wire(qid: int, name: str = "www.example.com", edns: bool = False) -> bytes:
    q = dns.message.make_query(name, "A", use_edns=0 if edns else False)
    q.id = qid
    return q.to_wire()


def ask_from(source: str, where: tuple[str, int], timeout: float = 5.0) -> dns.message.Message:
    q = dns.message.make_query("www.example.com", "A")
    return dns.query.udp(q, where[0], port=where[1], timeout=timeout, source=source)


def flood(
    where: tuple[str, int], source: str, count: int, other: str | None = None
) -> tuple[Counter[str], float, int]:
    """``count`` questions from ``source`` as fast as they go, and one question from ``other``
    after every 20 (waiting for its answer). Returns the flood's answers by kind ("answer",
    "tc"), the seconds from the first question to the last answer, and how many of
    ``other``'s questions were answered with the address."""
    got: Counter[str] = Counter()
    served = 0
    with client(source) as s:
        s.setblocking(False)
        started = time.monotonic()
        last = started
        for i in range(count):
            s.sendto(query_wire(i), where)
            if other is not None and i % 20 == 19:
                r = ask_from(other, where)
                served += r.rcode() == dns.rcode.NOERROR and bool(r.answer)
        s.settimeout(1.0)  # the last answer is long sent by then: the flood is answered inline
        try:
            while True:
                r = dns.message.from_wire(s.recv(4096))
                got["tc" if r.flags & dns.flags.TC else "answer"] += 1
                last = time.monotonic()
                if got.total() == count:
                    break
        except TimeoutError:
            pass
    return got, last - started, served


def test_a_flooding_client_is_dropped_while_others_are_served(lab: Lab, tmp_path: Path) -> None:
    rate, burst = 20, 10
    proc, sock = serve(
        lab,
        tmp_path,
        f"client_rate_limit = {rate}\nclient_rate_burst = {burst}\nclient_rate_prefix_v6 = 56",
    )
    where = proc.addresses[0]
    try:
        assert ask(where, "www.example.com").answer  # cached: the flood hits the fast path
        got, window, served = flood(where, "127.0.0.2", FLOOD, other="127.0.0.3")
        assert served == FLOOD // 20  # the other client: every question answered
        assert got["tc"] == 0
        # The bucket's depth, plus what the rate refilled while the flood lasted.
        assert burst <= got["answer"] <= burst + rate * window + 1, (got, window)
        counted = stats(sock)
        assert counted["dropped_ratelimit"] == FLOOD - got["answer"], counted
        assert counted.get("truncated_ratelimit", 0) == 0, counted
        found = proc.find(r"metrics on (http://\S+/metrics)")
        assert found is not None, proc.stderr
        with urllib.request.urlopen(found.group(1), timeout=5) as r:  # noqa: S310 (loopback)
            text = r.read().decode()
        dropped = FLOOD - got["answer"]
        assert f'rootwalk_dropped_total{{reason="ratelimit"}} {dropped}' in text, text
        # TCP is not limited: the flooder is answered there at once.
        for _ in range(3):
            r = dns.query.tcp(
                dns.message.make_query("www.example.com", "A"),
                where[0],
                port=where[1],
                timeout=5,
                source="127.0.0.2",
            )
            assert r.answer, r
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_truncate_answers_tc_and_the_client_retries_over_tcp(lab: Lab, tmp_path: Path) -> None:
    # 0.1 per second: no token comes back during the test (it would take 10 s).
    proc, sock = serve(
        lab,
        tmp_path,
        "client_rate_limit = 0.1\nclient_rate_burst = 2\n"
        'client_rate_action = "truncate"\naccess_control = ["127.0.0.5/32 deny"]',
    )
    where = proc.addresses[0]
    try:
        assert ask_from("127.0.0.4", where).answer  # a client of its own warms the cache
        with client("127.0.0.2") as s:
            s.settimeout(5)
            answers = []
            for i in range(5):
                s.sendto(query_wire(100 + i, edns=i % 2 == 1), where)
                answers.append(dns.message.from_wire(s.recv(4096)))
        assert [bool(r.flags & dns.flags.TC) for r in answers] == [False, False, True, True, True]
        for i, r in enumerate(answers[2:], start=2):
            assert r.id == 100 + i and r.rcode() == dns.rcode.NOERROR and not r.answer
            assert str(r.question[0].name) == "www.example.com." and r.flags & dns.flags.RA
            assert (r.edns == 0) == (i % 2 == 1), r  # OPT only when the question had one
        # What a stub does with TC=1: the same question over TCP, answered in full.
        r = dns.query.udp_with_fallback(
            dns.message.make_query("www.example.com", "A"),
            where[0],
            port=where[1],
            timeout=5,
            source="127.0.0.2",
        )
        assert r[1] and r[0].answer, r  # (answer, came over TCP)
        assert ask_from("127.0.0.3", where).answer  # its neighbour is not limited
        # A denied client gets nothing, over its rate or not: never the TC=1 answer.
        with client("127.0.0.5") as s:
            for i in range(3):
                s.sendto(query_wire(i), where)
            s.settimeout(0.5)
            with pytest.raises(TimeoutError):
                s.recv(4096)
        counted = stats(sock)
        assert counted["truncated_ratelimit"] == 4, counted  # 3 + the fallback's UDP try
        assert counted["dropped_ratelimit"] == 1, counted  # the denied client's third
        assert counted["dropped_acl"] == 2, counted
        found = proc.find(r"metrics on (http://\S+/metrics)")
        assert found is not None, proc.stderr
        with urllib.request.urlopen(found.group(1), timeout=5) as r:  # noqa: S310 (loopback)
            assert "rootwalk_truncated_ratelimit_total 4\n" in r.read().decode()
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_a_prefix_shares_one_bucket(lab: Lab, tmp_path: Path) -> None:
    proc, _ = serve(
        lab,
        tmp_path,
        "client_rate_limit = 0.1\nclient_rate_burst = 2\nclient_rate_prefix_v4 = 24\n"
        'client_rate_action = "truncate"',
    )
    where = proc.addresses[0]
    try:
        assert not ask_from("127.0.0.2", where).flags & dns.flags.TC
        assert not ask_from("127.0.0.3", where).flags & dns.flags.TC
        assert ask_from("127.0.0.4", where).flags & dns.flags.TC  # same /24: bucket empty
        assert not ask_from("127.0.1.2", where).flags & dns.flags.TC  # another /24
    finally:
        assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_off_by_default(udp4: tuple[str, int]) -> None:
    assert ask(udp4, "www.example.com").answer
    got, _, _ = flood(udp4, "127.0.0.2", FLOOD)
    assert got == Counter(answer=FLOOD)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("client_rate_limit = -1", "server.client_rate_limit"),
        ("client_rate_burst = -1", "server.client_rate_burst"),
        ("client_rate_prefix_v4 = 33", "server.client_rate_prefix_v4"),
        ("client_rate_prefix_v6 = 129", "server.client_rate_prefix_v6"),
        ('client_rate_action = "slip"', "server.client_rate_action"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(f"[server]\n{line}\n")
    with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
        load_config(path)
    p = run_cli(["check-config", str(path)])
    assert p.returncode == 2 and f"'{key}'" in p.stderr and p.stderr.count("\n") == 1, p.stderr


# -- the buckets' logic (a fake clock) -------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **kw: int) -> ClientRateLimit:
    args = {"rate": 2, "burst": 3, "prefix_v4": 32, "prefix_v6": 128, **kw}
    return ClientRateLimit(
        args["rate"],
        args["burst"],
        args["prefix_v4"],
        args["prefix_v6"],
        truncate=True,
        stats=Counter(),
        edns_payload=1232,
        max_clients=kw.get("max_clients", 100),
        clock=clock,
    )


def test_bucket_refills_at_the_rate_up_to_the_burst() -> None:
    clock = Clock()
    rl = limiter(clock)
    assert [rl.allow("192.0.2.1") for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back at 2 per second
    assert [rl.allow("192.0.2.1") for _ in range(2)] == [True, False]
    clock.now += 3600  # idle for long: a full bucket, not more
    assert [rl.allow("192.0.2.1") for _ in range(4)] == [True, True, True, False]


def test_burst_zero_is_twice_the_rate() -> None:
    rl = limiter(Clock(), burst=0, rate=5)
    assert sum(rl.allow("192.0.2.1") for _ in range(20)) == 10


def test_prefixes_group_addresses() -> None:
    rl = limiter(Clock(), burst=1, prefix_v4=24, prefix_v6=56)
    assert rl.allow("192.0.2.1") and not rl.allow("192.0.2.200")
    assert rl.allow("::ffff:192.0.3.1") and not rl.allow("192.0.3.9")  # IPv4-mapped: IPv4
    assert rl.allow("2001:db8:0:1::1") and not rl.allow("2001:db8:0:ff::2")  # one /56
    assert rl.allow("2001:db8:0:100::1")


def test_the_table_is_bounded_and_forgets_refilled_buckets_first() -> None:
    clock = Clock()
    rl = limiter(clock, max_clients=8, burst=2, rate=1)
    rl.rate = 0.5  # a bucket with one token taken refills in 2 s
    for i in range(8):
        rl.allow(f"192.0.2.{i}")
        clock.now += 0.1
    clock.now += 1.35  # 2.15 s after .0's question: .0 and .1 have refilled, .2 not quite
    rl.allow("192.0.2.100")
    assert sorted(rl.buckets) == sorted(f"192.0.2.{i}" for i in (*range(2, 8), 100))
    rl.allow("198.51.100.1")  # 8 now: full
    # With none refilled, the least recently seen go (an eighth of the table).
    rl.allow("198.51.100.2")
    assert len(rl.buckets) == 8 and "192.0.2.2" not in rl.buckets and "192.0.2.3" in rl.buckets


def test_truncated_reply_needs_one_plain_question() -> None:
    q = query_wire(7)
    assert truncated_reply(q[:14], 1232) is None  # cut in the name
    assert truncated_reply(bytes([q[0], q[1], q[2] | 0x80]) + q[3:], 1232) is None  # QR=1
    r = dns.message.from_wire(truncated_reply(q, 1232) or b"")
    assert r.id == 7 and r.flags & dns.flags.TC and r.flags & dns.flags.QR and r.edns < 0
