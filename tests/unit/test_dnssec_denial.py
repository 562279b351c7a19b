"""NSEC and NSEC3 denial proofs over a small signed zone (issue #12, pure logic)."""

from __future__ import annotations

import dns.dnssec
import dns.name
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from rootwalk.dnssec.denial import (
    MAX_NSEC3_ITERATIONS,
    Denial,
    canonical_key,
    nsec3_denial,
    nsec3_owner,
    nsec_denial,
    type_in_bitmap,
)
from rootwalk.dnssec.nsec3 import nsec3_hash
from rootwalk.wire.convert import from_dns_rrset
from rootwalk.wire.message import RRset
from rootwalk.wire.names import from_text

A, TXT, DS, MX, NS = 1, 16, 43, 15, 2
ZONE_TEXT = """
$ORIGIN example.com.
$TTL 300
@        SOA ns1 hostmaster 1 7200 3600 1209600 300
@        NS  ns1
ns1      A   192.0.2.53
www      A   192.0.2.1
mail     MX  10 www
*.wild   A   192.0.2.99
sub      NS  ns.other.net.
b.c.deep TXT "below an empty non-terminal"
"""
ZONE = from_text("example.com")


def n(text: str) -> bytes:
    return from_text(text)


@pytest.fixture(scope="module")
def nsecs() -> list[RRset]:
    zone = dns.zone.from_text(ZONE_TEXT, relativize=False)
    key = ed25519.Ed25519PrivateKey.generate()
    dnskey = dns.dnssec.make_dnskey(key.public_key(), 15, flags=257)
    dns.dnssec.sign_zone(zone, keys=[(key, dnskey)], inception=0, expiration=2**31)
    return [
        from_dns_rrset(rrset)
        for name, node in zone.nodes.items()
        for rds in node.rdatasets
        if rds.rdtype == dns.rdatatype.NSEC
        for rrset in [dns.rrset.from_rdata_list(name, rds.ttl, list(rds))]
    ]


def test_canonical_order_is_by_labels_from_the_right() -> None:
    # RFC 4034 §6.1's own example order.
    names = ["example", "a.example", "yljkjljk.a.example", "Z.a.example", "zABC.a.EXAMPLE",
             "z.example", "\\001.z.example", "*.z.example", "\\200.z.example"]  # fmt: skip
    keys = [canonical_key(from_text(x)) for x in names]
    assert keys == sorted(keys)


def test_type_bitmap() -> None:
    bitmap = bytes([0, 6, 0x40, 0x01, 0, 0, 0, 0x03, 1, 1, 0x40])  # A, MX, RRSIG, NSEC; 257
    assert type_in_bitmap(bitmap, A) and type_in_bitmap(bitmap, MX)
    assert type_in_bitmap(bitmap, 46) and type_in_bitmap(bitmap, 47)
    assert type_in_bitmap(bitmap, 257) and not type_in_bitmap(bitmap, 256)
    assert not type_in_bitmap(bitmap, TXT) and not type_in_bitmap(bitmap, 999)


@pytest.mark.parametrize(
    ("qname", "qtype", "denial"),
    [
        ("nope.example.com", A, Denial.NXDOMAIN),
        ("x.nope.example.com", A, Denial.NXDOMAIN),
        ("www.example.com", TXT, Denial.NODATA),
        ("deep.example.com", TXT, Denial.NODATA),  # an empty non-terminal
        ("x.wild.example.com", TXT, Denial.WILDCARD_NODATA),
        ("sub.example.com", DS, Denial.INSECURE_DELEGATION),
        ("www.example.com", A, None),  # the type exists: nothing is denied
        ("x.wild.example.com", A, None),  # the wildcard has A: no denial
    ],
)
def test_nsec_proofs(nsecs: list[RRset], qname: str, qtype: int, denial: Denial | None) -> None:
    proof = nsec_denial(n(qname), qtype, nsecs, ZONE)
    assert proof.ok is (denial is not None), proof.reason
    assert proof.denial is denial


def test_nxdomain_needs_the_wildcard_proof_too(nsecs: list[RRset]) -> None:
    qname = n("nope.example.com")
    key = canonical_key(qname)
    from rootwalk.dnssec.denial import _covers, parse_nsec

    only_cover = []
    for rrset in nsecs:
        parsed = parse_nsec(rrset.rdatas[0])
        assert parsed is not None
        if _covers(canonical_key(rrset.owner), canonical_key(parsed[0]), key):
            only_cover.append(rrset)
    assert len(only_cover) == 1
    proof = nsec_denial(qname, A, only_cover, ZONE)
    # nope.example.com sorts between mail and ns1; *.example.com sorts right after the apex,
    # so a different NSEC is needed to deny the wildcard.
    assert not proof.ok and "*.example.com" in proof.reason


# -- NSEC3 -----------------------------------------------------------------------------------

SALT = bytes.fromhex("aabbccdd")
# Names of the zone above with their types (ENTs included, as RFC 5155 §7.1 asks).
NAMES = {
    "example.com": [6, 2, 46, 48, 51],
    "ns1.example.com": [1, 46],
    "www.example.com": [1, 46],
    "mail.example.com": [15, 46],
    "wild.example.com": [],
    "*.wild.example.com": [1, 46],
    "sub.example.com": [2],
    "deep.example.com": [],
    "c.deep.example.com": [],
    "b.c.deep.example.com": [16, 46],
}


def bitmap(types: list[int]) -> bytes:
    out = b""
    for window in sorted({t // 256 for t in types}):
        bits = bytearray(32)
        for t in types:
            if t // 256 == window:
                bits[(t % 256) // 8] |= 0x80 >> (t % 8)
        used = bytes(bits).rstrip(b"\x00")
        out += bytes([window, len(used)]) + used
    return out


def nsec3_chain(
    iterations: int = 12, opt_out: bool = False, without: str | None = None
) -> list[RRset]:
    hashed = sorted(
        (nsec3_hash(n(name), SALT, iterations), types)
        for name, types in NAMES.items()
        if name != without
    )
    out = []
    for i, (h, types) in enumerate(hashed):
        nxt = hashed[(i + 1) % len(hashed)][0]
        rdata = (
            bytes([1, 1 if opt_out else 0]) + iterations.to_bytes(2, "big")
            + bytes([len(SALT)]) + SALT + bytes([len(nxt)]) + nxt + bitmap(types)
        )  # fmt: skip
        owner = nsec3_owner_from_hash(h)
        out.append(RRset(owner, 50, 1, 300, (rdata,)))
    return out


def nsec3_owner_from_hash(h: bytes) -> bytes:
    from rootwalk.dnssec.nsec3 import b32hex

    label = b32hex(h)
    return bytes([len(label)]) + label + ZONE


@pytest.mark.parametrize(
    ("qname", "qtype", "denial"),
    [
        ("nope.example.com", A, Denial.NXDOMAIN),
        ("x.y.nope.example.com", A, Denial.NXDOMAIN),
        ("www.example.com", TXT, Denial.NODATA),
        ("deep.example.com", TXT, Denial.NODATA),  # ENTs have NSEC3 records: a plain NODATA
        ("x.wild.example.com", TXT, Denial.WILDCARD_NODATA),
        ("sub.example.com", DS, Denial.INSECURE_DELEGATION),
        ("www.example.com", A, None),
        ("x.wild.example.com", A, None),
    ],
)
def test_nsec3_proofs(qname: str, qtype: int, denial: Denial | None) -> None:
    proof = nsec3_denial(n(qname), qtype, nsec3_chain(), ZONE)
    assert proof.ok is (denial is not None), proof.reason
    assert proof.denial is denial


def test_nsec3_owner_matches_the_chain() -> None:
    chain = nsec3_chain()
    assert nsec3_owner(n("www.example.com"), ZONE, SALT, 12) in {r.owner for r in chain}


def test_nsec3_opt_out_proves_an_unsigned_delegation_without_its_own_record() -> None:
    # An opt-out chain leaves unsigned delegations out (RFC 5155 §6): the span covering the
    # delegation, flagged opt-out, proves there may be an unsigned child, so no DS.
    chain = nsec3_chain(opt_out=True, without="sub.example.com")
    proof = nsec3_denial(n("sub.example.com"), DS, chain, ZONE)
    assert proof.ok and proof.denial is Denial.INSECURE_DELEGATION
    # The same span without the opt-out flag proves the name does not exist at all.
    proof = nsec3_denial(n("sub.example.com"), DS, nsec3_chain(without="sub.example.com"), ZONE)
    assert proof.denial is not Denial.INSECURE_DELEGATION


def test_too_many_iterations_is_insecure_not_a_proof() -> None:
    proof = nsec3_denial(n("nope.example.com"), A, nsec3_chain(MAX_NSEC3_ITERATIONS + 1), ZONE)
    assert not proof.ok and proof.insecure and "RFC 9276" in proof.reason
    proof = nsec3_denial(n("nope.example.com"), A, nsec3_chain(MAX_NSEC3_ITERATIONS), ZONE)
    assert proof.ok


def test_a_missing_wildcard_proof_is_no_proof() -> None:
    chain = nsec3_chain()
    wildcard_cover_owner = None
    h = nsec3_hash(n("*.example.com"), SALT, 12)
    from rootwalk.dnssec.denial import parse_nsec3

    for r in chain:
        rec = parse_nsec3(r)
        assert rec is not None
        if (rec.owner_hash < h < rec.next_hash) or (
            rec.owner_hash > rec.next_hash and (h > rec.owner_hash or h < rec.next_hash)
        ):
            wildcard_cover_owner = r.owner
    assert wildcard_cover_owner is not None
    assert nsec3_denial(n("nope.example.com"), A, chain, ZONE).ok  # with it: a proof
    proof = nsec3_denial(
        n("nope.example.com"), A, [r for r in chain if r.owner != wildcard_cover_owner], ZONE
    )
    assert not proof.ok
