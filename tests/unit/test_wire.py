"""The hand parser of the fast path, checked against dnspython's rendering of the same messages."""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.rrset
import pytest

from rootwalk.wire import parse_query_head, ttl_offsets


def query(name: str = "www.Example.org.", rdtype: str = "A", **kw: object) -> bytes:
    return dns.message.make_query(name, rdtype, **kw).to_wire()  # type: ignore[arg-type]


def test_key_ignores_case_and_id() -> None:
    a = parse_query_head(query("www.Example.org."), 1232)
    b = parse_query_head(query("WWW.example.ORG."), 1232)
    assert a is not None and b is not None
    assert a[0] == b[0]
    assert a[1] == 12 + len(b"\x03www\x07example\x03org\x00") + 4
    assert a[2] == 512


@pytest.mark.parametrize(
    ("other", "same"),
    [
        ({"rdtype": "AAAA"}, False),
        ({"rdtype": "HTTPS"}, False),  # type 65 is 'A' in ASCII: must not be lower-cased
        ({"use_edns": 0}, False),
        ({"want_dnssec": True}, False),
        ({"flags": dns.flags.RD | dns.flags.CD}, False),
        # AD in a query asks for AD in the answer (RFC 6840 §5.7)
        ({"flags": dns.flags.RD | dns.flags.AD}, False),
    ],
)
def test_key_separates_what_changes_the_answer(other: dict[str, object], same: bool) -> None:
    base = parse_query_head(query(), 1232)
    rdtype = str(other.pop("rdtype", "A"))
    head = parse_query_head(query(rdtype=rdtype, **other), 1232)
    assert base is not None and head is not None
    assert (base[0] == head[0]) is same


def test_https_and_type_97_differ() -> None:
    a = parse_query_head(query(rdtype="HTTPS"), 1232)
    b = parse_query_head(query(rdtype="TYPE97"), 1232)
    assert a is not None and b is not None and a[0] != b[0]


def test_udp_size_from_edns() -> None:
    head = parse_query_head(query(use_edns=0, payload=4096), 1232)
    assert head is not None and head[2] == 1232
    head = parse_query_head(query(use_edns=0, payload=100), 1232)
    assert head is not None and head[2] == 512  # RFC 6891 §6.2.5: below 512 means 512


def test_cookie_and_padding_are_accepted() -> None:
    cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"12345678")
    pad = dns.edns.GenericOption(dns.edns.OptionType.PADDING, b"\x00" * 20)
    assert parse_query_head(query(use_edns=0, options=[cookie, pad]), 1232) is not None


def _patched(wire: bytes, offset: int, value: bytes) -> bytes:
    return wire[:offset] + value + wire[offset + len(value) :]


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(query(flags=0), id="rd=0"),
        pytest.param(_patched(query(), 2, b"\x81"), id="qr=1"),
        pytest.param(_patched(query(), 2, b"\x11"), id="opcode-2"),
        pytest.param(_patched(query(), 4, b"\x00\x02"), id="qdcount-2"),
        pytest.param(_patched(query(), 6, b"\x00\x01"), id="ancount-1"),
        pytest.param(query() + b"\x00", id="trailing-byte"),
        pytest.param(query()[:-1], id="short"),
        pytest.param(query()[:14], id="cut-in-name"),
        pytest.param(query(rdtype="A").replace(b"\x00\x01\x00\x01", b"\x00\x01\x00\x03"), id="CH"),
        pytest.param(query(use_edns=1), id="edns-version-1"),
        pytest.param(
            query(
                use_edns=0,
                options=[dns.edns.GenericOption(dns.edns.OptionType.ECS, b"\x00\x01\x18\x00\xc0")],
            ),
            id="ecs-option",
        ),
        pytest.param(
            query(
                use_edns=0,
                options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"123")],
            ),
            id="bad-cookie",
        ),
        pytest.param(
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
            id="pointer",
        ),
        pytest.param(
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x41"
            + b"x" * 65
            + b"\x00\x00\x01\x00\x01",
            id="label-64+",
        ),
    ],
)
def test_anything_unusual_goes_to_the_slow_path(wire: bytes) -> None:
    assert parse_query_head(wire, 1232) is None


def test_ttl_offsets_find_every_ttl_but_opt() -> None:
    q = dns.message.make_query("alias.example.org.", "A", use_edns=0)
    r = dns.message.make_response(q)
    r.answer = [
        dns.rrset.from_text("alias.example.org.", 300, "IN", "CNAME", "www.example.org."),
        dns.rrset.from_text("www.example.org.", 60, "IN", "A", "192.0.2.1", "192.0.2.2"),
    ]
    r.authority = [
        dns.rrset.from_text("example.org.", 900, "IN", "SOA", "ns. h. 1 7200 3600 1209600 300")
    ]
    wire = r.to_wire()
    found = ttl_offsets(wire)
    assert found is not None
    assert sorted(ttl for _, ttl in found) == [60, 60, 300, 900]
    # Rewriting at the offsets changes exactly those TTLs.
    buf = bytearray(wire)
    for offset, ttl in found:
        struct.pack_into("!I", buf, offset, ttl - 7)
    again = dns.message.from_wire(bytes(buf))
    assert [rrset.ttl for rrset in again.answer] == [293, 53]
    assert again.authority[0].ttl == 893
    assert again.edns == 0


def test_ttl_offsets_reject_garbage() -> None:
    assert ttl_offsets(b"\x00" * 5) is None
    wire = query()
    assert ttl_offsets(wire + b"junk") is None


def _variant(m: dns.message.Message) -> int:
    bits = (4 if m.flags & dns.flags.CD else 0) | (8 if m.flags & dns.flags.AD else 0)
    if m.edns >= 0:
        bits |= 3 if m.ednsflags & dns.flags.DO else 1
    return bits


def test_hand_parser_never_accepts_what_dnspython_rejects() -> None:
    """Differential fuzz: 20,000 seeded mutations of plain queries. Whenever the hand parser
    gives a key, dnspython must parse the same bytes into a plain recursive IN question with
    that very key, question end and UDP size; anything it refuses is the slow path's."""
    import random

    rng = random.Random(5300)
    cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"12345678")
    seeds = [
        query("www.example.org."),
        query("A.b.C.example.", rdtype="AAAA", use_edns=0),
        query("x.example.", rdtype="TXT", want_dnssec=True),
        query("y.example.", use_edns=0, options=[cookie]),
        query("z.example.", flags=dns.flags.RD | dns.flags.CD, use_edns=0, payload=700),
    ]
    accepted = 0
    for _ in range(20_000):
        buf = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            kind = rng.random()
            if kind < 0.6:
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            elif kind < 0.8:
                del buf[rng.randrange(len(buf))]
            else:
                buf.insert(rng.randrange(len(buf) + 1), rng.randrange(256))
        wire = bytes(buf)
        head = parse_query_head(wire, 1232)
        if head is None:
            continue
        accepted += 1
        m = dns.message.from_wire(wire)  # must not raise
        assert not m.flags & dns.flags.QR and m.opcode() == 0 and m.flags & dns.flags.RD
        assert len(m.question) == 1 and not m.answer and not m.authority and not m.additional
        q = m.question[0]
        assert q.rdclass == 1 and m.edns in (-1, 0)
        name = q.name.to_wire()
        assert head[0] == name[:-1].lower() + struct.pack("!H", q.rdtype) + bytes((_variant(m),))
        assert head[1] == 12 + len(name) + 4
        assert head[2] == (min(max(512, m.payload), 1232) if m.edns >= 0 else 512)
    assert accepted > 1000  # the mutations do reach the accepting side too


def test_to_text_matches_dnspython_on_any_name() -> None:
    """The fast presentation of wire names (plain labels joined, the rest through dnspython)
    must write every name exactly as dnspython does: escapes, case and the root included."""
    import random

    from rootwalk.wire.names import to_text

    rng = random.Random(1035)
    names = [b"\x00", dns.name.from_text("a\\.b.Example.").to_wire()]
    for _ in range(5_000):
        parts = [
            bytes(rng.choice(b'aZ09-_*.\\ "();@$\x00\xff/+=') for _ in range(rng.randrange(1, 5)))
            for _ in range(rng.randrange(0, 4))
        ]
        names.append(b"".join(bytes([len(p)]) + p for p in parts) + b"\x00")
    for wire in names:
        assert to_text(wire) == str(dns.name.from_wire(wire, 0)[0]), wire
