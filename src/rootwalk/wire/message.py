"""A compact wire-level model of DNS responses and a strict parser for them (issue #11).

dnspython builds an object tree (Name, Rdata, Rdataset objects) for every message: a 113-byte
referral (2 NS, 2 glue A) takes it ~240 us to parse, this module ~14 us. It reads a response
into flat, immutable records whose names and rdata are plain ``bytes``:

- names are uncompressed wire-format label sequences, lower-cased in ASCII only (RFC 4343:
  names compare case-insensitively, and only A-Z fold);
- the rdata of the types whose fields hold names is stored decompressed, so a record never
  depends on the packet it came from, and in the canonical form of RFC 4034 §6.2 as amended
  by RFC 6840 §5.1 (names lower-cased, except the NSEC next name), so that two rdata are the
  same record exactly when their bytes are equal;
- the rdata of every other type is kept as it was on the wire (RFC 3597 §4: names in types
  unknown to the receiver cannot be compressed, so their bytes are position-independent).

The parser rejects (``WireError``) what dnspython's ``dns.message.from_wire`` rejects for the
types it interprets; tests/unit/test_wirefmt.py checks that with a differential fuzz, and
lists the few deliberate differences.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "RR",
    "Edns",
    "Question",
    "RRset",
    "Response",
    "WireError",
    "parse_response",
    "rrsets",
]


class WireError(ValueError):
    """A message that is not well-formed DNS; the text says why."""


# Types (RFC 1035 §3.2.2 and later) whose rdata this module interprets.
A = 1
NS = 2
CNAME = 5
SOA = 6
PTR = 12
MX = 15
AAAA = 28
SRV = 33
DNAME = 39
DS = 43
OPT = 41
RRSIG = 46
NSEC = 47
DNSKEY = 48
NSEC3 = 50
TSIG = 250
CLASS_IN = 1
OPCODE_UPDATE = 5

# RFC 1035 §4.1.4 allows any chain of backward pointers; a bound keeps a crafted message from
# costing more than a few reads per name. 16 is dnspython's bound, kept the same so both
# reject the same messages.
MAX_POINTER_HOPS = 16
MAX_NAME = 255  # RFC 1035 §3.1: a name is at most 255 octets in wire format

_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_U16 = struct.Struct("!H")
_ROOT = b"\x00"


@dataclass(frozen=True, slots=True)
class Question:
    qname: bytes
    """Lower-cased uncompressed wire name."""
    qtype: int
    qclass: int


@dataclass(frozen=True, slots=True)
class RR:
    """One resource record as received: owner lower-cased, rdata decompressed (see module)."""

    owner: bytes
    rtype: int
    rclass: int
    ttl: int
    """RFC 2181 §8: a TTL with the top bit set is read as 0."""
    rdata: bytes

    @property
    def covers(self) -> int:
        """The type an RRSIG covers (RFC 4034 §3.1.1), 0 for other types."""
        return _U16.unpack_from(self.rdata)[0] if self.rtype == RRSIG else 0


@dataclass(frozen=True, slots=True)
class RRset:
    """RRs of one owner, type and class in one section (RFC 2181 §5)."""

    owner: bytes
    rtype: int
    rclass: int
    ttl: int
    """The smallest TTL of its RRs (RFC 2181 §5.2 asks senders for equal TTLs)."""
    rdatas: tuple[bytes, ...]
    """Distinct rdata in the order first seen."""
    covers: int = 0
    """For RRSIG, the covered type: RFC 4034 §3 lets signatures of different RRsets at one
    name carry different TTLs, so they are kept as separate sets."""


@dataclass(frozen=True, slots=True)
class Edns:
    """The OPT pseudo-record (RFC 6891 §6.1)."""

    payload: int
    """The requestor's UDP payload size (the OPT CLASS field)."""
    ext_rcode: int
    """The upper 8 bits of the 12-bit rcode."""
    version: int
    flags: int
    """The 16 flag bits; DO is 0x8000 (RFC 3225)."""
    options: bytes
    """The rdata: option TLVs, checked for framing only."""

    @property
    def do(self) -> bool:
        return bool(self.flags & 0x8000)


@dataclass(frozen=True, slots=True)
class Response:
    id: int
    flags: int
    """The 16 bits after the ID (QR, opcode, AA, TC, RD, RA, Z, AD, CD and rcode)."""
    rcode: int
    """The full rcode: the header's 4 bits plus the OPT's extended bits (RFC 6891 §6.1.3)."""
    question: Question | None
    answer: tuple[RR, ...]
    authority: tuple[RR, ...]
    additional: tuple[RR, ...]
    """Without the OPT record, which is in ``edns``."""
    edns: Edns | None


def _name(wire: bytes, pos: int, end: int, compress: bool) -> tuple[bytes, int]:
    """Read the name at ``pos``: its uncompressed wire form (case kept) and the offset after it.

    ``end`` bounds the name's own bytes (the message, or the rdata it lies in). RFC 1035 §4.1.4
    pointers must point strictly before the start of the labels that hold them, and the labels
    they reach must end before that start too: so every hop moves backwards, chains end, and no
    name overlaps itself. Label types 01 and 10 (RFC 6891 §5 retired the extended ones) are
    errors.
    """
    parts: list[bytes] = []
    after = -1
    hops = 0
    seg = run = i = pos
    limit = end
    while True:
        if i >= limit:
            raise WireError("name runs past its end")
        c = wire[i]
        if c == 0:
            parts.append(wire[run : i + 1])
            i += 1
            break
        if c < 64:
            i += 1 + c
            if i > limit:
                raise WireError("label runs past its end")
        elif c >= 192:
            if not compress:
                raise WireError("compression pointer in a name that must not be compressed")
            if i + 2 > limit:
                raise WireError("truncated compression pointer")
            target = ((c & 0x3F) << 8) | wire[i + 1]
            # (The limit below alone would reject these too; this says why.)
            if target >= seg:
                raise WireError("compression pointer does not point backwards")
            hops += 1
            if hops > MAX_POINTER_HOPS:
                raise WireError("too many compression pointers in one name")
            parts.append(wire[run:i])
            if after < 0:
                after = i + 2
            limit = seg
            seg = run = i = target
        else:
            raise WireError(f"unknown label type {c >> 6:02b}")
    name = parts[0] if len(parts) == 1 else b"".join(parts)
    if len(name) > MAX_NAME:
        raise WireError("name longer than 255 octets")
    return name, (i if after < 0 else after)


def _rdata(wire: bytes, p: int, end: int, rtype: int, rclass: int) -> bytes:
    """The rdata in [p, end) in stored form (see the module docstring)."""
    if rtype in (NS, CNAME, PTR):
        name, p = _name(wire, p, end, True)
        out = name.lower()
    elif rtype == A and rclass == CLASS_IN:
        if end - p != 4:
            raise WireError("A rdata is not 4 octets")
        return wire[p:end]
    elif rtype == AAAA and rclass == CLASS_IN:
        if end - p != 16:
            raise WireError("AAAA rdata is not 16 octets")
        return wire[p:end]
    elif rtype == MX:
        if p + 2 > end:
            raise WireError("truncated MX rdata")
        name, q = _name(wire, p + 2, end, True)
        out = wire[p : p + 2] + name.lower()
        p = q
    elif rtype == SOA:
        mname, p = _name(wire, p, end, True)
        rname, p = _name(wire, p, end, True)
        if p + 20 > end:
            raise WireError("truncated SOA rdata")
        out = mname.lower() + rname.lower() + wire[p : p + 20]
        p += 20
    elif rtype == DNAME:
        # RFC 6672 §2.5 / RFC 3597 §4: the target is never compressed.
        name, p = _name(wire, p, end, False)
        out = name.lower()
    elif rtype == SRV and rclass == CLASS_IN:
        # RFC 2782 forbids compressing the target, but RFC 3597 §4 asks receivers to
        # decompress it anyway (RFC 2052 servers compressed it).
        if p + 6 > end:
            raise WireError("truncated SRV rdata")
        name, q = _name(wire, p + 6, end, True)
        out = wire[p : p + 6] + name.lower()
        p = q
    elif rtype == RRSIG:
        # RFC 4034 §3.1.7: the signer's name is not compressed.
        if p + 18 > end:
            raise WireError("truncated RRSIG rdata")
        name, q = _name(wire, p + 18, end, False)
        return wire[p : p + 18] + name.lower() + wire[q:end]
    elif rtype == NSEC:
        # RFC 4034 §4.1.1: not compressed; RFC 6840 §5.1: the next name keeps its case.
        name, q = _name(wire, p, end, False)
        _check_type_bitmap(wire, q, end)
        return name + wire[q:end]
    else:
        return wire[p:end]
    if p != end:
        raise WireError("rdata longer than its fields")
    return out


def _check_type_bitmap(wire: bytes, p: int, end: int) -> None:
    """RFC 4034 §4.1.2: windows in increasing order, 1-32 octets, no trailing zero octet."""
    last = -1
    while p < end:
        if p + 2 > end:
            raise WireError("truncated type bitmap")
        window = wire[p]
        n = wire[p + 1]
        p += 2 + n
        if p > end:
            raise WireError("truncated type bitmap")
        if window <= last:
            raise WireError("type bitmap windows out of order")
        if n == 0 or n > 32 or wire[p - 1] == 0:
            raise WireError("bad type bitmap window length")
        last = window


def _check_options(wire: bytes, p: int, end: int) -> None:
    """RFC 6891 §6.1.2: the OPT rdata is a sequence of {code, length, data}."""
    while p < end:
        if p + 4 > end:
            raise WireError("truncated EDNS option")
        p += 4 + _U16.unpack_from(wire, p + 2)[0]
        if p > end:
            raise WireError("EDNS option runs past the OPT rdata")


def parse_response(wire: bytes) -> Response:
    """Parse a whole DNS message (RFC 1035 §4.1); raise WireError if it is malformed.

    Rejected besides malformed names and truncation: more than one question (RFC 9619),
    opcode UPDATE (RFC 2136 sections mean other things), an OPT record that is not the only
    one, in the additional section, owned by the root (RFC 6891 §6.1.1), any TSIG (no keys
    here), rdata of an interpreted type not exactly filled by its fields, and bytes after
    the last record.
    """
    n = len(wire)
    if n < 12:
        raise WireError("message shorter than a header")
    qid, flags, qd, an, ns, ar = _HEADER.unpack_from(wire)
    if (flags >> 11) & 0xF == OPCODE_UPDATE:
        raise WireError("opcode UPDATE")
    p = 12
    question = None
    if qd:
        if qd > 1:
            raise WireError("more than one question")
        qname, p = _name(wire, p, n, True)
        if p + 4 > n:
            raise WireError("truncated question")
        qtype, qclass = struct.unpack_from("!HH", wire, p)
        p += 4
        question = Question(qname.lower(), qtype, qclass)
    edns: Edns | None = None
    sections: list[tuple[RR, ...]] = []
    for section, count in enumerate((an, ns, ar)):
        rrs: list[RR] = []
        for _ in range(count):
            owner, p = _name(wire, p, n, True)
            if p + 10 > n:
                raise WireError("truncated resource record")
            rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(wire, p)
            p += 10
            end = p + rdlen
            if end > n:
                raise WireError("RDLENGTH runs past the message")
            if rtype == OPT:
                if section != 2 or edns is not None or owner != _ROOT:
                    raise WireError("OPT record out of place or repeated")
                _check_options(wire, p, end)
                edns = Edns(rclass, ttl >> 24, (ttl >> 16) & 0xFF, ttl & 0xFFFF, wire[p:end])
            elif rtype == TSIG:
                raise WireError("TSIG-signed message")
            else:
                rdata = _rdata(wire, p, end, rtype, rclass)
                rrs.append(RR(owner.lower(), rtype, rclass, 0 if ttl > 0x7FFFFFFF else ttl, rdata))
            p = end
        sections.append(tuple(rrs))
    if p != n:
        raise WireError("trailing bytes after the last record")
    rcode = flags & 0xF
    if edns is not None:
        rcode |= edns.ext_rcode << 4
    return Response(qid, flags, rcode, question, sections[0], sections[1], sections[2], edns)


def rrsets(section: tuple[RR, ...] | list[RR]) -> list[RRset]:
    """Group a section's RRs into RRsets, in the order each set first appears."""
    groups: dict[tuple[bytes, int, int, int], tuple[int, list[bytes]]] = {}
    for rr in section:
        covers = _U16.unpack_from(rr.rdata)[0] if rr.rtype == RRSIG else 0
        key = (rr.owner, rr.rtype, rr.rclass, covers)
        got = groups.get(key)
        if got is None:
            groups[key] = (rr.ttl, [rr.rdata])
        else:
            rdatas = got[1]
            if rr.rdata not in rdatas:
                rdatas.append(rr.rdata)
            if rr.ttl < got[0]:
                groups[key] = (rr.ttl, rdatas)
    return [
        RRset(owner, rtype, rclass, ttl, tuple(rdatas), covers)
        for (owner, rtype, rclass, covers), (ttl, rdatas) in groups.items()
    ]
