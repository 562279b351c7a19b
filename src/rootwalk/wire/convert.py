"""Compact records to dnspython objects and text: for people only (trace, ctl, logs, tests).

Nothing on the query path imports this module; it costs what dnspython costs.
"""

from __future__ import annotations

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from rootwalk.wire.message import RRset
from rootwalk.wire.names import from_dns, to_dns

__all__ = ["from_dns_rrset", "rrset_lines", "to_dns_rrset"]


def to_dns_rrset(rrset: RRset) -> dns.rrset.RRset:
    """The same records as a dnspython RRset (rdata is uncompressed, so it parses alone)."""
    rdclass = dns.rdataclass.RdataClass.make(rrset.rclass)
    rdtype = dns.rdatatype.RdataType.make(rrset.rtype)
    out = dns.rrset.RRset(to_dns(rrset.owner), rdclass, rdtype)
    for rdata in rrset.rdatas:
        out.add(dns.rdata.from_wire(rdclass, rdtype, rdata, 0, len(rdata)), rrset.ttl)
    return out


def from_dns_rrset(rrset: dns.rrset.RRset) -> RRset:
    """A dnspython RRset (local data, tests) in the compact form, names uncompressed."""
    rdatas = tuple(dict.fromkeys(rd.to_digestable() for rd in rrset))
    covers = int(rrset.covers) if rrset.rdtype == dns.rdatatype.RRSIG else 0
    return RRset(
        from_dns(rrset.name), int(rrset.rdtype), int(rrset.rdclass), rrset.ttl, rdatas, covers
    )


def rrset_lines(rrset: RRset) -> list[str]:
    """``owner TTL TYPE rdata`` per record, as the trace shows them."""
    d = to_dns_rrset(rrset)
    kind = dns.rdatatype.to_text(d.rdtype)
    return [f"{d.name} {d.ttl} {kind} {rd}" for rd in d]
