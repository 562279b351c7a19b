"""rootwalk.wire.message: known answers on hand-built messages, and a differential fuzz against
dnspython's ``dns.message.from_wire`` seeded with real responses of the lab's servers."""

from __future__ import annotations

import random
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from rootwalk.lab import AuthServer, build_world
from rootwalk.wire.message import (
    RR,
    Response,
    WireError,
    parse_response,
    rrsets,
)


def wname(text: str) -> bytes:
    return dns.name.from_text(text).to_wire()


def response(question: str, qtype: str = "A", **sections: list[str]) -> dns.message.Message:
    """A response to ``question`` with records given as zone-file lines per section."""
    msg = dns.message.make_response(dns.message.make_query(question, qtype))
    for section, lines in sections.items():
        target = getattr(msg, section)
        for line in lines:
            owner, ttl, rtype, *rdata = line.split(None, 3)
            rrs = dns.rrset.from_text(owner, int(ttl), "IN", rtype, *rdata)
            existing = [r for r in target if r.name == rrs.name and r.rdtype == rrs.rdtype]
            if existing and rrs.rdtype != dns.rdatatype.RRSIG:
                existing[0].union_update(rrs)
            else:
                target.append(rrs)
    return msg


# -- known answers ---------------------------------------------------------------------


def test_referral_with_glue() -> None:
    msg = response(
        "www.Example.COM.",
        authority=["com. 172800 NS a.gtld-servers.net.", "com. 172800 NS b.gtld-servers.net."],
        additional=[
            "a.gtld-servers.net. 172800 A 127.9.0.10",
            "b.gtld-servers.net. 3600 A 1.2.3.4",
        ],
    )
    wire = msg.to_wire()
    r = parse_response(wire)
    assert (r.id, r.flags, r.rcode, r.edns) == (msg.id, msg.flags, 0, None)
    assert r.question is not None
    assert r.question.qname == wname("www.example.com.")  # lower-cased (RFC 4343)
    assert (r.question.qtype, r.question.qclass) == (1, 1)
    assert r.answer == ()
    (ns,) = rrsets(r.authority)
    assert (ns.owner, ns.rtype, ns.rclass, ns.ttl) == (wname("com."), 2, 1, 172800)
    assert sorted(ns.rdatas) == [wname("a.gtld-servers.net."), wname("b.gtld-servers.net.")]
    assert r.additional == (
        RR(wname("a.gtld-servers.net."), 1, 1, 172800, bytes([127, 9, 0, 10])),
        RR(wname("b.gtld-servers.net."), 1, 1, 3600, bytes([1, 2, 3, 4])),
    )
    assert len(wire) > 12 + 17 + 4 and wire.count(b"\xc0") >= 2  # names were compressed


def test_cname_chain_and_ttl_min_and_dedup() -> None:
    msg = response(
        "c1.example.com.",
        answer=[
            "c1.example.com. 300 CNAME C2.example.com.",
            "c2.example.com. 300 CNAME c3.example.com.",
            "c3.example.com. 300 CNAME www.example.com.",
            "www.example.com. 300 A 192.0.2.1",
        ],
    )
    wire = bytearray(msg.to_wire())
    r = parse_response(bytes(wire))
    assert [(rr.owner, rr.rtype, rr.rdata) for rr in r.answer] == [
        (wname("c1.example.com."), 5, wname("c2.example.com.")),  # rdata lower-cased
        (wname("c2.example.com."), 5, wname("c3.example.com.")),
        (wname("c3.example.com."), 5, wname("www.example.com.")),
        (wname("www.example.com."), 1, bytes([192, 0, 2, 1])),
    ]

    # Two copies of one A record with different TTLs: one rdata, the smaller TTL (RFC 2181).
    def a_rr(ttl: int, addr: bytes) -> bytes:
        return b"\x00" + struct.pack("!HHIH", 1, 1, ttl, 4) + addr

    dup2 = _header(an=3) + a_rr(300, b"\x01\x02\x03\x04") + a_rr(300, b"\x05\x06\x07\x08")
    dup2 += a_rr(7, b"\x01\x02\x03\x04")
    (s,) = rrsets(parse_response(dup2).answer)
    assert (s.ttl, s.rdatas) == (7, (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"))


def test_nxdomain_with_compressed_soa() -> None:
    msg = response(
        "nope.example.com.",
        authority=[
            "example.com. 3600 SOA ns1.Example.com. hostmaster.example.com. 1 7200 3600 1209600 300"
        ],
    )
    msg.set_rcode(dns.rcode.NXDOMAIN)
    wire = msg.to_wire()
    # mname and rname were compressed against the question and the owner
    assert wire.count(b"\xc0") >= 3
    r = parse_response(wire)
    assert r.rcode == 3
    (soa,) = r.authority
    assert soa.rdata == (
        wname("ns1.example.com.")
        + wname("hostmaster.example.com.")
        + struct.pack("!IIIII", 1, 7200, 3600, 1209600, 300)
    )


def test_mx_dname_srv_nsec() -> None:
    msg = response(
        "example.com.",
        "MX",
        answer=[
            "example.com. 300 MX 10 mail.example.com.",
            "legacy.example.com. 300 DNAME Example.ORG.",
            "_x._tcp.example.com. 300 SRV 1 2 53 ns1.example.com.",
            "example.com. 300 NSEC A.example.com. A NS SOA MX RRSIG NSEC",
        ],
    )
    r = parse_response(msg.to_wire())
    mx, dname, srv, nsec = r.answer
    assert mx.rdata == b"\x00\x0a" + wname("mail.example.com.")
    assert dname.rdata == wname("example.org.")
    assert srv.rdata == struct.pack("!HHH", 1, 2, 53) + wname("ns1.example.com.")
    # RFC 6840 §5.1: the NSEC next name keeps its case
    assert nsec.rdata.startswith(wname("A.example.com."))


def test_edns_with_do_and_extended_rcode() -> None:
    q = dns.message.make_query("example.com.", "A", use_edns=0, want_dnssec=True, payload=1232)
    msg = dns.message.make_response(q)
    msg.use_edns(0, dns.flags.DO, 1400, options=[dns.edns.GenericOption(65001, b"ab")])
    msg.set_rcode(dns.rcode.BADVERS)  # 16: needs the OPT's extended bits
    r = parse_response(msg.to_wire())
    assert r.edns is not None
    assert (r.edns.version, r.edns.payload, r.edns.do, r.edns.ext_rcode) == (0, 1400, True, 1)
    assert r.edns.options == b"\xfd\xe9\x00\x02ab"
    assert r.rcode == 16
    assert r.additional == ()


def test_rrsig_grouped_by_covered_type() -> None:
    sig = "A 8 2 300 20300101000000 20200101000000 12345 Example.com. AAAA"
    msg = response(
        "www.example.com.",
        answer=[
            "www.example.com. 300 A 192.0.2.1",
            f"www.example.com. 300 RRSIG {sig}",
            f"www.example.com. 60 RRSIG {sig.replace('A 8', 'AAAA 8', 1)}",
        ],
    )
    r = parse_response(msg.to_wire())
    sets = rrsets(r.answer)
    assert [(s.rtype, s.covers, s.ttl) for s in sets] == [(1, 0, 300), (46, 1, 300), (46, 28, 60)]
    rdata = sets[1].rdatas[0]
    assert rdata[18:] == wname("example.com.") + b"\x00\x00\x00"  # signer lower-cased
    assert r.answer[1].covers == 1


def _header(qd: int = 0, an: int = 0, ns: int = 0, ar: int = 0, flags: int = 0x8000) -> bytes:
    return struct.pack("!HHHHHH", 1, flags, qd, an, ns, ar)


ROOT_A = b"\x00\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04\x01\x02\x03\x04"  # . 1 IN A 1.2.3.4


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"\x00" * 11, "shorter than a header"),
        (_header(qd=1) + b"\x01a\xc0\x0c\x00\x01\x00\x01", "backwards"),  # points at itself
        (_header(qd=1) + b"\x01a\xc0\x10\x00\x01\x00\x01", "backwards"),  # forward
        (_header(qd=1) + b"\x01a\x40\x00\x01\x00\x01", "label type"),
        (_header(qd=1) + b"\x01a\x80\x00\x01\x00\x01", "label type"),
        (_header(qd=1) + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", "label type"),
        (_header(qd=1) + b"\x3fa" * 1, "past"),
        (_header(qd=1) + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01", "255"),
        (_header(qd=2) + b"\x00\x00\x01\x00\x01" * 2, "more than one question"),
        (_header(qd=1) + b"\x00\x00\x01", "truncated question"),
        (_header(an=1) + b"\x00\x00\x01\x00\x01\x00\x00\x00\x01\x00\x05\x01", "RDLENGTH"),
        (_header(an=1) + b"\x00\x00\x01\x00\x01\x00\x00\x00\x01\x00\x03\x01\x02\x03", "4 octets"),
        (_header(an=1) + b"\x00\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04\x01\x02\x03", "RDLENGTH"),
        (_header(an=2) + ROOT_A, "past its end"),  # a count beyond the records
        (_header() + b"\x00", "trailing"),
        (_header(an=1) + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", "OPT"),
        (_header(ar=2) + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00" * 2, "OPT"),
        (_header(ar=1) + b"\x01a\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", "OPT"),
        (_header(ar=1) + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x02\x00\x01", "EDNS option"),
        (_header(ar=1) + b"\x00\x00\xfa\x00\xff\x00\x00\x00\x00\x00\x00", "TSIG"),
        (
            _header(qd=1, an=1, flags=0x2800)
            + b"\x00\x00\x06\x00\x01"  # zone: root SOA
            + b"\x00\x00\x01\x00\xff\x00\x00\x00\x00\x00\x00",  # prerequisite: an A exists
            "UPDATE",
        ),
        # DNAME targets are never compressed (RFC 6672 §2.5)
        (_header(an=1) + b"\x00\x00\x27\x00\x01\x00\x00\x00\x01\x00\x02\xc0\x0c", "compressed"),
        # MX rdata longer than its fields
        (_header(an=1) + b"\x00\x00\x0f\x00\x01\x00\x00\x00\x01\x00\x04\x00\x01\x00\x00", "longer"),
    ],
)
def test_rejects(wire: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        parse_response(wire)
    # dnspython rejects them too, but for the two deliberate differences (see the fuzz).
    assert (_dnspython(wire) is None) is not _allowed_rejection(wire)


@pytest.mark.parametrize(("hops", "ok"), [(16, True), (17, False)])
def test_pointer_chain_bound(hops: int, ok: bool) -> None:
    # An opaque record whose rdata is the root name and a chain of pointers, each to the one
    # before; the next record's owner points at the last. dnspython's bound (16) applies.
    head = _header(an=2)
    rdstart = 12 + 1 + 10
    chain = b"\x00" + b"".join(
        struct.pack("!H", 0xC000 | (rdstart + max(0, 2 * k - 1))) for k in range(hops - 1)
    )
    first = b"\x00" + struct.pack("!HHIH", 65280, 1, 0, len(chain)) + chain
    last = rdstart + len(chain) - 2 if hops > 1 else rdstart
    second = (
        struct.pack("!H", 0xC000 | last)
        + b"\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04\x01\x02\x03\x04"
    )
    wire = head + first + second
    assert (_dnspython(wire) is not None) is ok
    if ok:
        assert parse_response(wire).answer[1].owner == b"\x00"
    else:
        with pytest.raises(WireError, match="too many"):
            parse_response(wire)


# -- differential fuzz -------------------------------------------------------------------

SEED = 20260601
MUTANTS = 20_000
# Types whose rdata wirefmt interprets, in any class, and those it interprets in class IN.
KNOWN_ANY = {2, 5, 6, 12, 15, 39, 46, 47}
KNOWN_IN = {1, 28, 33}
SINGLETONS = {5, 6, 39, 47}  # dnspython keeps only the last rdata of these (dns.rdatatype)
PRIVATE_TYPE = 65280  # RFC 6895 §3.1 private use: dnspython reads it as opaque rdata
PRIVATE_OPTION = 65001  # RFC 6891 §9 local/experimental option codes


def _lab_seeds() -> list[bytes]:
    world = build_world("127.99")
    servers = {
        s.name: AuthServer(s.address, 53, s.name, world.server_zones[s.address], s.aliases)
        for s in world.servers
    }
    asks = [
        ("a.root-servers.net.", "www.example.com.", "A"),  # referral to com. with glue
        ("a.gtld-servers.net.", "www.example.com.", "AAAA"),  # referral to example.com.
        ("ns1.example.com.", "www.example.com.", "A"),
        ("ns1.example.com.", "www.example.com.", "AAAA"),
        ("ns1.example.com.", "c1.example.com.", "A"),  # CNAME chain
        ("ns1.example.com.", "cross.example.com.", "A"),
        ("ns1.example.com.", "nope.example.com.", "A"),  # NXDOMAIN + SOA
        ("ns1.example.com.", "nodata.example.com.", "A"),  # NODATA + SOA
        ("ns1.example.com.", "x.legacy.example.com.", "A"),  # DNAME
        ("ns1.example.com.", "example.com.", "MX"),
        ("ns1.example.com.", "example.com.", "SOA"),
        ("ns1.example.com.", "example.com.", "NS"),
        ("ns1.example.com.", "medium.example.com.", "TXT"),
        ("ns1.example.com.", "big.example.com.", "TXT"),  # truncated over UDP
        ("ns1.example.com.", "eng.example.com.", "A"),  # referral
        ("ns.nic.test.", "www.lame.test.", "A"),
        ("ns.nic.test.", "a.selfdname.test.", "A"),
        ("ns.nic.arpa.", "1.2.0.192.in-addr.arpa.", "PTR"),
    ]
    seeds = []
    for server, qname, qtype in asks:
        for edns, do in ((False, False), (True, False), (True, True)):
            q = dns.message.make_query(
                qname, qtype, use_edns=0 if edns else None, want_dnssec=do, id=4242
            )
            out, _ = servers[server].process(q.to_wire(), "udp", ("127.0.0.1", 5))
            seeds.append(out[0])
    return seeds


def _hand_seeds() -> list[bytes]:
    """Types the lab does not serve: RRSIG, NSEC, SRV, and a CH-class A (opaque to us)."""
    sig = "A 8 3 300 20300101000000 20200101000000 12345 example.com. AAAA"
    msg = response(
        "www.example.com.",
        answer=["www.example.com. 300 A 192.0.2.1", f"www.example.com. 300 RRSIG {sig}"],
        authority=[
            "example.com. 300 NSEC www.example.com. A NS SOA MX RRSIG NSEC",
            "_s._tcp.example.com. 300 SRV 1 2 53 www.example.com.",
        ],
    )
    msg.use_edns(0, dns.flags.DO, 1232, options=[dns.edns.GenericOption(10, b"12345678")])
    ch = dns.message.make_response(dns.message.make_query("version.bind.", "TXT", "CH"))
    ch.answer.append(dns.rrset.from_text("version.bind.", 0, "CH", "TXT", '"x"'))
    return [msg.to_wire(), ch.to_wire()]


def _skip_name(wire: bytes, p: int) -> int:
    while True:
        c = wire[p]
        if c == 0:
            return p + 1
        if c >= 0xC0:
            return p + 2
        p += 1 + c


def _layout(wire: bytes) -> tuple[int, list[tuple[int, int, int]]]:
    """For a well-formed message: end of the question, and per RR (start, fixed, end)."""
    qd, an, ns, ar = struct.unpack_from("!HHHH", wire, 4)
    p = 12
    for _ in range(qd):
        p = _skip_name(wire, p) + 4
    qend = p
    rrs = []
    for _ in range(an + ns + ar):
        start = p
        fixed = _skip_name(wire, p)
        p = fixed + 10 + struct.unpack_from("!H", wire, fixed + 8)[0]
        rrs.append((start, fixed, p))
    return qend, rrs


def _set_count(wire: bytes, index: int, value: int) -> bytes:
    return wire[: 4 + 2 * index] + struct.pack("!H", value & 0xFFFF) + wire[6 + 2 * index :]


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    """One of the mutation kinds the issue asks for, on a well-formed seed."""
    kind = rng.randrange(9)
    n = len(seed)
    if kind == 0:  # random byte flips
        out = bytearray(seed)
        for _ in range(rng.randint(1, 3)):
            out[rng.randrange(n)] = rng.randrange(256)
        return bytes(out)
    if kind == 1:  # truncation
        return seed[: rng.randrange(n)]
    if kind == 2:  # a count beyond the packet
        index = rng.randrange(4)
        old = struct.unpack_from("!H", seed, 4 + 2 * index)[0]
        return _set_count(seed, index, rng.choice([old + 1, old + rng.randint(2, 40), 0xFFFF]))
    if kind == 3:  # appended garbage
        return seed + rng.randbytes(rng.randint(1, 8))
    qend, rrs = _layout(seed)
    pointers = [i for i in range(12, n - 1) if seed[i] >= 0xC0]
    if kind == 4 and pointers:  # a pointer to itself, forward, out of range, or at a pointer
        i = rng.choice(pointers)
        target = rng.choice([i, i + rng.randint(1, 20), n + rng.randint(0, 500), 0x3FFF])
        if rng.random() < 0.3:
            target = rng.choice(pointers)  # a pointer to a pointer: chains and loops
        return seed[:i] + struct.pack("!H", 0xC000 | (target & 0x3FFF)) + seed[i + 2 :]
    if not rrs:
        return seed + b"\x00"
    start, fixed, end = rng.choice(rrs)
    rdlen = end - fixed - 10
    if kind == 5:  # RDLENGTH changed
        new = rng.choice([rdlen + 1, rdlen - 1, rdlen + rng.randint(2, 30), 0, 0xFFFF])
        return seed[: fixed + 8] + struct.pack("!H", max(new, 0)) + seed[fixed + 10 :]
    opts = [(s, e) for s, f, e in rrs if struct.unpack_from("!H", seed, f)[0] == 41]
    if kind == 6 and opts:  # OPT moved to the start of the answer or authority section
        s, e = opts[0]
        opt = seed[s:e]
        body = seed[:s] + seed[e:]
        an, ns = struct.unpack_from("!HH", seed, 6)
        if rng.random() < 0.5:
            at, counts = qend, (an + 1, ns)
        else:
            at, counts = rrs[an][0] if an < len(rrs) else s, (an, ns + 1)
        ar = struct.unpack_from("!H", seed, 10)[0] - 1
        out = body[:at] + opt + body[at:]
        return out[:6] + struct.pack("!HHH", counts[0], counts[1], ar) + out[12:]
    if kind == 7 and opts:  # the OPT twice
        s, e = opts[0]
        ar = struct.unpack_from("!H", seed, 10)[0]
        return _set_count(seed + seed[s:e], 3, ar + 1)
    # an RR's type rewritten (into our types, or another): exercises rdata parsers
    rtype = rng.choice([1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 41, 46, 47, 250, 99, 13])
    return seed[:fixed] + struct.pack("!H", rtype) + seed[fixed + 2 :]


def _known(rtype: int, rclass: int) -> bool:
    return rtype in KNOWN_ANY or (rclass == 1 and rtype in KNOWN_IN)


def _neutralised(wire: bytes) -> tuple[bytes, dict[int, int], dict[int, int]]:
    """``wire`` (which wirefmt accepted) with every type and EDNS option that wirefmt keeps
    opaque renamed to private-use codes, so that dnspython keeps them opaque too; and the maps
    back to the original codes."""
    out = bytearray(wire)
    types: dict[int, int] = {}
    options: dict[int, int] = {}
    _, rrs = _layout(wire)
    for _, fixed, end in rrs:
        rtype, rclass = struct.unpack_from("!HH", wire, fixed)
        if rtype == 41:
            p = fixed + 10
            while p < end:
                code, olen = struct.unpack_from("!HH", wire, p)
                new = options.setdefault(code, PRIVATE_OPTION + len(options))
                struct.pack_into("!H", out, p, new)
                p += 4 + olen
        elif not _known(rtype, rclass):
            struct.pack_into("!H", out, fixed, types.setdefault(rtype, PRIVATE_TYPE + len(types)))
    return (
        bytes(out),
        {v: k for k, v in types.items()},
        {v: k for k, v in options.items()},
    )


def _compare(
    ours: Response, msg: dns.message.Message, types: dict[int, int], opts: dict[int, int]
) -> None:
    assert (ours.id, ours.flags, ours.rcode) == (msg.id, int(msg.flags), int(msg.rcode()))
    if ours.question is None:
        assert msg.question == []
    else:
        (q,) = msg.question
        assert (ours.question.qname, ours.question.qtype, ours.question.qclass) == (
            q.name.canonicalize().to_wire(),
            q.rdtype,
            q.rdclass,
        )
    if ours.edns is None:
        assert msg.opt is None
    else:
        assert msg.opt is not None
        e = ours.edns
        assert (e.payload, (e.ext_rcode << 24) | (e.version << 16) | e.flags) == (
            msg.opt[0].rdclass,
            msg.opt.ttl,
        )
        theirs = b"".join(
            struct.pack("!HH", opts[o.otype], len(o.to_wire())) + o.to_wire()
            for o in msg.opt[0].options
        )
        assert e.options == theirs
    for section, theirs_section in (
        (ours.answer, msg.answer),
        (ours.authority, msg.authority),
        (ours.additional, msg.additional),
    ):
        sets = rrsets(section)
        assert len(sets) == len(theirs_section)
        for s, t in zip(sets, theirs_section, strict=True):
            assert s.owner == t.name.canonicalize().to_wire()
            assert (s.rtype, s.rclass, s.covers, s.ttl) == (
                types.get(t.rdtype, t.rdtype),
                t.rdclass,
                t.covers,
                t.ttl,
            )
            rdatas = tuple(rd.to_digestable() for rd in t)
            if s.rtype in SINGLETONS:
                # dnspython keeps the last of several CNAME/SOA/DNAME/NSEC rdata; wirefmt
                # keeps them all, for the engine to judge (RFC 2181 §10.1 allows one CNAME).
                assert rdatas == s.rdatas[-1:]
            else:
                assert rdatas == s.rdatas


def _dnspython(wire: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(wire)
    except Exception:
        return None


def _allowed_rejection(wire: bytes) -> bool:
    """Messages dnspython accepts and wirefmt rejects on purpose."""
    qd = struct.unpack_from("!H", wire, 4)[0]
    opcode = (wire[2] >> 3) & 0xF
    # RFC 9619: a response has at most one question. RFC 2136 UPDATE messages are not
    # responses a resolver gets, and dnspython parses their sections with other rules.
    return qd > 1 or opcode == 5


def check_one(wire: bytes) -> str:
    """Differential verdict for one message; fails the test on any disagreement."""
    reason = ""
    try:
        ours: Response | None = parse_response(wire)
    except WireError as e:
        ours, reason = None, str(e)
    theirs = _dnspython(wire)
    if ours is None:
        if theirs is not None:
            assert _allowed_rejection(wire), f"dnspython accepts, wirefmt rejects: {wire.hex()}"
            # and for that reason, not another one
            assert reason in ("opcode UPDATE", "more than one question"), reason
            return "allowed-rejection"
        return "both-reject"
    neutral, types, opts = _neutralised(wire)
    if theirs is None or neutral != wire:
        theirs_n = _dnspython(neutral)
        assert theirs_n is not None, f"wirefmt accepts, dnspython rejects: {wire.hex()}"
        _compare(ours, theirs_n, types, opts)
        return "accept" if theirs is not None else "opaque-rdata"
    _compare(ours, theirs, types, opts)
    return "accept"


def test_seeds_accepted_and_equal() -> None:
    seeds = _lab_seeds() + _hand_seeds()
    for seed in seeds:
        assert check_one(seed) == "accept"


@pytest.mark.slow  # ~4 s: dnspython's parse of each mutant is most of it
def test_differential_fuzz() -> None:
    seeds = _lab_seeds() + _hand_seeds()
    rng = random.Random(SEED)
    verdicts: dict[str, int] = {}
    t0 = time.perf_counter()
    for _ in range(MUTANTS):
        wire = _mutate(rng, rng.choice(seeds))
        if rng.random() < 0.25 and len(wire) > 12:  # a blind byte flip on top
            out = bytearray(wire)
            out[rng.randrange(12, len(out))] = rng.randrange(256)
            wire = bytes(out)
        v = check_one(wire)
        verdicts[v] = verdicts.get(v, 0) + 1
    elapsed = time.perf_counter() - t0
    print(f"fuzz: {MUTANTS} mutants in {elapsed:.2f}s: {verdicts}")
    # Both outcomes must be well represented, or the fuzz proves little.
    assert verdicts.get("both-reject", 0) > MUTANTS // 5
    assert verdicts.get("accept", 0) > MUTANTS // 10
