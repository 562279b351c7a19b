"""Builders for hand-made upstream responses (unit tests only: no sockets)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset


def n(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def rr(text: str) -> dns.rrset.RRset:
    """One RRset from one presentation-format line: "www.example.com. 300 IN A 1.2.3.4"."""
    name, ttl, cls, rdtype, *rdata = text.split()
    return dns.rrset.from_text(name, int(ttl), cls, rdtype, " ".join(rdata))


def response(
    qname: str,
    qtype: str,
    *,
    aa: bool = False,
    rcode: int = dns.rcode.NOERROR,
    answer: list[str] = (),  # type: ignore[assignment]
    authority: list[str] = (),  # type: ignore[assignment]
    additional: list[str] = (),  # type: ignore[assignment]
) -> dns.message.Message:
    q = dns.message.make_query(qname, qtype)
    r = dns.message.make_response(q)
    if aa:
        r.flags |= dns.flags.AA
    r.set_rcode(rcode)
    for section, lines in (
        (r.answer, answer),
        (r.authority, authority),
        (r.additional, additional),
    ):
        for line in lines:
            new = rr(line)
            for existing in section:
                if existing.name == new.name and existing.rdtype == new.rdtype:
                    existing.union_update(new)
                    break
            else:
                section.append(new)
    return r
