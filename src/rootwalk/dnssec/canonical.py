"""RRSIG rdata, the data an RRSIG signs, and signature validity (RFC 4034 §3, §6).

The engine's RRsets already hold rdata in canonical form for the types whose names it reads
(rootwalk.wire.message lower-cases the names inside NS, CNAME, SOA, MX, PTR, SRV, DNAME and
RRSIG rdata, as RFC 4034 §6.2 and RFC 6840 §5.1 ask; the NSEC next name keeps its case), so
the signed data is built from the stored bytes without touching the original packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rootwalk.wire.message import RRset
from rootwalk.wire.names import label_count, labels

__all__ = ["Rrsig", "in_validity_window", "parse_rrsig", "signed_data"]

_RRSIG_FIXED = struct.Struct("!HBBIIIH")  # type covered, algorithm, labels, TTL, exp, inc, tag
_RR_FIXED = struct.Struct("!HHIH")


@dataclass(frozen=True, slots=True)
class Rrsig:
    """The fields of one RRSIG rdata (RFC 4034 §3.1)."""

    type_covered: int
    algorithm: int
    labels: int
    original_ttl: int
    expiration: int
    inception: int
    key_tag: int
    signer: bytes  # wire name, lower-cased
    signature: bytes
    head: bytes  # the rdata without the signature: the start of what was signed


def parse_rrsig(rdata: bytes) -> Rrsig | None:
    """The RRSIG's fields, or None when the rdata is too short or its signer name broken."""
    if len(rdata) < _RRSIG_FIXED.size + 1:
        return None
    covered, algorithm, nlabels, ttl, exp, inc, tag = _RRSIG_FIXED.unpack_from(rdata)
    i = _RRSIG_FIXED.size
    while i < len(rdata) and rdata[i]:
        i += rdata[i] + 1
    if i >= len(rdata):
        return None
    end = i + 1
    return Rrsig(
        covered, algorithm, nlabels, ttl, exp, inc, tag, rdata[18:end], rdata[end:], rdata[:end]
    )


def signed_data(rrsig: Rrsig, rrset: RRset) -> bytes | None:
    """What the signer signed (RFC 4034 §3.1.8.1): the RRSIG rdata without its signature, then
    every RR of the set in canonical order with the original TTL. None when the RRSIG cannot
    cover this owner (more labels than the owner has).

    A wildcard expansion (RFC 4035 §5.3.2) is signed under ``*.`` plus the rightmost
    ``rrsig.labels`` labels of the owner.
    """
    owner = rrset.owner
    count = label_count(owner)
    if rrsig.labels > count:
        return None
    if rrsig.labels < count:
        keep = labels(owner)[count - rrsig.labels :]
        owner = b"\x01*" + b"".join(bytes([len(x)]) + x for x in keep) + b"\x00"
    head = owner + struct.pack("!HHI", rrset.rtype, rrset.rclass, rrsig.original_ttl)
    parts = [rrsig.head]
    # RFC 4034 §6.3: RRs sorted by their canonical rdata as unsigned octet strings, each once.
    for rdata in sorted(set(rrset.rdatas)):
        parts.append(head + struct.pack("!H", len(rdata)) + rdata)
    return b"".join(parts)


def in_validity_window(rrsig: Rrsig, now: float) -> int:
    """0 when ``now`` lies between inception and expiration, compared in serial-number
    arithmetic (RFC 4034 §3.1.5, RFC 1982: the fields wrap every 2**32 seconds); -1 when the
    signature is not yet valid, 1 when it has expired."""
    t = int(now) & 0xFFFFFFFF
    if _serial_lt(t, rrsig.inception):
        return -1
    if _serial_lt(rrsig.expiration, t):
        return 1
    return 0


def _serial_lt(a: int, b: int) -> bool:
    """RFC 1982 §3.2: a < b in 32-bit serial-number arithmetic."""
    return a != b and ((a < b and b - a < 2**31) or (a > b and a - b > 2**31))
