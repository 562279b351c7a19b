"""Verdicts on one link of a chain of trust (RFC 4035 §5.2-§5.3), with the reason in words.

``verify_rrset`` checks an RRset against the validated DNSKEY set of its zone;
``verify_dnskeys`` checks a zone's DNSKEY set against the DS set (or trust anchor) above it.
Both return a ``Verdict``: the security status (RFC 4035 §4.3), the Extended DNS Error a
client gets if it is bogus (RFC 8914 §4), a sentence a person understands, and for a secure
RRset the TTL it may be cached for (RFC 4035 §5.3.3). They are pure: the caller supplies the
records and the time.
"""

from __future__ import annotations

import enum
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass

from rootwalk.dnssec.canonical import Rrsig, in_validity_window, parse_rrsig, signed_data
from rootwalk.dnssec.crypto import (
    SUPPORTED_ALGORITHMS,
    SUPPORTED_DIGESTS,
    ds_digest,
    key_tag,
    verify_signature,
)
from rootwalk.errors import EDE
from rootwalk.wire.message import RRset
from rootwalk.wire.names import is_subdomain, label_count, to_text

__all__ = ["Security", "Verdict", "verify_dnskeys", "verify_rrset"]

_ZONE_KEY = 0x0100  # DNSKEY flags bit 7 (RFC 4034 §2.1.1)
_PROTOCOL = 3
_DNSKEY_HEAD = struct.Struct("!HBB")  # flags, protocol, algorithm
_DS_HEAD = struct.Struct("!HBB")  # key tag, algorithm, digest type


class Security(enum.Enum):
    """RFC 4035 §4.3."""

    SECURE = "secure"
    INSECURE = "insecure"
    BOGUS = "bogus"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Security
    reason: str
    ede: EDE | None = None  # for BOGUS, and for INSECURE by unsupported algorithm/digest
    ttl: int | None = None  # SECURE: the TTL the RRset may be cached for
    key_tag: int | None = None  # the key that made it secure (for the trace)
    sig: Rrsig | None = None  # SECURE: the signature that verified


def _dnskey_fields(rdata: bytes) -> tuple[int, int, int, bytes] | None:
    if len(rdata) < 4:
        return None
    flags, protocol, algorithm = _DNSKEY_HEAD.unpack_from(rdata)
    return flags, protocol, algorithm, rdata[4:]


def _rrset_text(rrset: RRset) -> str:
    import dns.rdatatype  # presentation only

    return f"{to_text(rrset.owner)} {dns.rdatatype.to_text(rrset.rtype)}"  # type: ignore[arg-type]


# Signatures that verified, by what was verified: the same RRset, RRSIGs and keys come again
# and again (every referral from a TLD carries the same NSEC3 records, every wildcard answer
# the same proof), and a signature check costs far more than a lookup. Unbound likewise
# trusts an identical RRset it validated. The entry keeps the signature's window and original
# TTL, so the time checks and the TTL cap are made again at every use.
_VERIFIED: OrderedDict[tuple[object, ...], tuple[Rrsig, str]] = OrderedDict()
_VERIFIED_MAX = 4096


def verify_rrset(
    rrset: RRset, sigs: RRset | None, dnskeys: RRset, zone: bytes, now: float
) -> Verdict:
    """The status of ``rrset`` given the RRSIGs over it and the (already validated) DNSKEY
    set of ``zone``, the zone the RRset was received from."""
    if sigs is not None:
        key = (rrset.owner, rrset.rtype, rrset.rdatas, sigs.rdatas, zone, dnskeys.rdatas)
        known = _VERIFIED.get(key)
        if known is not None and in_validity_window(known[0], now) == 0:
            sig = known[0]
            ttl = max(0, min(rrset.ttl, sig.original_ttl, sig.expiration - int(now)))
            return Verdict(Security.SECURE, known[1], ttl=ttl, key_tag=sig.key_tag)
        verdict = _verify_rrset(rrset, sigs, dnskeys, zone, now)
        if verdict.status is Security.SECURE and verdict.sig is not None:
            _VERIFIED[key] = (verdict.sig, verdict.reason)
            if len(_VERIFIED) > _VERIFIED_MAX:
                _VERIFIED.popitem(last=False)
        return verdict
    return _verify_rrset(rrset, sigs, dnskeys, zone, now)


def _verify_rrset(
    rrset: RRset, sigs: RRset | None, dnskeys: RRset, zone: bytes, now: float
) -> Verdict:
    candidates: list[Rrsig] = []
    if sigs is not None:
        for rdata in sigs.rdatas:
            sig = parse_rrsig(rdata)
            # RFC 4035 §5.3.1: the signer is the zone, the owner lies within it, and the
            # labels field is no more than the owner's labels.
            if (
                sig is not None
                and sig.type_covered == rrset.rtype
                and sig.signer == zone
                and is_subdomain(rrset.owner, zone)
                and sig.labels <= label_count(rrset.owner)
            ):
                candidates.append(sig)
    if not candidates:
        return Verdict(
            Security.BOGUS,
            f"no RRSIG of {to_text(zone)} covers {_rrset_text(rrset)}",
            EDE.RRSIGS_MISSING,
        )
    if all(s.algorithm not in SUPPORTED_ALGORITHMS for s in candidates):
        algs = ", ".join(sorted({str(s.algorithm) for s in candidates}))
        return Verdict(
            Security.INSECURE,
            f"{_rrset_text(rrset)} is signed only with algorithm {algs}, which rootwalk does "
            "not support",
            EDE.UNSUPPORTED_DNSKEY_ALGORITHM,
        )
    keys = [f for f in (_dnskey_fields(rd) for rd in dnskeys.rdatas) if f is not None]
    failures: list[tuple[EDE, str]] = []
    for sig in candidates:
        if sig.algorithm not in SUPPORTED_ALGORITHMS:
            continue
        window = in_validity_window(sig, now)
        if window > 0:
            ago = _duration(int(now) - sig.expiration)
            failures.append(
                (
                    EDE.SIGNATURE_EXPIRED,
                    f"the RRSIG over {_rrset_text(rrset)} (key {sig.key_tag}) expired {ago} ago",
                )
            )
            continue
        if window < 0:
            failures.append(
                (
                    EDE.SIGNATURE_NOT_YET_VALID,
                    f"the RRSIG over {_rrset_text(rrset)} (key {sig.key_tag}) is not valid until "
                    f"{_duration(sig.inception - int(now))} from now",
                )
            )
            continue
        data = signed_data(sig, rrset)
        matching = [
            k
            for k in keys
            if k[2] == sig.algorithm
            and k[1] == _PROTOCOL
            and k[0] & _ZONE_KEY
            and key_tag(_DNSKEY_HEAD.pack(k[0], k[1], k[2]) + k[3]) == sig.key_tag
        ]
        if not matching:
            failures.append(
                (
                    EDE.DNSKEY_MISSING,
                    f"no DNSKEY of {to_text(zone)} has tag {sig.key_tag} and algorithm "
                    f"{sig.algorithm}, which signed {_rrset_text(rrset)}",
                )
            )
            continue
        if data is not None and any(
            verify_signature(sig.algorithm, k[3], sig.signature, data) for k in matching
        ):
            # RFC 4035 §5.3.3: no longer than the original TTL or the signature's lifetime.
            ttl = max(0, min(rrset.ttl, sig.original_ttl, sig.expiration - int(now)))
            return Verdict(
                Security.SECURE,
                f"{_rrset_text(rrset)} signed by key {sig.key_tag} (algorithm "
                f"{sig.algorithm}, valid {_day(sig.inception)} to {_day(sig.expiration)})",
                ttl=ttl,
                key_tag=sig.key_tag,
                sig=sig,
            )
        failures.append(
            (
                EDE.DNSSEC_BOGUS,
                f"the RRSIG over {_rrset_text(rrset)} by key {sig.key_tag} does not verify",
            )
        )
    code, reason = failures[0]
    return Verdict(Security.BOGUS, reason, code)


def verify_dnskeys(dnskeys: RRset, sigs: RRset | None, ds: RRset, now: float) -> Verdict:
    """The status of a zone's DNSKEY set given the DS set for the zone (from its validated
    parent, or a trust anchor): some DS must match a key, and that key must sign the set
    (RFC 4035 §5.2)."""
    zone = dnskeys.owner
    usable: list[tuple[int, int, int, bytes]] = []
    for rdata in ds.rdatas:
        if len(rdata) < 5:
            continue
        tag, algorithm, digest_type = _DS_HEAD.unpack_from(rdata)
        if algorithm in SUPPORTED_ALGORITHMS and digest_type in SUPPORTED_DIGESTS:
            usable.append((tag, algorithm, digest_type, rdata[4:]))
    if not usable:
        # RFC 4035 §5.2 / RFC 6840 §5.2: a zone we cannot validate is treated as unsigned.
        algorithms = {rd[2] for rd in ds.rdatas if len(rd) >= 4}
        code = (
            EDE.UNSUPPORTED_DNSKEY_ALGORITHM
            if algorithms - SUPPORTED_ALGORITHMS
            else EDE.UNSUPPORTED_DS_DIGEST_TYPE
        )
        return Verdict(
            Security.INSECURE,
            f"the DS of {to_text(zone)} uses only algorithms or digests rootwalk does not support",
            code,
        )
    matched: list[int] = []
    for rdata in dnskeys.rdatas:
        fields = _dnskey_fields(rdata)
        if fields is None or not fields[0] & _ZONE_KEY or fields[1] != _PROTOCOL:
            continue
        tag = key_tag(rdata)
        for ds_tag, algorithm, digest_type, digest in usable:
            if (ds_tag, algorithm) == (tag, fields[2]) and ds_digest(
                zone, rdata, digest_type
            ) == digest:
                matched.append(tag)
    if not matched:
        tags = ", ".join(str(u[0]) for u in usable)
        return Verdict(
            Security.BOGUS,
            f"no DNSKEY of {to_text(zone)} matches the DS ({tags}) published for it",
            EDE.DNSKEY_MISSING,
        )
    # The set must be signed by a key a DS vouches for (RFC 4035 §5.2, last bullet).
    trusted = RRset(
        dnskeys.owner,
        dnskeys.rtype,
        dnskeys.rclass,
        dnskeys.ttl,
        tuple(rd for rd in dnskeys.rdatas if key_tag(rd) in matched),
    )
    verdict = verify_rrset(dnskeys, sigs, trusted, zone, now)
    if verdict.status is Security.SECURE:
        return verdict
    if verdict.ede is EDE.RRSIGS_MISSING or verdict.ede is EDE.DNSKEY_MISSING:
        why = f"the DNSKEY set of {to_text(zone)} is not signed by the key its DS names"
    else:
        why = f"the DNSKEY set of {to_text(zone)} cannot be trusted"
    return Verdict(verdict.status, f"{why}: {verdict.reason}", verdict.ede)


def _day(serial: int) -> str:
    """An RRSIG time (seconds since 1970, RFC 4034 §3.1.5) as a UTC date."""
    return time.strftime("%Y-%m-%d", time.gmtime(serial))


def _duration(seconds: int) -> str:
    """A duration in the largest unit that keeps it readable ("3 days", "5 hours")."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
