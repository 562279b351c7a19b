"""The protocol front end without sockets: wire in, wire out, with a stand-in resolver."""

from __future__ import annotations

import dataclasses
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import pytest
from dns.rdatatype import RdataType

from rootwalk.cache import Cache
from rootwalk.classify import classify
from rootwalk.clock import Clock, FakeClock
from rootwalk.config import Config, ServerConfig
from rootwalk.resolution import Result
from rootwalk.server.handler import Handler, header_reply
from rootwalk.wire.convert import from_dns_rrset
from rootwalk.wire.message import RRset
from rootwalk.wire.names import from_dns, from_text, to_dns

from ..unit.helpers import compact

LOCAL = ("127.0.0.1", 40000)
LAN = ("192.168.1.20", 40000)
OUTSIDE = ("203.0.113.9", 40000)

WWW = dns.rrset.from_text("www.example.com.", 300, "IN", "A", "192.0.2.1")
SOA = dns.rrset.from_text(
    "example.com.", 300, "IN", "SOA", "ns1.example.com. h.example.com. 1 7200 3600 1209600 300"
)
BIG = dns.rrset.from_text(
    "big.example.com.", 300, "IN", "TXT", *[f'"{i:02d} {"x" * 200}"' for i in range(10)]
)
ALIAS = dns.rrset.from_text("alias.example.com.", 300, "IN", "CNAME", "www.example.com.")


class StubResolver:
    """Answers from a table; counts questions; never touches the network."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.fake_clock = FakeClock()
        self.clock: Clock = self.fake_clock
        self.cache = Cache(self.config.cache, self.clock)
        self.asked: list[tuple[dns.name.Name, RdataType]] = []
        self.raise_on: set[str] = set()

    async def resolve(
        self, wire_name: bytes, rdtype: int, rdclass: int = 1, *, do: bool = False, cd: bool = False
    ) -> Result:
        name = to_dns(wire_name)
        self.asked.append((name, RdataType.make(rdtype)))
        key = name.to_text().lower()
        if key in self.raise_on:
            raise RuntimeError("boom")
        if key == "www.example.com." and rdtype == dns.rdatatype.A:
            return Result(dns.rcode.NOERROR, _c(WWW))
        if key == "alias.example.com." and rdtype == dns.rdatatype.A:
            return Result(dns.rcode.NOERROR, _c(ALIAS, WWW))
        if key == "big.example.com." and rdtype == dns.rdatatype.TXT:
            return Result(dns.rcode.NOERROR, _c(BIG))
        if key == "nodata.example.com.":
            return Result(dns.rcode.NOERROR, [], _c(SOA))
        if key == "fail.example.com.":
            return Result(dns.rcode.SERVFAIL, ede=[(22, "no reachable authority")])
        if key == "stale.example.com.":
            stale = dns.rrset.from_text("stale.example.com.", 30, "IN", "A", "192.0.2.7")
            return Result(dns.rcode.NOERROR, _c(stale), ede=[(3, "serving stale")], stale=True)
        return Result(dns.rcode.NXDOMAIN, [], _c(SOA))


def _c(*rrsets: dns.rrset.RRset) -> list[RRset]:
    return [from_dns_rrset(r) for r in rrsets]


def make_handler(**server: object) -> tuple[Handler, StubResolver]:
    config = Config(server=dataclasses.replace(ServerConfig(), **server))  # type: ignore[arg-type]
    resolver = StubResolver(config)
    return Handler(resolver, config), resolver


async def exchange(
    handler: Handler,
    q: dns.message.Message | bytes,
    peer: tuple[str, int] = LOCAL,
    *,
    tcp: bool = False,
) -> dns.message.Message:
    wire = q if isinstance(q, bytes) else q.to_wire()
    out = await handler.handle(wire, peer, tcp=tcp)
    assert out is not None
    return dns.message.from_wire(out)


def query(name: str = "www.example.com", rdtype: str = "A", **kw: object) -> dns.message.Message:
    return dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]


async def test_answer_echoes_id_question_case_and_flags() -> None:
    h, _ = make_handler()
    q = query("WwW.ExAmPlE.cOm", use_edns=False)
    q.flags |= dns.flags.CD
    wire = await h.handle(q.to_wire(), LOCAL, tcp=False)
    assert wire is not None
    assert b"WwW\x07ExAmPlE\x03cOm" in wire  # the client's letter case, byte for byte
    r = dns.message.from_wire(wire)
    assert r.id == q.id
    assert r.flags & dns.flags.QR and r.flags & dns.flags.RA and r.flags & dns.flags.RD
    assert r.flags & dns.flags.CD and not r.flags & dns.flags.AA
    assert r.rcode() == dns.rcode.NOERROR
    assert r.question[0].name.labels == q.question[0].name.labels
    assert r.answer[0][0].address == "192.0.2.1"
    assert r.edns == -1  # no OPT when the query had none


async def test_edns_advertises_1232_and_copies_do() -> None:
    h, _ = make_handler()
    r = await exchange(h, query(use_edns=0, payload=4096, want_dnssec=True))
    assert r.edns == 0 and r.payload == 1232
    assert r.ednsflags & dns.flags.DO


async def test_badvers_for_edns_version_above_zero() -> None:
    h, res = make_handler()
    r = await exchange(h, query(use_edns=1))
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0
    assert not res.asked


async def test_nxdomain_and_nodata_carry_soa() -> None:
    h, _ = make_handler()
    r = await exchange(h, query("nope.example.com"))
    assert r.rcode() == dns.rcode.NXDOMAIN and r.authority[0].rdtype == dns.rdatatype.SOA
    r = await exchange(h, query("nodata.example.com"))
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority


async def test_servfail_carries_ede_only_with_edns() -> None:
    h, _ = make_handler()
    r = await exchange(h, query("fail.example.com", use_edns=0))
    assert r.rcode() == dns.rcode.SERVFAIL
    (ede,) = [o for o in r.options if isinstance(o, dns.edns.EDEOption)]
    assert ede.code == 22 and "authority" in (ede.text or "")
    r = await exchange(h, query("fail.example.com", use_edns=False))
    assert r.rcode() == dns.rcode.SERVFAIL and r.edns == -1


async def test_stale_answer_carries_ede_3() -> None:
    h, _ = make_handler()
    r = await exchange(h, query("stale.example.com", use_edns=0))
    assert r.answer and [o.code for o in r.options] == [3]


@pytest.mark.parametrize(
    ("payload", "use_edns", "truncated"),
    [(None, False, True), (512, 0, True), (1232, 0, True), (4096, 0, True)],
)
async def test_udp_truncation(payload: int | None, use_edns: object, truncated: bool) -> None:
    h, _ = make_handler()
    kw: dict[str, object] = {"use_edns": use_edns}
    if payload is not None:
        kw["payload"] = payload
    wire = await h.handle(query("big.example.com", "TXT", **kw).to_wire(), LOCAL, tcp=False)
    assert wire is not None
    limit = 512 if payload is None else min(max(payload, 512), 1232)
    assert len(wire) <= limit
    r = dns.message.from_wire(wire)
    assert bool(r.flags & dns.flags.TC) == truncated
    assert not r.answer and not r.authority
    assert r.question[0].name == dns.name.from_text("big.example.com")


async def test_client_payload_raises_the_limit_up_to_ours() -> None:
    h, _ = make_handler(edns_payload=4096)
    r = await exchange(h, query("big.example.com", "TXT", use_edns=0, payload=4096))
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 10
    r = await exchange(h, query("big.example.com", "TXT", use_edns=0, payload=100))
    assert r.flags & dns.flags.TC  # below 512 counts as 512


async def test_tcp_never_truncates() -> None:
    h, _ = make_handler()
    r = await exchange(h, query("big.example.com", "TXT", use_edns=False), tcp=True)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 10


async def test_silence_for_short_messages_and_responses() -> None:
    h, _ = make_handler()
    assert await h.handle(b"", LOCAL, tcp=False) is None
    assert await h.handle(b"\x12\x34\x01\x00\x00\x01", LOCAL, tcp=False) is None
    resp = dns.message.make_response(query())
    assert await h.handle(resp.to_wire(), LOCAL, tcp=False) is None


async def test_formerr_for_garbage_with_a_header() -> None:
    h, _ = make_handler()
    wire = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x05abc"  # truncated name
    r = await exchange(h, wire)
    assert r.id == 0xBEEF and r.rcode() == dns.rcode.FORMERR and r.flags & dns.flags.RD


@pytest.mark.parametrize("qdcount", [0, 2])
async def test_formerr_unless_exactly_one_question(qdcount: int) -> None:
    h, res = make_handler()
    q = query()
    if qdcount == 0:
        q.question = []
    else:
        q.question.append(query("other.example.com").question[0])
    r = await exchange(h, q)
    assert r.rcode() == dns.rcode.FORMERR and not res.asked


async def test_formerr_for_records_in_the_answer_section() -> None:
    h, _ = make_handler()
    q = query()
    q.answer.append(WWW)
    r = await exchange(h, q)
    assert r.rcode() == dns.rcode.FORMERR


@pytest.mark.parametrize("opcode", [dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY, 3])
async def test_notimp_for_other_opcodes(opcode: int) -> None:
    h, _ = make_handler()
    wire = bytearray(query().to_wire())
    wire[2] = (wire[2] & 0x87) | (opcode << 3)
    r = await exchange(h, bytes(wire))
    assert r.rcode() == dns.rcode.NOTIMP and r.opcode() == opcode


async def test_update_gets_notimp() -> None:
    import dns.update

    h, _ = make_handler()
    u = dns.update.UpdateMessage("example.com")
    u.add("x", 300, "A", "192.0.2.3")
    r = await exchange(h, u.to_wire())
    assert r.rcode() == dns.rcode.NOTIMP


async def test_tsig_signed_query_gets_notauth() -> None:
    h, res = make_handler()
    q = query()
    q.use_tsig(dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0"}))
    wire = await h.handle(q.to_wire(), LOCAL, tcp=False)
    assert wire is not None
    assert wire[3] & 0xF == dns.rcode.NOTAUTH and not res.asked


@pytest.mark.parametrize(
    ("rdclass", "rdtype", "rcode"),
    [
        ("CH", "TXT", dns.rcode.REFUSED),
        ("HS", "A", dns.rcode.REFUSED),
        ("IN", "AXFR", dns.rcode.REFUSED),
        ("IN", "IXFR", dns.rcode.REFUSED),
        ("IN", "MAILB", dns.rcode.NOTIMP),
        ("IN", "OPT", dns.rcode.FORMERR),
        ("IN", "TSIG", dns.rcode.FORMERR),
    ],
)
async def test_classes_and_meta_types(rdclass: str, rdtype: str, rcode: int) -> None:
    h, res = make_handler()
    q = dns.message.make_query("www.example.com", rdtype, rdclass)
    r = await exchange(h, q)
    assert r.rcode() == rcode and not res.asked


async def test_any_gets_one_rrset() -> None:
    h, res = make_handler()
    r = await exchange(h, query("www.example.com", "ANY"))
    assert r.rcode() == dns.rcode.NOERROR
    assert len(r.answer) == 1 and r.answer[0].rdtype == dns.rdatatype.A
    assert res.asked == [(dns.name.from_text("www.example.com"), dns.rdatatype.A)]
    r = await exchange(h, query("alias.example.com", "ANY"))
    assert [x.rdtype for x in r.answer] == [dns.rdatatype.CNAME]


async def test_any_without_addresses_gets_rfc8482_hinfo() -> None:
    h, _ = make_handler()
    r = await exchange(h, query("nodata.example.com", "ANY"))
    (rrset,) = r.answer
    assert rrset.rdtype == dns.rdatatype.HINFO and rrset[0].cpu == b"RFC8482"
    assert rrset.ttl <= 300
    r = await exchange(h, query("nope.example.com", "ANY"))
    assert r.rcode() == dns.rcode.NXDOMAIN


async def test_rd0_answered_from_cache_only() -> None:
    h, res = make_handler()
    q = query()
    q.flags &= ~dns.flags.RD
    r = await exchange(h, q)
    assert r.rcode() == dns.rcode.SERVFAIL and not res.asked  # nothing cached yet
    assert not r.flags & dns.flags.RD
    # Put www.example.com in the cache, as a resolution would.
    resp = dns.message.make_response(query())
    resp.flags |= dns.flags.AA
    resp.answer.append(WWW)
    res.cache.store(
        classify(compact(resp), from_dns(WWW.name), dns.rdatatype.A, from_text("example.com")),
        res.clock.now(),
    )
    r = await exchange(h, q)
    assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "192.0.2.1"
    assert not res.asked


async def test_rd0_miss_is_a_referral_to_the_closest_cached_cut() -> None:
    h, res = make_handler()
    # A referral from com to example.com, as a resolution would have cached it.
    ref = dns.message.make_response(query())
    ref.authority.append(
        dns.rrset.from_text(
            "example.com.", 3600, "IN", "NS", "ns1.example.com.", "ns2.example.com."
        )
    )
    ref.additional.append(dns.rrset.from_text("ns1.example.com.", 3600, "IN", "A", "192.0.2.53"))
    res.cache.store(
        classify(compact(ref), from_dns(WWW.name), dns.rdatatype.A, from_text("com")),
        res.clock.now(),
    )
    res.fake_clock.advance(100)
    q = query("mail.example.com")
    q.flags &= ~dns.flags.RD
    r = await exchange(h, q)
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and not res.asked
    assert not r.flags & dns.flags.AA
    (ns,) = r.authority
    assert ns.name == dns.name.from_text("example.com.") and ns.rdtype == dns.rdatatype.NS
    assert len(ns) == 2 and ns.ttl == 3500
    assert [(a.name.to_text(), a[0].address, a.ttl) for a in r.additional] == [
        ("ns1.example.com.", "192.0.2.53", 3500)
    ]
    # The same question with RD=1 goes to the resolver, not to a referral.
    await exchange(h, query("mail.example.com"))
    assert res.asked == [(dns.name.from_text("mail.example.com."), dns.rdatatype.A)]


async def test_rd0_refused_to_clients_that_may_not_snoop() -> None:
    h, res = make_handler()
    q = query()
    q.flags &= ~dns.flags.RD
    r = await exchange(h, q, LAN)
    assert r.rcode() == dns.rcode.REFUSED and not res.asked


async def test_access_control() -> None:
    h, res = make_handler()
    assert (await exchange(h, query(), LAN)).rcode() == dns.rcode.NOERROR
    r = await exchange(h, query(use_edns=0), OUTSIDE)
    assert r.rcode() == dns.rcode.REFUSED and [o.code for o in r.options] == [18]
    assert len(res.asked) == 1
    h, res = make_handler(access_control=("203.0.113.0/24 deny", "192.168.1.0/24 refuse"))
    assert await h.handle(query().to_wire(), OUTSIDE, tcp=False) is None
    assert (await exchange(h, query(), LAN)).rcode() == dns.rcode.REFUSED
    assert (await exchange(h, query(), ("192.168.2.1", 5))).rcode() == dns.rcode.NOERROR


async def test_unexpected_exception_becomes_servfail(caplog: pytest.LogCaptureFixture) -> None:
    h, res = make_handler()
    res.raise_on.add("www.example.com.")
    r = await exchange(h, query())
    assert r.rcode() == dns.rcode.SERVFAIL
    assert h.stats["internal_errors"] == 1
    assert "internal error" in caplog.text


async def test_query_log(caplog: pytest.LogCaptureFixture) -> None:
    h, _ = make_handler(query_log=True)
    caplog.set_level("INFO", logger="rootwalk.query")
    await exchange(h, query())
    (line,) = [r.getMessage() for r in caplog.records if r.name == "rootwalk.query"]
    assert "127.0.0.1:40000" in line and "www.example.com." in line and " A NOERROR" in line
    assert "ms" in line and "cache=miss" in line


def test_header_reply() -> None:
    wire = query().to_wire()
    r = dns.message.from_wire(header_reply(wire, dns.rcode.REFUSED))
    assert r.rcode() == dns.rcode.REFUSED and r.flags & dns.flags.QR and r.flags & dns.flags.RD
