"""Builders for hand-made upstream responses (unit tests only: no sockets)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset

from rootwalk.classify import Classified, classify
from rootwalk.wire.convert import from_dns_rrset
from rootwalk.wire.message import Response, RRset, parse_response
from rootwalk.wire.names import from_text


def n(text: str) -> bytes:
    """A wire name, as the engine keeps names."""
    return from_text(text)


def dns_rr(text: str) -> dns.rrset.RRset:
    """One dnspython RRset from one presentation-format line."""
    name, ttl, cls, rdtype, *rdata = text.split()
    return dns.rrset.from_text(name, int(ttl), cls, rdtype, " ".join(rdata))


def rr(text: str) -> RRset:
    """One compact RRset from one presentation-format line: "www.example.com. 300 IN A 1.2.3.4"."""
    return from_dns_rrset(dns_rr(text))


def compact(msg: dns.message.Message) -> Response:
    """A hand-made dnspython message as the engine receives it: rendered, then parsed."""
    return parse_response(msg.to_wire())


def cl(
    msg: dns.message.Message, qname: bytes, qtype: int, zone: bytes, *, recursive: bool = False
) -> Classified:
    return classify(compact(msg), qname, int(qtype), zone, recursive=recursive)


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
            new = dns_rr(line)
            for existing in section:
                if existing.name == new.name and existing.rdtype == new.rdtype:
                    existing.union_update(new)
                    break
            else:
                section.append(new)
    return r
