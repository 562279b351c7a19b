"""Messages rendered from the compact form: upstream queries and answers (RFC 1035 §4.1).

Names are compressed (RFC 1035 §4.1.4) in owners and in the rdata of the types RFC 3597 §4
allows (NS, CNAME, PTR, MX, SOA); every other rdata is written as stored.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from rootwalk.wire.message import CNAME, MX, NS, PTR, SOA, RRset
from rootwalk.wire.names import lower

__all__ = ["build_query", "edns_ede", "render_message"]

_HEADER = struct.Struct("!HHHHHH")
_QTAIL = struct.Struct("!HH")
_RR_FIXED = struct.Struct("!HHIH")
_U16 = struct.Struct("!H")
_OPT = 41
_RD = 0x0100
_CD = 0x0010
_DO = 0x8000
_EDE = 15  # RFC 8914 option code
_MAX_POINTER = 0x3FFF


def build_query(
    qid: int,
    qname: bytes,
    qtype: int,
    *,
    rd: bool = False,
    cd: bool = False,
    edns_payload: int = 0,
    do: bool = False,
) -> bytes:
    """A standard query. ``qname`` is written as given (0x20 case included); ``edns_payload``
    0 sends no OPT record (RFC 6891 §7 fallback for servers that reject it)."""
    flags = (_RD if rd else 0) | (_CD if cd else 0)
    head = _HEADER.pack(qid, flags, 1, 0, 0, 1 if edns_payload else 0)
    out = head + qname + _QTAIL.pack(qtype, 1)
    if edns_payload:
        out += b"\x00" + _RR_FIXED.pack(_OPT, edns_payload, _DO if do else 0, 0)
    return out


def edns_ede(code: int, text: str) -> bytes:
    """One Extended DNS Error option (RFC 8914 §2) for an OPT record's rdata."""
    data = _U16.pack(code) + text.encode("utf-8", "replace")
    return _U16.pack(_EDE) + _U16.pack(len(data)) + data


class _Writer:
    """A message being written, with the compression table of the names in it."""

    __slots__ = ("buf", "table")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.table: dict[bytes, int] = {}

    def name(self, name: bytes, compress: bool = True) -> None:
        buf, table = self.buf, self.table
        key = lower(name)
        i = 0
        while key[i]:
            suffix = key[i:]
            if compress:
                at = table.get(suffix)
                if at is not None:
                    buf += _U16.pack(0xC000 | at)
                    return
            if len(buf) <= _MAX_POINTER and suffix not in table:
                table[suffix] = len(buf)
            n = key[i] + 1
            buf += name[i : i + n]
            i += n
        buf.append(0)

    def rrset(self, rrset: RRset, ttl: int | None = None) -> int:
        """Write every RR of ``rrset``; returns how many."""
        buf = self.buf
        rtype = rrset.rtype
        fixed = _RR_FIXED.pack(rtype, rrset.rclass, rrset.ttl if ttl is None else ttl, 0)
        for rdata in rrset.rdatas:
            self.name(rrset.owner)
            buf += fixed
            start = len(buf)
            if rtype in (NS, CNAME, PTR):
                self.name(rdata)
            elif rtype == MX:
                buf += rdata[:2]
                self.name(rdata[2:])
            elif rtype == SOA:
                cut = _name_end(rdata, 0)
                self.name(rdata[:cut])
                cut2 = _name_end(rdata, cut)
                self.name(rdata[cut:cut2])
                buf += rdata[cut2:]
            else:
                buf += rdata
            _U16.pack_into(buf, start - 2, len(buf) - start)
        return len(rrset.rdatas)


def _name_end(wire: bytes, i: int) -> int:
    while wire[i]:
        i += wire[i] + 1
    return i + 1


def render_message(
    qid: int,
    flags: int,
    qname: bytes,
    qtype: int,
    sections: tuple[Iterable[RRset], Iterable[RRset], Iterable[RRset]],
    *,
    opt: tuple[int, int, bytes] | None = None,
    ttl: int | None = None,
) -> bytes:
    """A message with one question (``qname`` written as given: the client's case).

    ``flags`` holds every header bit and the low 4 rcode bits; ``opt`` is (payload, flags,
    options) of an OPT record to add; ``ttl`` overrides every record's TTL (stale answers).
    """
    w = _Writer()
    w.buf += b"\x00" * 12
    w.name(qname, compress=False)
    w.buf += _QTAIL.pack(qtype, 1)
    counts = [0, 0, 0]
    for i, section in enumerate(sections):
        for rrset in section:
            counts[i] += w.rrset(rrset, ttl)
    arcount = counts[2]
    if opt is not None:
        payload, oflags, options = opt
        w.buf += b"\x00" + _RR_FIXED.pack(_OPT, payload, oflags, len(options)) + options
        arcount += 1
    _HEADER.pack_into(w.buf, 0, qid, flags, 1, counts[0], counts[1], arcount)
    return bytes(w.buf)
