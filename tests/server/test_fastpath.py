"""The cache-hit fast path over real sockets: a server in process (so the test can move its clock
and look at its counters), the lab's authoritative servers, and dnspython as the client.

What must hold: an answer from rendered bytes is the answer the slow path would give (same
sections, the client's ID and question case, TTLs counting down), and it disappears as soon as
the data it was built from changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.clock import ShiftedClock
from rootwalk.config import CacheConfig, Config, ServerConfig
from rootwalk.lab import Lab
from rootwalk.resolver import Resolver
from rootwalk.server.app import Server, bind_one
from rootwalk.wire.names import from_text

from ..engine.conftest import make_config


@dataclasses.dataclass
class Running:
    server: Server
    clock: ShiftedClock
    where: tuple[str, int]

    @property
    def fast(self) -> int:
        return self.server.handler.counters()["answers_fast"]

    async def ask(
        self, name: str, rdtype: str = "A", *, tcp: bool = False, source: str = "", **kw: object
    ) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
        host, port = self.where
        if tcp:
            return await dns.asyncquery.tcp(q, host, port=port, timeout=5)
        return await dns.asyncquery.udp(q, host, port=port, timeout=5, source=source or None)

    async def warm(self, name: str, rdtype: str = "A", **kw: object) -> dns.message.Message:
        """Ask until the answer comes from rendered bytes; returns the last slow answer."""
        first = await self.ask(name, rdtype, **kw)  # resolves
        second = await self.ask(name, rdtype, **kw)  # a cache hit through dnspython: stored
        before = self.fast
        await self.ask(name, rdtype, **kw)
        assert self.fast == before + 1, "the third identical question was not a fast hit"
        assert first.rcode() == second.rcode()
        return second


def config_for(lab: Lab, **server: object) -> Config:
    return dataclasses.replace(
        make_config(lab),
        server=dataclasses.replace(ServerConfig(listen=("127.0.0.1:0",)), **server),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def lab() -> AsyncIterator[Lab]:
    with Lab() as running:
        yield running  # type: ignore[misc]


async def start(lab: Lab, **server: object) -> Running:
    config = config_for(lab, **server)
    clock = ShiftedClock()
    listener = bind_one("127.0.0.1", 0)
    srv = Server(config, [listener], resolver=Resolver(config, clock=clock), announce=False)
    await srv.start()
    return Running(srv, clock, listener.udp.getsockname()[:2])


@pytest.fixture
async def running(lab: Lab) -> AsyncIterator[Running]:
    r = await start(lab)
    yield r
    await r.server.shutdown()


def sections(m: dns.message.Message) -> list[list[tuple[str, str, int, list[str]]]]:
    def rr(rrset: object) -> tuple[str, str, int, list[str]]:
        s = rrset  # type: ignore[assignment]
        return (
            s.name.to_text().lower(),  # type: ignore[attr-defined]
            dns.rdatatype.to_text(s.rdtype),  # type: ignore[attr-defined]
            s.ttl,  # type: ignore[attr-defined]
            sorted(r.to_text() for r in s),  # type: ignore[attr-defined]
        )

    return [[rr(x) for x in sec] for sec in (m.answer, m.authority, m.additional)]


@pytest.mark.parametrize(
    ("name", "rdtype", "rcode"),
    [
        ("www.example.com.", "A", dns.rcode.NOERROR),
        ("c1.example.com.", "A", dns.rcode.NOERROR),  # CNAME chain
        ("x.legacy.example.com.", "A", dns.rcode.NXDOMAIN),  # DNAME into an NXDOMAIN
        ("nope.example.com.", "A", dns.rcode.NXDOMAIN),
        ("nodata.example.com.", "AAAA", dns.rcode.NOERROR),  # NODATA with SOA
        ("a.wild.example.com.", "TXT", dns.rcode.NOERROR),
    ],
)
async def test_fast_answer_is_the_slow_answer(
    running: Running, name: str, rdtype: str, rcode: int
) -> None:
    slow = await running.warm(name, rdtype)
    fast = await running.ask(name, rdtype)
    assert fast.rcode() == slow.rcode() == rcode
    assert fast.flags == slow.flags
    assert fast.flags & dns.flags.RA and fast.flags & dns.flags.RD
    assert not fast.flags & dns.flags.AA
    assert fast.question == slow.question
    # Same records; TTLs may have ticked down by at most the second that passed.
    for got, want in zip(sections(fast), sections(slow), strict=True):
        assert [(n, t, d) for n, t, _, d in got] == [(n, t, d) for n, t, _, d in want]
        for (_, _, ttl_got, _), (_, _, ttl_want, _) in zip(got, want, strict=True):
            assert ttl_want - 1 <= ttl_got <= ttl_want


async def test_question_case_and_id_are_the_clients(running: Running) -> None:
    await running.warm("www.example.com.")
    before = running.fast
    q = dns.message.make_query("wWw.ExAmPlE.cOm.", "A")
    raw = await dns.asyncquery.udp(q, running.where[0], port=running.where[1], timeout=5)
    assert running.fast == before + 1
    assert raw.id == q.id
    assert raw.question[0].name.to_text() == "wWw.ExAmPlE.cOm."  # RFC 1035 §7.3, 0x20 clients
    assert raw.answer[0][0].to_text() == "192.0.2.1"


async def test_ttls_count_down_and_the_entry_expires(running: Running) -> None:
    await running.warm("www.example.com.")
    first = await running.ask("www.example.com.")
    ttl = first.answer[0].ttl
    running.clock.advance(100)
    later = await running.ask("www.example.com.")
    assert ttl - 101 <= later.answer[0].ttl <= ttl - 100
    # Past the record's TTL the rendered answer must not be used: the slow path resolves anew.
    before = running.fast
    running.clock.advance(ttl)
    again = await running.ask("www.example.com.")
    assert running.fast == before
    assert 0 < again.answer[0].ttl <= 300


async def test_edns_do_and_cd_variants_are_kept_apart(running: Running) -> None:
    await running.warm("www.example.com.")
    plain = await running.ask("www.example.com.")
    assert plain.edns == -1  # no OPT asked for, none given (RFC 6891 §7)
    before = running.fast
    edns = await running.ask("www.example.com.", use_edns=0)
    assert running.fast == before  # a new variant: slow path first
    assert edns.edns == 0 and edns.payload == 1232
    await running.warm("www.example.com.", want_dnssec=True)
    do = await running.ask("www.example.com.", want_dnssec=True)
    assert do.ednsflags & dns.flags.DO
    await running.warm("www.example.com.", flags=dns.flags.RD | dns.flags.CD)
    cd = await running.ask("www.example.com.", flags=dns.flags.RD | dns.flags.CD)
    assert cd.flags & dns.flags.CD


async def test_answers_too_big_for_udp_are_truncated_by_the_slow_path(running: Running) -> None:
    await running.warm("big.example.com.", "TXT", tcp=True, use_edns=0)
    before = running.fast
    udp = await running.ask("big.example.com.", "TXT", use_edns=0)
    assert udp.flags & dns.flags.TC and not udp.answer
    assert running.fast == before
    tcp = await running.ask("big.example.com.", "TXT", tcp=True, use_edns=0)
    assert running.fast == before + 1
    assert len(tcp.answer[0]) == 10


async def test_flush_and_new_data_invalidate(running: Running) -> None:
    await running.warm("alias.example.com.")
    cache = running.server.resolver.cache
    # The answer depends on www (the CNAME's target): flushing it must drop the rendering.
    cache.flush(from_text("www.example.com."))
    before = running.fast
    await running.ask("alias.example.com.")
    assert running.fast == before
    await running.warm("alias.example.com.")
    cache.flush_all()
    before = running.fast
    await running.ask("alias.example.com.")
    assert running.fast == before
    assert len(running.server.handler.wire) <= 1


async def test_refused_clients_never_get_fast_answers(lab: Lab) -> None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.77", 0))
    except OSError:
        pytest.skip("cannot bind 127.0.0.77")
    r = await start(lab, access_control=("127.0.0.77/32 refuse",))
    try:
        await r.warm("www.example.com.")
        answer = await r.ask("www.example.com.", source="127.0.0.77")
        assert answer.rcode() == dns.rcode.REFUSED
    finally:
        await r.server.shutdown()


async def test_fast_path_can_be_turned_off(lab: Lab) -> None:
    config = config_for(lab)
    config = dataclasses.replace(config, cache=CacheConfig(wire_answers=0))
    clock = ShiftedClock()
    listener = bind_one("127.0.0.1", 0)
    srv = Server(config, [listener], resolver=Resolver(config, clock=clock), announce=False)
    await srv.start()
    try:
        r = Running(srv, clock, listener.udp.getsockname()[:2])
        for _ in range(3):
            assert (await r.ask("www.example.com.")).rcode() == dns.rcode.NOERROR
        assert r.fast == 0
    finally:
        await srv.shutdown()


async def test_malformed_twins_of_a_cached_question_are_not_answered_fast(
    running: Running,
) -> None:
    await running.warm("www.example.com.")
    before = running.fast
    wire = dns.message.make_query("www.example.com.", "A").to_wire()

    def exchange() -> bytes:  # in a thread: the server runs on this test's loop
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.connect(running.where)
            s.send(wire + b"\x00")  # trailing junk: FORMERR from the slow path
            return s.recv(4096)

    reply = await asyncio.to_thread(exchange)
    assert struct.unpack("!H", reply[2:4])[0] & 0xF == dns.rcode.FORMERR
    assert running.fast == before


async def test_negative_answers_depend_on_the_chain_target_and_the_nxdomain_cut(
    running: Running,
) -> None:
    cache = running.server.resolver.cache
    # NODATA through a CNAME: the negative entry belongs to www (the target), not to alias.
    await running.warm("alias.example.com.", "MX")
    cache.flush(from_text("www.example.com."))
    before = running.fast
    await running.ask("alias.example.com.", "MX")
    assert running.fast == before
    # RFC 8020: an NXDOMAIN for nope.example.com answers every name below it from the cache.
    assert (await running.ask("nope.example.com.")).rcode() == dns.rcode.NXDOMAIN
    below = await running.ask("x.nope.example.com.")  # a cache hit through the cut: kept
    assert below.rcode() == dns.rcode.NXDOMAIN
    before = running.fast
    await running.ask("x.nope.example.com.")
    assert running.fast == before + 1
    cache.flush(from_text("nope.example.com."))
    await running.ask("x.nope.example.com.")
    assert running.fast == before + 1


async def test_udp_size_decides_between_fast_answer_and_truncation(running: Running) -> None:
    # About 700 bytes: fits the EDNS client's 1232, not the 512 of a client without EDNS.
    edns = await running.warm("medium.example.com.", "TXT", use_edns=0)
    assert len(edns.answer[0]) == 3 and not edns.flags & dns.flags.TC
    before = running.fast
    plain = await running.ask("medium.example.com.", "TXT")  # another variant: its own entry
    assert plain.flags & dns.flags.TC and not plain.answer
    plain = await running.ask("medium.example.com.", "TXT")
    assert plain.flags & dns.flags.TC and running.fast == before  # never a fast TC=0 answer
    small = await running.ask("medium.example.com.", "TXT", use_edns=0, payload=600)
    assert small.flags & dns.flags.TC and running.fast == before  # EDNS, but 600 < ~700
    await running.ask("medium.example.com.", "TXT", use_edns=0)
    assert running.fast == before + 1


async def test_reload_drops_rendered_answers(running: Running) -> None:
    # A blocklist or local-data change on SIGHUP must win at once over answers rendered before.
    await running.warm("www.example.com.")
    server = running.server
    new = dataclasses.replace(
        server.config,
        server=dataclasses.replace(
            server.config.server, local_data=("www.example.com. 60 A 10.9.9.9",)
        ),
    )
    server.apply(new)
    answer = await running.ask("www.example.com.")
    assert [rr.to_text() for rr in answer.answer[0]] == ["10.9.9.9"]
