"""Hand-parsing of the few wire-format fields the cache-hit fast path needs (RFC 1035 §4.1).

dnspython builds a whole object tree for every message; on a cache hit that costs several
times more than the system calls (issue #5's measurements). These functions read only the
header, the question and the OPT record, and find the TTL fields of a rendered answer so they
can be rewritten in place. Anything unusual returns None, and the caller takes the slow,
fully validating path: this module never decides an rcode.
"""

from __future__ import annotations

import struct

__all__ = ["QueryHead", "parse_query_head", "qname_end", "ttl_offsets"]

_OPT = 41
_COOKIE = 10
_PADDING = 12
_U16 = struct.Struct("!H")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_COUNTS_PLAIN = b"\x00\x01\x00\x00\x00\x00\x00\x00"  # QD=1, AN=0, NS=0, AR=0
_COUNTS_EDNS = b"\x00\x01\x00\x00\x00\x00\x00\x01"  # QD=1, AN=0, NS=0, AR=1 (the OPT)
_CLASS_IN = b"\x00\x01"
# One byte per combination of the bits that change an answer's bytes: EDNS present (OPT in
# the answer), DO (RFC 3225: echoed; RRSIGs and NSEC records come only with it), CD (RFC 4035
# §3.2.2: echoed; bogus data is answered), AD in the question (RFC 6840 §5.7: asks for AD).
_VARIANT = tuple(bytes((i,)) for i in range(16))

#: (cache key, offset just past the question, largest answer the client accepts over UDP)
QueryHead = tuple[bytes, int, int]


def parse_query_head(wire: bytes, edns_payload: int) -> QueryHead | None:
    """The cache key of a plain recursive IN question, or None when it needs the slow path.

    Plain means: a standard query (QR=0, opcode 0) with RD=1, exactly one question, nothing in
    the answer and authority sections, and at most an EDNS version 0 OPT record carrying only
    options that change nothing in the answer (COOKIE of a valid size, which rootwalk does not
    implement and so ignores as RFC 7873 §5.2 allows, and PADDING).
    The key is the lower-cased question name (RFC 4343: names compare case-insensitively),
    the question type, and the variant byte above. Only standard label bytes are accepted: a
    compression pointer in a question is malformed and belongs to the slow path's FORMERR.
    """
    n = len(wire)
    if n < 17 or wire[2] & 0xF9 != 0x01 or wire[4:12] not in (_COUNTS_PLAIN, _COUNTS_EDNS):
        return None
    i = qname_end(wire)
    if i < 0:
        return None
    end = i + 5  # the root label, QTYPE, QCLASS
    if end > n or wire[i + 3 : end] != _CLASS_IN:
        return None
    variant = (4 if wire[3] & 0x10 else 0) | (8 if wire[3] & 0x20 else 0)
    if wire[11]:  # the OPT record
        if end + 11 > n or wire[end] != 0 or wire[end + 1 : end + 3] != b"\x00\x29":
            return None
        if wire[end + 6]:  # EDNS version > 0: BADVERS on the slow path (RFC 6891 §6.1.3)
            return None
        size = max(512, (wire[end + 3] << 8) | wire[end + 4])
        variant |= 3 if wire[end + 7] & 0x80 else 1
        j = end + 11
        if j + ((wire[end + 9] << 8) | wire[end + 10]) != n:
            return None
        while j < n:
            if j + 4 > n:
                return None
            code = (wire[j] << 8) | wire[j + 1]
            olen = (wire[j + 2] << 8) | wire[j + 3]
            if not (code == _PADDING or (code == _COOKIE and (olen == 8 or 16 <= olen <= 40))):
                return None
            j += 4 + olen
        if j != n:
            return None
        udp_size = min(size, edns_payload)
    else:
        if end != n:
            return None
        udp_size = 512
    return wire[12:i].lower() + wire[i + 1 : i + 3] + _VARIANT[variant], end, udp_size


def qname_end(wire: bytes) -> int:
    """Offset of the root label that ends the question name at offset 12, or -1 when the name
    uses anything but plain labels (compression, extended label types) or runs off the end."""
    n = len(wire)
    if n <= 12:
        return -1
    i = 12
    length = wire[12]
    while length:
        if length > 63:
            return -1
        i += length + 1
        if i >= n:
            return -1
        length = wire[i]
    return i


def _skip_name(wire: bytes, i: int) -> int:
    while True:
        length = wire[i]
        if length == 0:
            return i + 1
        if length & 0xC0 == 0xC0:
            return i + 2
        if length > 63:
            raise ValueError("bad label type")
        i += length + 1


def ttl_offsets(wire: bytes) -> list[tuple[int, int]] | None:
    """(offset, TTL) of every record's TTL field in a message, the OPT record's excepted.

    The OPT record's TTL field holds the extended rcode and flags (RFC 6891 §6.1.3), not a
    time, so it is left alone. None when the message does not parse.
    """
    try:
        qdcount, ancount, nscount, arcount = struct.unpack_from("!HHHH", wire, 4)
        i = 12
        for _ in range(qdcount):
            i = _skip_name(wire, i) + 4
        out: list[tuple[int, int]] = []
        for _ in range(ancount + nscount + arcount):
            i = _skip_name(wire, i)
            rdtype, _cls, ttl, rdlength = _RR_FIXED.unpack_from(wire, i)
            if rdtype != _OPT:
                out.append((i + 4, ttl))
            i += 10 + rdlength
        if i != len(wire):
            return None
        return out
    except (IndexError, struct.error, ValueError):
        return None
