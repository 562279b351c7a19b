"""10,000 random and malformed messages over UDP and TCP; the server must keep answering."""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import time

import dns.edns
import dns.message
import dns.rcode

from .conftest import ServeProcess

SEED = 20240601
UDP_COUNT = 8000
TCP_CONNECTIONS = 40
TCP_PER_CONNECTION = 50  # 40 x 50 = 2,000 over TCP
TIME_BUDGET = 25.0


def base_queries() -> list[bytes]:
    out = []
    for name, rdtype in [
        ("www.example.com", "A"),
        ("alias.example.com", "AAAA"),
        ("big.example.com", "TXT"),
        ("x.wild.example.com", "ANY"),
        ("nonexistent.example.com", "MX"),
    ]:
        out.append(dns.message.make_query(name, rdtype).to_wire())
        cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01" * 8)
        q = dns.message.make_query(name, rdtype, use_edns=0, payload=4096, options=[cookie])
        out.append(q.to_wire())
    return out


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    wire = bytearray(rng.choice(seeds))
    kind = rng.randrange(10)
    if kind == 0:  # random bytes of random length
        return rng.randbytes(rng.randrange(0, 600))
    if kind == 1:  # truncated
        return bytes(wire[: rng.randrange(0, len(wire))])
    if kind == 2:  # random header counts
        struct.pack_into("!HHHH", wire, 4, *(rng.choice([0, 1, 2, 255, 65535]) for _ in range(4)))
    elif kind == 3:  # random flags and opcode, QR kept clear so that it is parsed
        wire[2] = rng.randrange(256) & 0x7F
        wire[3] = rng.randrange(256)
    elif kind == 4:  # compression pointer loop in the question
        wire = wire[:12] + bytearray(b"\xc0\x0c\x00\x01\x00\x01")
    elif kind == 5:  # label longer than the message
        wire[12] = rng.choice([63, 64, 0x3F, 0x7F, 0xBF])
    elif kind == 6:  # trailing garbage
        wire += rng.randbytes(rng.randrange(1, 100))
    # kinds 7..9 and after the above: flip a few bytes anywhere (the ID stays random)
    for _ in range(rng.randrange(1, 6)):
        i = rng.randrange(len(wire))
        wire[i] = rng.randrange(256)
    return bytes(wire)


def healthy(where: tuple[str, int], deadline: float) -> dns.message.Message:
    """A normal question, retried until answered (the server may still be busy)."""
    q = dns.message.make_query("www.example.com", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while True:
            s.settimeout(1.0)
            s.sendto(q.to_wire(), where)
            try:
                while True:
                    r = dns.message.from_wire(s.recv(4096))
                    if r.id == q.id:
                        return r
            except TimeoutError:
                assert time.monotonic() < deadline, "server stopped answering"


def test_fuzz(server: ServeProcess) -> None:
    rng = random.Random(SEED)
    seeds = base_queries()
    where = server.addresses[0]
    deadline = time.monotonic() + TIME_BUDGET
    sent = answers = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        for _ in range(UDP_COUNT):
            # A full local send buffer loses that packet: fine.
            with contextlib.suppress(BlockingIOError):
                s.sendto(mutate(rng, seeds), where)
            sent += 1
            # Read (and ignore) answers now and then so our receive buffer never matters.
            if sent % 200 == 0:
                try:
                    while s.recv(65535):
                        answers += 1
                except BlockingIOError:
                    pass
    for c in range(TCP_CONNECTIONS):
        assert time.monotonic() < deadline
        try:
            with socket.create_connection(where, timeout=2) as t:
                if c % 4 == 0:  # a raw byte stream with no framing at all
                    t.sendall(rng.randbytes(rng.randrange(1, 3000)))
                else:
                    msgs = []
                    for _ in range(TCP_PER_CONNECTION):
                        m = mutate(rng, seeds)
                        length = len(m) if rng.random() < 0.9 else rng.randrange(65536)
                        msgs.append(struct.pack("!H", length) + m)
                    t.sendall(b"".join(msgs))
                sent += TCP_PER_CONNECTION
                t.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close a connection it finds broken: that is allowed
    assert sent >= 10_000
    assert answers > 100  # it was answering during the storm, not just after
    r = healthy(where, deadline)
    assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "192.0.2.1"
    assert server.proc.poll() is None
    assert "Traceback" not in server.stderr
    assert "internal error" not in server.stderr
