"""Authenticated denial of existence: what NSEC (RFC 4035 §5.4) and NSEC3 (RFC 5155 §8)
records prove about a name.

Each function takes the (already signature-checked) NSEC or NSEC3 RRsets of a response and
answers one question with a ``Proof``: does the name not exist, does the type not exist, is a
delegation unsigned. Names are lower-cased wire names; the NSEC next name is compared in
lower case (RFC 6840 §5.1 keeps its case on the wire).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from rootwalk.dnssec.nsec3 import SHA1, b32hex, nsec3_hash
from rootwalk.wire.message import RRset
from rootwalk.wire.names import ROOT, is_subdomain, label_count, labels, lower, parent, to_text

__all__ = [
    "MAX_NSEC3_ITERATIONS",
    "Denial",
    "Nsec3",
    "Proof",
    "canonical_key",
    "nsec3_denial",
    "nsec_denial",
    "parse_nsec",
    "parse_nsec3",
    "type_in_bitmap",
    "wildcard_expansion_proof",
]

# RFC 9276 §3.2 lets a validator treat NSEC3 with more iterations as insecure: each costs a
# SHA-1 per name tried, and a hostile zone could make every negative answer expensive. 150 is
# the limit Unbound (1.17+) and BIND ship; RFC 9276 asks zones for 0.
MAX_NSEC3_ITERATIONS = 150
_CNAME, _NS, _SOA, _DNAME, _DS, _NSEC, _NSEC3 = 5, 2, 6, 39, 43, 47, 50
_OPT_OUT = 0x01


class Denial(enum.Enum):
    """What a proof shows."""

    NXDOMAIN = "nxdomain"  # the name does not exist, nor a wildcard that would match it
    NODATA = "nodata"  # the name exists without the type
    WILDCARD_NODATA = "wildcard nodata"  # a wildcard matches, without the type
    INSECURE_DELEGATION = "insecure delegation"  # a cut without DS (opt-out included)


@dataclass(frozen=True, slots=True)
class Proof:
    ok: bool
    denial: Denial | None
    reason: str
    insecure: bool = False  # NSEC3 beyond MAX_NSEC3_ITERATIONS: no proof, but not bogus
    # RFC 5155 §9.2: the NSEC3 covering the next closer name has opt-out set, so an unsigned
    # delegation may exist there: the proof holds, but the answer gets no AD.
    opt_out: bool = False


def canonical_key(name: bytes) -> tuple[bytes, ...]:
    """RFC 4034 §6.1 canonical order: by labels from the right, each as lower-case octets;
    a name sorts before its descendants."""
    return tuple(reversed(labels(lower(name))))


def type_in_bitmap(bitmap: bytes, rtype: int) -> bool:
    """RFC 4034 §4.1.2: the type bit maps of NSEC and NSEC3."""
    window, bit = divmod(rtype, 256)
    i = 0
    while i + 2 <= len(bitmap):
        win, length = bitmap[i], bitmap[i + 1]
        block = bitmap[i + 2 : i + 2 + length]
        if win == window:
            byte = bit // 8
            return byte < len(block) and bool(block[byte] & (0x80 >> (bit % 8)))
        i += 2 + length
    return False


def parse_nsec(rdata: bytes) -> tuple[bytes, bytes] | None:
    """(next owner name, lower-cased; type bitmap) of an NSEC rdata."""
    i = 0
    while i < len(rdata) and rdata[i]:
        i += rdata[i] + 1
    if i >= len(rdata):
        return None
    return lower(rdata[: i + 1]), rdata[i + 1 :]


@dataclass(frozen=True, slots=True)
class Nsec3:
    owner_hash: bytes  # raw, from the owner's first label
    algorithm: int
    flags: int
    iterations: int
    salt: bytes
    next_hash: bytes
    bitmap: bytes


def parse_nsec3(rrset: RRset) -> Nsec3 | None:
    """The NSEC3 record of ``rrset`` (RFC 5155 §3.2); None when malformed."""
    from rootwalk.dnssec.nsec3 import from_b32hex

    owner_label = labels(rrset.owner)[0] if rrset.owner != ROOT else b""
    owner_hash = from_b32hex(owner_label)
    rdata = rrset.rdatas[0]
    if owner_hash is None or len(rdata) < 5:
        return None
    algorithm, flags, iterations, salt_len = struct.unpack_from("!BBHB", rdata)
    i = 5 + salt_len
    if i >= len(rdata):
        return None
    salt = rdata[5:i]
    hash_len = rdata[i]
    next_hash = rdata[i + 1 : i + 1 + hash_len]
    if len(next_hash) != hash_len:
        return None
    return Nsec3(
        owner_hash, algorithm, flags, iterations, salt, next_hash, rdata[i + 1 + hash_len :]
    )


def _covers(owner: tuple[bytes, ...], nxt: tuple[bytes, ...], x: tuple[bytes, ...]) -> bool:
    if owner < nxt:
        return owner < x < nxt
    return x > owner or x < nxt  # the last record of the chain wraps to the first


def _closest_encloser(qname: bytes, a: bytes, b: bytes) -> bytes:
    """The longest ancestor of ``qname`` that is also an ancestor of ``a`` or ``b`` (the
    NSEC owner and next name around it, RFC 4035 §5.4)."""
    best = ROOT
    for other in (a, b):
        probe = qname
        while probe != ROOT and not is_subdomain(other, probe):
            probe = parent(probe)
        if len(probe) > len(best):
            best = probe
    return best


def nsec_denial(qname: bytes, qtype: int, nsecs: Sequence[RRset], zone: bytes) -> Proof:
    """What NSEC records prove about (qname, qtype) in ``zone`` (RFC 4035 §5.4)."""
    records = []
    for rrset in nsecs:
        parsed = parse_nsec(rrset.rdatas[0])
        if parsed is not None and is_subdomain(rrset.owner, zone):
            records.append((rrset.owner, parsed[0], parsed[1]))
    name = qname
    for owner, _nxt, bitmap in records:
        if owner == qname:
            if type_in_bitmap(bitmap, qtype) or type_in_bitmap(bitmap, _CNAME):
                return Proof(False, None, f"the NSEC at {to_text(qname)} lists the type")
            if qtype != _DS and _parent_side(bitmap):
                return Proof(False, None, _PARENT_SIDE.format("NSEC", to_text(qname)))
            if qtype == _DS and type_in_bitmap(bitmap, _NS) and not type_in_bitmap(bitmap, _SOA):
                return Proof(True, Denial.INSECURE_DELEGATION, "NSEC: delegation without DS")
            return Proof(True, Denial.NODATA, f"NSEC at {to_text(qname)}: no such type")
    key = canonical_key(name)
    cover = next(
        (r for r in records if _covers(canonical_key(r[0]), canonical_key(r[1]), key)), None
    )
    if cover is None:
        return Proof(False, None, f"no NSEC covers {to_text(qname)}")
    if _cut_above(cover[0], cover[2], qname):
        # The NSEC at a zone cut (NS without SOA) or a DNAME belongs to names the parent
        # serves; names below it are the child's, and it denies none of them (RFC 4035 §5.4,
        # RFC 8198 §5.1, RFC 6672 §5.3.4.1).
        return Proof(False, None, f"the NSEC at {to_text(cover[0])} cannot deny names below it")
    if is_subdomain(cover[1], qname):
        # The next name lies below qname: qname is an empty non-terminal, which exists with no
        # data at all (RFC 4035 §5.4, RFC 8020 §2), so every type is denied.
        return Proof(True, Denial.NODATA, f"NSEC: {to_text(qname)} is an empty non-terminal")
    encloser = _closest_encloser(qname, cover[0], cover[1])
    wildcard = b"\x01*" + encloser
    for owner, _nxt, bitmap in records:
        if owner == wildcard:
            if type_in_bitmap(bitmap, qtype) or type_in_bitmap(bitmap, _CNAME):
                return Proof(False, None, f"the wildcard {to_text(wildcard)} has the type")
            return Proof(True, Denial.WILDCARD_NODATA, f"NSEC at {to_text(wildcard)}")
    wkey = canonical_key(wildcard)
    if any(_covers(canonical_key(r[0]), canonical_key(r[1]), wkey) for r in records):
        return Proof(True, Denial.NXDOMAIN, f"NSEC: no {to_text(qname)} and no wildcard")
    return Proof(False, None, f"no NSEC proves that {to_text(wildcard)} does not exist")


# RFC 4035 §5.4, RFC 5155 §8.5: the record at a delegation point is the parent's; it speaks
# for the DS (and NS) there, never for the types of the child zone's apex.
_PARENT_SIDE = "the {} at {} is the parent's side of a zone cut: it denies only a DS"


def _parent_side(bitmap: bytes) -> bool:
    return type_in_bitmap(bitmap, _NS) and not type_in_bitmap(bitmap, _SOA)


def _cut_above(owner: bytes, bitmap: bytes, qname: bytes) -> bool:
    if owner == qname or not is_subdomain(qname, owner):
        return False
    cut = type_in_bitmap(bitmap, _NS) and not type_in_bitmap(bitmap, _SOA)
    return cut or type_in_bitmap(bitmap, _DNAME)


def nsec3_denial(qname: bytes, qtype: int, nsec3s: Sequence[RRset], zone: bytes) -> Proof:
    """What NSEC3 records prove about (qname, qtype) in ``zone`` (RFC 5155 §8.3-§8.7)."""
    records = [
        r
        for r in (parse_nsec3(rrset) for rrset in nsec3s if parent(rrset.owner) == zone)
        if r is not None and r.algorithm == SHA1
    ]
    if not records:
        return Proof(False, None, f"no usable NSEC3 of {to_text(zone)}")
    params = records[0]
    if params.iterations > MAX_NSEC3_ITERATIONS:
        return Proof(
            False,
            None,
            f"NSEC3 of {to_text(zone)} uses {params.iterations} iterations "
            f"(more than {MAX_NSEC3_ITERATIONS}: treated as insecure, RFC 9276)",
            insecure=True,
        )

    def hashed(name: bytes) -> bytes:
        return nsec3_hash(name, params.salt, params.iterations)

    def matching(name: bytes) -> Nsec3 | None:
        h = hashed(name)
        return next((r for r in records if r.owner_hash == h), None)

    def covering(name: bytes) -> Nsec3 | None:
        h = hashed(name)
        return next((r for r in records if _covers((r.owner_hash,), (r.next_hash,), (h,))), None)

    exact = matching(qname)
    if exact is not None:
        if type_in_bitmap(exact.bitmap, qtype) or type_in_bitmap(exact.bitmap, _CNAME):
            return Proof(False, None, f"the NSEC3 of {to_text(qname)} lists the type")
        if qtype != _DS and _parent_side(exact.bitmap):
            return Proof(False, None, _PARENT_SIDE.format("NSEC3", to_text(qname)))
        if qtype == _DS and type_in_bitmap(exact.bitmap, _NS):
            return Proof(True, Denial.INSECURE_DELEGATION, "NSEC3: delegation without DS")
        return Proof(True, Denial.NODATA, f"NSEC3 of {to_text(qname)}: no such type")
    # The closest encloser proof (RFC 5155 §8.3): the longest existing ancestor, and the
    # next closer name (one label longer) covered.
    next_closer = qname
    encloser = parent(qname)
    while matching(encloser) is None:
        if encloser in (zone, ROOT):
            return Proof(False, None, f"no NSEC3 proves a closest encloser of {to_text(qname)}")
        next_closer, encloser = encloser, parent(encloser)
    nc_cover = covering(next_closer)
    if nc_cover is None:
        return Proof(False, None, f"no NSEC3 covers {to_text(next_closer)}")
    opt_out = bool(nc_cover.flags & _OPT_OUT)
    if qtype == _DS and opt_out:
        # RFC 5155 §8.6: an opt-out span may hold unsigned delegations.
        return Proof(
            True, Denial.INSECURE_DELEGATION, "NSEC3 opt-out covers the delegation", opt_out=True
        )
    wildcard = b"\x01*" + encloser
    wild = matching(wildcard)
    if wild is not None:
        if type_in_bitmap(wild.bitmap, qtype) or type_in_bitmap(wild.bitmap, _CNAME):
            return Proof(False, None, f"the wildcard {to_text(wildcard)} has the type")
        return Proof(True, Denial.WILDCARD_NODATA, f"NSEC3 of {to_text(wildcard)}", opt_out=opt_out)
    if covering(wildcard) is not None:
        return Proof(
            True,
            Denial.NXDOMAIN,
            f"NSEC3: closest encloser {to_text(encloser)}, {to_text(next_closer)} and "
            f"{to_text(wildcard)} do not exist" + (" (opt-out span)" if opt_out else ""),
            opt_out=opt_out,
        )
    return Proof(False, None, f"no NSEC3 proves that {to_text(wildcard)} does not exist")


def nsec3_owner(name: bytes, zone: bytes, salt: bytes, iterations: int) -> bytes:
    """The NSEC3 owner name of ``name`` in ``zone`` (for tests and the lab's signer)."""
    label = b32hex(nsec3_hash(name, salt, iterations))
    return bytes([len(label)]) + label + zone


def wildcard_expansion_proof(
    owner: bytes, sig_labels: int, proof: Sequence[RRset], zone: bytes
) -> Proof:
    """Whether ``proof`` (signature-checked NSEC or NSEC3 RRsets) shows that no name closer
    to ``owner`` than the wildcard exists, for an RRset signed with ``sig_labels`` labels,
    fewer than its owner has: a wildcard expansion (RFC 4035 §5.3.4, RFC 5155 §8.8)."""
    encloser = next_closer = owner
    while label_count(encloser) > sig_labels:
        next_closer, encloser = encloser, parent(encloser)
    nsecs = [r for r in proof if r.rtype == _NSEC]
    if nsecs:
        key = canonical_key(owner)
        for rrset in nsecs:
            parsed = parse_nsec(rrset.rdatas[0])
            if parsed is None or not is_subdomain(rrset.owner, zone):
                continue
            if _covers(canonical_key(rrset.owner), canonical_key(parsed[0]), key):
                return Proof(True, None, f"NSEC {to_text(rrset.owner)} covers {to_text(owner)}")
        return Proof(
            False, None, f"no NSEC shows that {to_text(owner)} does not exist (wildcard answer)"
        )
    records = [
        r
        for r in (parse_nsec3(rrset) for rrset in proof if rrset.rtype == _NSEC3)
        if r is not None and r.algorithm == SHA1
    ]
    if not records:
        return Proof(False, None, f"no NSEC or NSEC3 proves the wildcard answer {to_text(owner)}")
    params = records[0]
    if params.iterations > MAX_NSEC3_ITERATIONS:
        return Proof(False, None, "NSEC3 iterations beyond the limit", insecure=True)
    h = nsec3_hash(next_closer, params.salt, params.iterations)
    if any(_covers((r.owner_hash,), (r.next_hash,), (h,)) for r in records):
        return Proof(True, None, f"NSEC3 covers the next closer name {to_text(next_closer)}")
    return Proof(
        False, None, f"no NSEC3 covers {to_text(next_closer)} (wildcard answer {to_text(owner)})"
    )
