"""DNSSEC primitives on compact records, checked against RFC vectors and dnspython's own signer
and validator (issue #12's first slice: no sockets, no chain of trust yet)."""

from __future__ import annotations

import dataclasses

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from rootwalk.dnssec.canonical import in_validity_window, parse_rrsig, signed_data
from rootwalk.dnssec.crypto import (
    SUPPORTED_ALGORITHMS,
    Algorithm,
    DigestType,
    ds_digest,
    key_tag,
    verify_signature,
)
from rootwalk.dnssec.nsec3 import b32hex, from_b32hex, nsec3_hash
from rootwalk.wire.convert import from_dns_rrset
from rootwalk.wire.message import RRset
from rootwalk.wire.names import from_text

# RFC 5155 Appendix A: salt aabbccdd, 12 iterations (the hashes printed with each owner).
RFC5155 = {
    "example": "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
    "a.example": "35mthgpgcu1qg68fab165klnsnk3dpvl",
    "ai.example": "gjeqe526plbf1g8mklp59enfd789njgi",
    "ns1.example": "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
    "ns2.example": "q04jkcevqvmu85r014c7dkba38o0ji5r",
    "*.w.example": "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
    "x.w.example": "b4um86eghhds6nea196smvmlo4ors995",
    "y.w.example": "ji6neoaepv8b5o6k4ev33abha8ht9fgc",
    "x.y.w.example": "2vptu5timamqttgl4luu9kg21e0aor3s",
    "xx.example": "t644ebqk9bibcna874givr6joj62mlhv",
}


@pytest.mark.parametrize(("name", "expected"), sorted(RFC5155.items()))
def test_nsec3_hash_matches_rfc5155_appendix_a(name: str, expected: str) -> None:
    raw = nsec3_hash(from_text(name), bytes.fromhex("aabbccdd"), 12)
    assert b32hex(raw).decode() == expected
    assert from_b32hex(expected.encode()) == raw
    assert from_b32hex(expected.upper().encode()) == raw  # labels compare case-insensitively


def test_nsec3_hash_agrees_with_dnspython_and_lowercases_nothing_itself() -> None:
    for name in ("WWW.Example.COM", "a.b.c.d.e.f", "x"):
        for salt, iterations in (("", 0), ("ab", 1), ("0102030405", 5)):
            ours = b32hex(nsec3_hash(from_text(name), bytes.fromhex(salt), iterations))
            theirs = dns.dnssec.nsec3_hash(name, salt or None, iterations, 1).lower()
            assert ours.decode() == theirs


ORIGIN = dns.name.from_text("example.com.")


def _private_key(algorithm: Algorithm) -> object:
    if algorithm in (Algorithm.ECDSAP256SHA256, Algorithm.ECDSAP384SHA384):
        curve = ec.SECP256R1() if algorithm == Algorithm.ECDSAP256SHA256 else ec.SECP384R1()
        return ec.generate_private_key(curve)
    if algorithm == Algorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == Algorithm.ED448:
        return ed448.Ed448PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


_KEYS: dict[int, tuple[object, dns.rdata.Rdata]] = {}


def signing_key(algorithm: Algorithm) -> tuple[object, dns.rdata.Rdata]:
    """One key per algorithm for the whole module (RSA key generation is slow)."""
    if algorithm not in _KEYS:
        private = _private_key(algorithm)
        dnskey = dns.dnssec.make_dnskey(private.public_key(), algorithm, flags=257)  # type: ignore[attr-defined]
        _KEYS[algorithm] = (private, dnskey)
    return _KEYS[algorithm]


def sign(
    rrset: dns.rrset.RRset, algorithm: Algorithm, *, signer: dns.name.Name = ORIGIN
) -> tuple[dns.rrset.RRset, dns.rdata.Rdata]:
    private, dnskey = signing_key(algorithm)
    rrsig = dns.dnssec.sign(
        rrset,
        private,  # type: ignore[arg-type]
        signer,
        dnskey,
        inception=1_700_000_000,
        expiration=1_900_000_000,
    )
    return dns.rrset.from_rdata(rrset.name, rrset.ttl, rrsig), dnskey


def verifies(rrset: RRset, rrsig_rdata: bytes, dnskey: dns.rdata.Rdata) -> bool:
    sig = parse_rrsig(rrsig_rdata)
    assert sig is not None
    data = signed_data(sig, rrset)
    return data is not None and verify_signature(sig.algorithm, dnskey.key, sig.signature, data)


WWW = dns.rrset.from_text("www.example.com.", 300, "IN", "A", "192.0.2.1", "192.0.2.2", "192.0.2.3")
MX = dns.rrset.from_text(
    "Example.COM.", 300, "IN", "MX", "10 Mail.Example.com.", "20 backup.example.NET."
)


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.name)
def test_signatures_made_by_dnspython_verify_on_compact_records(algorithm: Algorithm) -> None:
    for rrset in (WWW, MX):
        sigs, dnskey = sign(rrset, algorithm)
        # dnspython's own validator agrees the signature is good...
        dns.dnssec.validate_rrsig(rrset, sigs[0], {ORIGIN: [dnskey]}, now=1_800_000_000)
        compact = from_dns_rrset(rrset)
        rdata = from_dns_rrset(sigs).rdatas[0]
        assert verifies(compact, rdata, dnskey)
        # ... and a changed record, TTL-independent, breaks it.
        forged = dataclasses.replace(compact, rdatas=(compact.rdatas[0][:-1] + b"\x63",))
        assert not verifies(forged, rdata, dnskey)
        # Record order and the TTL the cache counted down do not matter (RFC 4034 §3.1.8.1).
        shuffled = dataclasses.replace(compact, rdatas=compact.rdatas[::-1], ttl=7)
        assert verifies(shuffled, rdata, dnskey)


def test_a_signature_by_another_key_or_of_another_algorithm_fails() -> None:
    sigs, _ = sign(WWW, Algorithm.ECDSAP256SHA256)
    _, other = signing_key(Algorithm.ED25519)
    rdata = from_dns_rrset(sigs).rdatas[0]
    assert not verifies(from_dns_rrset(WWW), rdata, other)
    sig = parse_rrsig(rdata)
    assert sig is not None
    data = signed_data(sig, from_dns_rrset(WWW))
    assert data is not None
    assert not verify_signature(99, b"key", sig.signature, data)  # unknown algorithm
    assert not verify_signature(Algorithm.RSASHA256, b"\x01", sig.signature, data)  # bad key


def test_wildcard_expansion_is_checked_against_the_wildcard_owner() -> None:
    wild = dns.rrset.from_text("*.example.com.", 300, "IN", "A", "192.0.2.99")
    sigs, dnskey = sign(wild, Algorithm.ED25519)
    rdata = from_dns_rrset(sigs).rdatas[0]
    sig = parse_rrsig(rdata)
    assert sig is not None and sig.labels == 2  # RFC 4034 §3.1.3: the "*" is not counted
    expanded = dataclasses.replace(from_dns_rrset(wild), owner=from_text("any.thing.example.com"))
    assert verifies(expanded, rdata, dnskey)
    # Fewer labels in the owner than the RRSIG claims: it cannot cover that owner.
    too_short = dataclasses.replace(expanded, owner=from_text("com"))
    assert signed_data(sig, too_short) is None


def test_key_tags_and_ds_digests_agree_with_dnspython() -> None:
    for algorithm in (Algorithm.RSASHA256, Algorithm.ECDSAP256SHA256, Algorithm.ED25519):
        _, dnskey = signing_key(algorithm)
        rdata = dnskey.to_digestable()
        assert key_tag(rdata) == dns.dnssec.key_id(dnskey)
        for digest in DigestType:
            ds = dns.dnssec.make_ds(ORIGIN, dnskey, digest.name, policy=dns.dnssec.allow_all_policy)
            assert ds_digest(from_text("Example.COM"), rdata, digest) == ds.digest
    assert ds_digest(from_text("example.com"), b"key", 3) is None  # GOST: not supported


def test_root_ksk_2017_key_tag_is_20326() -> None:
    # The published root KSK-2017 (dns-root-data root.key): its key tag and DS digest.
    key = dns.rdata.from_text(
        dns.rdataclass.IN,
        dns.rdatatype.DNSKEY,
        "257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLA"
        "Jr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWe"
        "zF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1"
        "uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1"
        "AkUTV74bU=",
    )
    rdata = key.to_digestable()
    assert key_tag(rdata) == 20326
    expected = "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
    assert ds_digest(b"\x00", rdata, DigestType.SHA256) == bytes.fromhex(expected)


def test_validity_window_uses_serial_number_arithmetic() -> None:
    sigs, _ = sign(WWW, Algorithm.ED25519)
    sig = parse_rrsig(from_dns_rrset(sigs).rdatas[0])
    assert sig is not None
    assert in_validity_window(sig, 1_800_000_000) == 0
    assert in_validity_window(sig, 1_600_000_000) == -1  # not yet valid
    assert in_validity_window(sig, 1_950_000_000) == 1  # expired
    # Across the 2**32 wrap (RFC 4034 §3.1.5): inception just before it, expiration after.
    wrapped = dataclasses.replace(sig, inception=2**32 - 100, expiration=100)
    assert in_validity_window(wrapped, 2**32 + 50) == 0
    assert in_validity_window(wrapped, 2**32 + 200) == 1


def test_every_rfc8624_must_validate_algorithm_is_supported() -> None:
    assert {5, 7, 8, 10, 13, 14, 15, 16} <= SUPPORTED_ALGORITHMS


def test_parse_rrsig_rejects_truncated_rdata() -> None:
    sigs, _ = sign(WWW, Algorithm.ED25519)
    rdata = from_dns_rrset(sigs).rdatas[0]
    assert parse_rrsig(rdata[:10]) is None
    assert parse_rrsig(rdata[:19]) is None  # the signer name runs off the end
