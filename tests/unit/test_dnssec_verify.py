"""One link of a chain of trust at a time: DS -> DNSKEY set -> RRset, secure, insecure and each
kind of bogus, with the sentence an operator reads (issue #12, pure logic: no sockets)."""

from __future__ import annotations

import dataclasses

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from rootwalk.dnssec.verify import Security, verify_dnskeys, verify_rrset
from rootwalk.errors import EDE
from rootwalk.wire.convert import from_dns_rrset
from rootwalk.wire.message import RRset
from rootwalk.wire.names import from_text

ZONE = dns.name.from_text("example.com.")
NOW = 1_800_000_000
INCEPTION, EXPIRATION = NOW - 86400, NOW + 30 * 86400

KSK = ec.generate_private_key(ec.SECP256R1())
ZSK = ed25519.Ed25519PrivateKey.generate()
KSK_KEY = dns.dnssec.make_dnskey(KSK.public_key(), 13, flags=257)
ZSK_KEY = dns.dnssec.make_dnskey(ZSK.public_key(), 15, flags=256)
DNSKEYS = dns.rrset.from_rdata(ZONE, 3600, KSK_KEY, ZSK_KEY)
WWW = dns.rrset.from_text("www.example.com.", 300, "IN", "A", "192.0.2.1")


def signed(
    rrset: dns.rrset.RRset,
    private: object,
    key: dns.rdata.Rdata,
    *,
    inception: int = INCEPTION,
    expiration: int = EXPIRATION,
) -> RRset:
    sig = dns.dnssec.sign(
        rrset,
        private,
        ZONE,
        key,
        inception=inception,
        expiration=expiration,  # type: ignore[arg-type]
    )
    return from_dns_rrset(dns.rrset.from_rdata(rrset.name, rrset.ttl, sig))


def ds_for(key: dns.rdata.Rdata, digest: str = "SHA256") -> RRset:
    ds = dns.dnssec.make_ds(ZONE, key, digest, policy=dns.dnssec.allow_all_policy)
    return from_dns_rrset(dns.rrset.from_rdata(ZONE, 86400, ds))


KEYS = from_dns_rrset(DNSKEYS)
KEY_SIGS = signed(DNSKEYS, KSK, KSK_KEY)


def test_a_chain_from_ds_to_an_answer_is_secure() -> None:
    keys = verify_dnskeys(KEYS, KEY_SIGS, ds_for(KSK_KEY), NOW)
    assert keys.status is Security.SECURE and keys.key_tag == dns.dnssec.key_id(KSK_KEY)
    www = verify_rrset(
        from_dns_rrset(WWW), signed(WWW, ZSK, ZSK_KEY), KEYS, from_text("example.com"), NOW
    )
    assert www.status is Security.SECURE and www.key_tag == dns.dnssec.key_id(ZSK_KEY)


def test_ttl_is_capped_by_the_original_ttl_and_the_expiration() -> None:
    sigs = signed(WWW, ZSK, ZSK_KEY, expiration=NOW + 100)
    longer = dataclasses.replace(from_dns_rrset(WWW), ttl=9999)  # a server raising the TTL
    verdict = verify_rrset(longer, sigs, KEYS, from_text("example.com"), NOW)
    assert verdict.status is Security.SECURE and verdict.ttl == 100  # RFC 4035 §5.3.3
    verdict = verify_rrset(longer, signed(WWW, ZSK, ZSK_KEY), KEYS, from_text("example.com"), NOW)
    assert verdict.ttl == 300  # the original TTL in the RRSIG


def test_expired_and_not_yet_valid_signatures_say_so() -> None:
    old = signed(WWW, ZSK, ZSK_KEY, inception=NOW - 10 * 86400, expiration=NOW - 3 * 86400)
    verdict = verify_rrset(from_dns_rrset(WWW), old, KEYS, from_text("example.com"), NOW)
    assert verdict.status is Security.BOGUS and verdict.ede is EDE.SIGNATURE_EXPIRED
    assert "expired 3 days ago" in verdict.reason and "www.example.com. A" in verdict.reason
    future = signed(WWW, ZSK, ZSK_KEY, inception=NOW + 7200, expiration=NOW + 86400)
    verdict = verify_rrset(from_dns_rrset(WWW), future, KEYS, from_text("example.com"), NOW)
    assert verdict.ede is EDE.SIGNATURE_NOT_YET_VALID and "2 hours from now" in verdict.reason


def test_missing_signatures_keys_and_forged_data_are_bogus() -> None:
    www = from_dns_rrset(WWW)
    zone = from_text("example.com")
    verdict = verify_rrset(www, None, KEYS, zone, NOW)
    assert verdict.status is Security.BOGUS and verdict.ede is EDE.RRSIGS_MISSING
    only_ksk = dataclasses.replace(KEYS, rdatas=(KSK_KEY.to_digestable(),))
    verdict = verify_rrset(www, signed(WWW, ZSK, ZSK_KEY), only_ksk, zone, NOW)
    assert verdict.ede is EDE.DNSKEY_MISSING and "no DNSKEY of example.com." in verdict.reason
    forged = dataclasses.replace(www, rdatas=(bytes([192, 0, 2, 66]),))
    verdict = verify_rrset(forged, signed(WWW, ZSK, ZSK_KEY), KEYS, zone, NOW)
    assert verdict.status is Security.BOGUS and verdict.ede is EDE.DNSSEC_BOGUS
    # A signature by another zone's name does not count (RFC 4035 §5.3.1).
    verdict = verify_rrset(www, signed(WWW, ZSK, ZSK_KEY), KEYS, from_text("com"), NOW)
    assert verdict.ede is EDE.RRSIGS_MISSING


def test_a_ds_that_matches_no_key_is_bogus_in_words() -> None:
    stranger = dns.dnssec.make_dnskey(
        ec.generate_private_key(ec.SECP256R1()).public_key(), 13, flags=257
    )
    verdict = verify_dnskeys(KEYS, KEY_SIGS, ds_for(stranger), NOW)
    assert verdict.status is Security.BOGUS and verdict.ede is EDE.DNSKEY_MISSING
    assert "no DNSKEY of example.com. matches the DS" in verdict.reason


def test_a_key_set_not_signed_by_the_key_the_ds_names_is_bogus() -> None:
    by_zsk = signed(DNSKEYS, ZSK, ZSK_KEY)  # the ZSK signed the set, the DS names the KSK
    verdict = verify_dnskeys(KEYS, by_zsk, ds_for(KSK_KEY), NOW)
    assert verdict.status is Security.BOGUS
    assert "not signed by the key its DS names" in verdict.reason


def test_unsupported_algorithms_and_digests_are_insecure_not_bogus() -> None:
    # RFC 4035 §5.2, RFC 6840 §5.2: a zone signed only with what we cannot check is unsigned.
    ds = ds_for(KSK_KEY)
    private_alg = dataclasses.replace(ds, rdatas=(ds.rdatas[0][:2] + b"\xfd" + ds.rdatas[0][3:],))
    verdict = verify_dnskeys(KEYS, KEY_SIGS, private_alg, NOW)
    assert verdict.status is Security.INSECURE and verdict.ede is EDE.UNSUPPORTED_DNSKEY_ALGORITHM
    gost = dataclasses.replace(ds, rdatas=(ds.rdatas[0][:3] + b"\x03" + ds.rdatas[0][4:],))
    verdict = verify_dnskeys(KEYS, KEY_SIGS, gost, NOW)
    assert verdict.status is Security.INSECURE and verdict.ede is EDE.UNSUPPORTED_DS_DIGEST_TYPE
    # Every digest type we support finds the key.
    for digest in ("SHA1", "SHA256", "SHA384"):
        assert (
            verify_dnskeys(KEYS, KEY_SIGS, ds_for(KSK_KEY, digest), NOW).status is Security.SECURE
        )


def test_a_verified_signature_is_reused_only_for_the_same_data_and_within_its_window() -> None:
    """The verified-signature memo (verify.py _VERIFIED) answers an identical RRset, RRSIG set
    and key set without checking again, but never another RRset, another key set, or a time
    outside the signature's window; the TTL cap is made afresh each time."""
    from rootwalk.dnssec import verify

    zone = from_text("example.com")
    www = from_dns_rrset(WWW)
    sigs = signed(WWW, ZSK, ZSK_KEY, expiration=NOW + 1000)
    calls: list[int] = []
    real = verify.verify_signature

    def counting(*args: object) -> bool:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    verify._VERIFIED.clear()
    verify.verify_signature = counting  # type: ignore[assignment]
    try:
        assert verify_rrset(www, sigs, KEYS, zone, NOW).status is Security.SECURE
        assert len(calls) == 1
        again = verify_rrset(www, sigs, KEYS, zone, NOW + 600)
        assert again.status is Security.SECURE and again.ttl == 300 and len(calls) == 1
        assert verify_rrset(www, sigs, KEYS, zone, NOW + 900).ttl == 100  # expiration - now
        forged = dataclasses.replace(www, rdatas=(bytes([192, 0, 2, 66]),))
        assert verify_rrset(forged, sigs, KEYS, zone, NOW).status is Security.BOGUS
        only_ksk = dataclasses.replace(KEYS, rdatas=(KSK_KEY.to_digestable(),))
        assert verify_rrset(www, sigs, only_ksk, zone, NOW).ede is EDE.DNSKEY_MISSING
        late = verify_rrset(www, sigs, KEYS, zone, NOW + 2000)
        assert late.status is Security.BOGUS and late.ede is EDE.SIGNATURE_EXPIRED
    finally:
        verify.verify_signature = real
