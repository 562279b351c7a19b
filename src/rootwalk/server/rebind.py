"""Rebinding protection: private addresses removed from answers for public names.

A DNS rebinding attack (a page on ``evil.example`` whose name then resolves to 192.168.1.1)
turns a browser into a proxy into the LAN. Unbound's ``private-address`` defends against it
by removing, from every answer, the A and AAAA records that carry an address in the listed
networks, unless the record's owner name is at or below a ``private-domain``
(iterator/iter_priv.c ``priv_rrset_bad``). rootwalk does the same, with these choices:

* Records are removed one by one; an RRset left empty is removed whole (Unbound: "do not
  remove entire rrset, unless all records in it are bad"). Nothing else changes: a question
  whose only address records were private gets NOERROR with no address (NODATA-like), a CNAME
  chain stays as it was. No SERVFAIL and no EDE, as Unbound ("this leads to too many drops of
  other people using rfc1918 space").
* The owner name decides, not the question: ``alias.example CNAME nas.home.arpa`` keeps the
  address of ``nas.home.arpa`` when ``home.arpa`` is a private domain, as in Unbound.
* Local data (``server.local_data``, blocklists) is the operator's own and never filtered
  (Unbound exempts local-data too). The zones of ``resolver.forward_zones`` other than the
  root count as private domains: they are the LAN's own names in practice (a router's
  ``home.arpa``); Unbound needs them repeated under private-domain. A forward zone for "."
  forwards the public internet and is filtered as any resolution.
* The filter works on the engine's records before they are rendered, so the answers the
  fast path keeps (server/wirecache.py) were filtered once and cost nothing more.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from rootwalk.wire.message import AAAA, A, RRset
from rootwalk.wire.names import is_subdomain

__all__ = ["PrivateFilter", "RECOMMENDED_PRIVATE"]

#: The networks docs/nameserver.md recommends for a LAN: RFC 1918, link-local (RFC 3927),
#: loopback, unique local (RFC 4193 fd00::/8), IPv6 link-local and loopback, and IPv4-mapped
#: IPv6 (without it, ::ffff:192.168.1.1 would carry a private address past the filter).
RECOMMENDED_PRIVATE = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "127.0.0.0/8",
    "fd00::/8",
    "fe80::/10",
    "::1/128",
    "::ffff:0:0/96",
)


class PrivateFilter:
    """Removes A/AAAA records with private addresses from RRset lists (see the module)."""

    def __init__(self, networks: Sequence[str], domains: Sequence[bytes]) -> None:
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for text in networks:
            net = ipaddress.ip_network(text, strict=False)
            (v4 if net.version == 4 else v6).append((int(net.network_address), int(net.netmask)))
        self.v4 = tuple(v4)
        self.v6 = tuple(v6)
        self.domains = tuple(domains)

    def _private(self, rtype: int, rdata: bytes) -> bool:
        nets = self.v4 if rtype == A else self.v6
        value = int.from_bytes(rdata)
        return any(value & mask == net for net, mask in nets)

    def filter(self, rrsets: list[RRset]) -> list[RRset] | None:
        """``rrsets`` without the private addresses of public names, or None when nothing
        was removed (the common case allocates nothing)."""
        out: list[RRset] | None = None
        for i, rrset in enumerate(rrsets):
            rtype = rrset.rtype
            kept: tuple[bytes, ...] | None = None
            if rtype in (A, AAAA) and not any(is_subdomain(rrset.owner, d) for d in self.domains):
                kept = tuple(r for r in rrset.rdatas if not self._private(rtype, r))
                if len(kept) == len(rrset.rdatas):
                    kept = None
            if kept is None:
                if out is not None:
                    out.append(rrset)
                continue
            if out is None:
                out = list(rrsets[:i])
            if kept:
                out.append(RRset(rrset.owner, rtype, rrset.rclass, rrset.ttl, kept, rrset.covers))
        return out
