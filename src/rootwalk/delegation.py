"""The delegation point (zone cut): a zone, its NS names and their addresses with provenance.

Kept apart from the iteration loop (guide §2; Unbound ``struct delegpt``, Knot ``kr_zonecut``):
the loop asks it which addresses are usable and which NS names still need an address.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from rootwalk.wire.message import NS, RRset

__all__ = ["Delegation", "NameServer", "Provenance"]


class Provenance(enum.Enum):
    HINTS = "hints"  # root hints file (RFC 8109 priming input)
    GLUE = "glue"  # in-bailiwick glue from the referral itself
    CACHE = "cache"  # addresses already in the cache
    RESOLVED = "resolved"  # looked up by a sub-resolution (glueless delegation)
    MISSING = "missing"  # no address known yet


@dataclass
class NameServer:
    name: bytes  # wire name (rootwalk.wire.names)
    addresses: list[str] = field(default_factory=list)
    provenance: Provenance = Provenance.MISSING
    # A sub-resolution for this name was attempted (successful or not): do not repeat it.
    lookup_tried: bool = False


@dataclass
class Delegation:
    """A zone cut: the servers believed authoritative for ``zone``."""

    zone: bytes
    servers: dict[bytes, NameServer] = field(default_factory=dict)
    # True when the NS set came from the parent side (a referral or hints), as opposed to the
    # child's own authoritative NS RRset.
    from_parent: bool = True
    # A forward zone (config ``resolver.forward_zones``): the servers are recursive resolvers
    # or authorities we were told to ask, with RD=1, instead of walking.
    forward: bool = False
    # Non-default ports by address (forwarders written ADDR@PORT).
    ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_ns(cls, zone: bytes, ns_rrset: RRset, from_parent: bool = True) -> Delegation:
        d = cls(zone=zone, from_parent=from_parent)
        if ns_rrset.rtype == NS:
            for target in ns_rrset.rdatas:  # an NS rdata is the server's wire name
                d.servers.setdefault(target, NameServer(target))
        return d

    def add_addresses(self, ns: bytes, addrs: list[str], prov: Provenance) -> None:
        server = self.servers.get(ns)
        if server is None:
            return
        for a in addrs:
            if a not in server.addresses:
                server.addresses.append(a)
        if server.addresses and server.provenance is Provenance.MISSING:
            server.provenance = prov

    def targets(self) -> list[tuple[str, bytes]]:
        """Every (address, NS name) pair known for this cut."""
        return [(a, s.name) for s in self.servers.values() for a in s.addresses]

    def missing(self) -> list[bytes]:
        """NS names with no address whose lookup has not been tried yet."""
        return [s.name for s in self.servers.values() if not s.addresses and not s.lookup_tried]
