"""``rootwalk serve`` as a real process in front of the lab, asked over UDP and TCP."""

from __future__ import annotations

import importlib.util
import socket
import struct
import time
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.lab import Faults, Lab

from .conftest import HAVE_IPV6, ServeProcess, ask, start_server


def raw_udp(where: tuple[str, int], wire: bytes, timeout: float = 2.0) -> bytes | None:
    family = socket.AF_INET6 if ":" in where[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, where)
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


def tcp_connect(where: tuple[str, int], timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection(where, timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_msg(s: socket.socket) -> dns.message.Message:
    (length,) = struct.unpack("!H", recv_exact(s, 2))
    return dns.message.from_wire(recv_exact(s, length))


def frame(q: dns.message.Message) -> bytes:
    wire = q.to_wire()
    return struct.pack("!H", len(wire)) + wire


# -- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_lab_names(udp4: tuple[str, int], tcp: bool) -> None:
    r = ask(udp4, "www.example.com", "A", tcp=tcp)
    assert r.rcode() == dns.rcode.NOERROR
    assert [rd.address for rd in r.answer[0]] == ["192.0.2.1"]
    assert r.flags & dns.flags.RA and r.flags & dns.flags.RD and not r.flags & dns.flags.AA
    r = ask(udp4, "www.example.com", "AAAA", tcp=tcp)
    assert r.answer[0][0].address == "2001:db8::1"
    r = ask(udp4, "alias.example.com", "A", tcp=tcp)
    assert [x.rdtype for x in r.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    r = ask(udp4, "nonexistent.example.com", "A", tcp=tcp)
    assert r.rcode() == dns.rcode.NXDOMAIN and r.authority[0].rdtype == dns.rdatatype.SOA
    r = ask(udp4, "nodata.example.com", "A", tcp=tcp)
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    r = ask(udp4, "anything.wild.example.com", "A", tcp=tcp)
    assert r.answer[0][0].address == "192.0.2.99"
    r = ask(udp4, "www.example.org", "A", tcp=tcp)
    assert r.answer[0][0].address == "192.0.2.50"


@pytest.mark.skipif(not HAVE_IPV6, reason="no IPv6 loopback here")
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_ipv6_listener(server: ServeProcess, tcp: bool) -> None:
    where = server.addresses[1]
    assert where[0] == "::1"
    for _ in range(3):  # resolved or cached, then kept, then from rendered bytes (fast path)
        r = ask(where, "www.example.com", "A", tcp=tcp)
        assert r.answer[0][0].address == "192.0.2.1"


def test_client_case_and_id_echoed(udp4: tuple[str, int]) -> None:
    q = dns.message.make_query("wWw.ExAmple.COM", "A")
    q.id = 4242
    wire = raw_udp(udp4, q.to_wire())
    assert wire is not None and b"\x03wWw\x07ExAmple\x03COM\x00" in wire
    assert struct.unpack("!H", wire[:2])[0] == 4242


def test_servfail_with_ede(udp4: tuple[str, int]) -> None:
    r = ask(udp4, "host.lame.test", "A", use_edns=0)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert any(isinstance(o, dns.edns.EDEOption) for o in r.options)
    r = ask(udp4, "host.lame.test", "A", use_edns=False)
    assert r.rcode() == dns.rcode.SERVFAIL and r.edns == -1


# -- EDNS and truncation --------------------------------------------------------------------


def test_edns(udp4: tuple[str, int]) -> None:
    r = ask(udp4, "www.example.com", use_edns=0, payload=4096)
    assert r.edns == 0 and r.payload == 1232
    r = ask(udp4, "www.example.com", use_edns=False)
    assert r.edns == -1 and not r.additional
    r = ask(udp4, "www.example.com", use_edns=1)
    assert r.rcode() == dns.rcode.BADVERS and r.edns == 0


def test_big_answer_truncated_over_udp_whole_over_tcp(udp4: tuple[str, int]) -> None:
    for edns in (False, 0):
        r = ask(udp4, "big.example.com", "TXT", use_edns=edns)
        assert r.flags & dns.flags.TC and not r.answer
    r = ask(udp4, "big.example.com", "TXT", tcp=True)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) >= 10
    r, used_tcp = dns.query.udp_with_fallback(
        dns.message.make_query("big.example.com", "TXT"), udp4[0], port=udp4[1], timeout=5
    )
    assert used_tcp and len(r.answer[0]) >= 10


# -- question kinds -------------------------------------------------------------------------


def test_any_is_minimal(udp4: tuple[str, int]) -> None:
    r = ask(udp4, "www.example.com", "ANY")
    assert r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1
    r = ask(udp4, "nodata.example.com", "ANY")
    assert r.answer[0].rdtype == dns.rdatatype.HINFO


def test_rd0_answered_from_cache_only(lab: Lab, udp4: tuple[str, int]) -> None:
    assert ask(udp4, "example.com", "MX").answer  # the example.com cut is now cached
    name = "mail.example.com"
    q = dns.message.make_query(name, "A", use_edns=0)
    q.flags &= ~dns.flags.RD
    lab.reset_counters()
    r = dns.query.udp(q, *udp4[:1], port=udp4[1], timeout=5)
    # Not cached: a referral to example.com's servers (Unbound answers RD=0 so too).
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and not r.flags & dns.flags.RD
    assert r.authority[0].name == dns.name.from_text("example.com.")
    assert r.authority[0].rdtype == dns.rdatatype.NS
    glue = {rd.address for rrset in r.additional for rd in rrset}
    assert glue == {lab.server("ns1.example.com").address, lab.server("ns2.example.com").address}
    assert lab.server("ns1.example.com").count() + lab.server("ns2.example.com").count() == 0
    assert ask(udp4, name).answer  # now resolved with RD=1 and cached
    r = dns.query.udp(q, *udp4[:1], port=udp4[1], timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "192.0.2.25"


@pytest.mark.parametrize(
    ("rdclass", "rdtype", "rcode"),
    [
        ("CH", "TXT", dns.rcode.REFUSED),
        ("IN", "AXFR", dns.rcode.REFUSED),
        ("IN", "MAILA", dns.rcode.NOTIMP),
    ],
)
def test_other_classes_and_meta_types(
    udp4: tuple[str, int], rdclass: str, rdtype: str, rcode: int
) -> None:
    q = dns.message.make_query("version.bind", rdtype, rdclass)
    r = dns.query.udp(q, udp4[0], port=udp4[1], timeout=5)
    assert r.rcode() == rcode


def test_malformed_and_other_opcodes(udp4: tuple[str, int]) -> None:
    good = dns.message.make_query("www.example.com", "A").to_wire()
    # Header readable, rest garbage: FORMERR with our ID.
    r = raw_udp(udp4, good[:12] + b"\xff\xff\xff")
    assert r is not None and r[:2] == good[:2] and r[3] & 0xF == dns.rcode.FORMERR
    # Two questions: FORMERR.
    two = bytearray(good + good[12:])
    two[5] = 2
    r = raw_udp(udp4, bytes(two))
    assert r is not None and r[3] & 0xF == dns.rcode.FORMERR
    # NOTIFY (opcode 4): NOTIMP.
    notify = bytearray(good)
    notify[2] = (notify[2] & 0x87) | (4 << 3)
    r = raw_udp(udp4, bytes(notify))
    assert r is not None and r[3] & 0xF == dns.rcode.NOTIMP
    # Too short, or a response: silence.
    assert raw_udp(udp4, good[:11], timeout=0.3) is None
    response = bytearray(good)
    response[2] |= 0x80
    assert raw_udp(udp4, bytes(response), timeout=0.3) is None
    assert ask(udp4, "www.example.com").answer  # and still serving


# -- TCP ------------------------------------------------------------------------------------


def test_tcp_pipelining_answers_out_of_order(lab: Lab, udp4: tuple[str, int]) -> None:
    assert ask(udp4, "www.example.com").answer  # cached
    slow = dns.message.make_query("slow1.wild.example.com", "A")
    fast = dns.message.make_query("www.example.com", "A")
    for srv in ("ns1.example.com", "ns2.example.com"):
        lab.server(srv).faults = Faults(delay=0.3)
    try:
        with tcp_connect(udp4) as s:
            s.sendall(frame(slow) + frame(fast))
            first, second = recv_msg(s), recv_msg(s)
    finally:
        lab.clear_faults()
    # The slow one may be answered or time out (the engine adapts its timeouts to the lab's
    # sub-millisecond RTTs); either way it comes second.
    assert first.id == fast.id and second.id == slow.id
    assert first.answer[0][0].address == "192.0.2.1"


def test_tcp_many_pipelined_on_one_connection(udp4: tuple[str, int]) -> None:
    queries = [dns.message.make_query(f"n{i}.wild.example.com", "A") for i in range(50)]
    with tcp_connect(udp4) as s:
        s.sendall(b"".join(frame(q) for q in queries))
        answers = {m.id: m for m in (recv_msg(s) for _ in queries)}
    assert {q.id for q in queries} == set(answers)
    assert all(a.answer[0][0].address == "192.0.2.99" for a in answers.values())


def test_tcp_garbage_closes_the_connection(udp4: tuple[str, int]) -> None:
    with tcp_connect(udp4) as s:
        s.sendall(b"\x00\x05hello")
        assert s.recv(10) == b""


# -- logging --------------------------------------------------------------------------------


def test_listening_lines(server: ServeProcess) -> None:
    lines = [line for line in server.lines if "listening on" in line]
    assert len(lines) == len(server.addresses)
    for (host, port), line in zip(server.addresses, lines, strict=True):
        name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        assert line.endswith(f"listening on {name} (udp, tcp)")


@pytest.mark.parametrize("loop", ["asyncio", "auto"])
def test_event_loops_serve_alike(lab: Lab, tmp_path: Path, loop: str) -> None:
    """Both loops answer, fast path included; "auto" means uvloop where it is installed."""
    proc = start_server(lab, tmp_path, f'event_loop = "{loop}"\n', listen=["127.0.0.1:0"])
    try:
        expected = "uvloop" if loop == "auto" and importlib.util.find_spec("uvloop") else "asyncio"
        assert proc.find(rf"event loop: {expected}$"), proc.stderr
        where = proc.addresses[0]
        answers = [ask(where, "alias.example.com") for _ in range(3)]  # miss, hit, fast hit
        for a in answers:
            assert [rr.to_text() for rr in a.answer[-1]] == ["192.0.2.1"]
    finally:
        assert proc.stop() == 0


def test_server_survives_many_clients(udp4: tuple[str, int]) -> None:
    deadline = time.monotonic() + 20
    socks = []
    try:
        for i in range(200):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            q = dns.message.make_query("www.example.com", "A")
            q.id = i
            s.sendto(q.to_wire(), udp4)
        got = 0
        for s in socks:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            if dns.message.from_wire(s.recv(2048)).answer:
                got += 1
        assert got == 200
    finally:
        for s in socks:
            s.close()
