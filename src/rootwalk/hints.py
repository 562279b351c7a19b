"""Root hints: the starting delegation for an empty cache (RFC 8109 §3, "SBELT")."""

from __future__ import annotations

from pathlib import Path

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zonefile

from rootwalk.delegation import Delegation, NameServer, Provenance
from rootwalk.errors import ConfigError
from rootwalk.wire.names import ROOT, from_dns

__all__ = ["load_hints", "parse_hints"]


def load_hints(path: Path) -> Delegation:
    """Read a named.cache-format file into a Delegation for the root. Raises ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"root hints {path}: cannot read: {exc.strerror or exc}") from None
    return parse_hints(text, source=str(path))


def parse_hints(text: str, source: str = "root hints") -> Delegation:
    try:
        rrsets = dns.zonefile.read_rrsets(text, origin=dns.name.root, rdclass=dns.rdataclass.IN)
    except dns.exception.DNSException as exc:
        raise ConfigError(f"{source}: not a valid hints file: {exc}") from None
    root = Delegation(zone=ROOT, from_parent=True)
    addresses: dict[bytes, list[str]] = {}
    for rrset in rrsets:
        if rrset.rdtype == dns.rdatatype.NS and rrset.name == dns.name.root:
            for rd in rrset:
                target = from_dns(rd.target)
                root.servers.setdefault(target, NameServer(target))
        elif rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            addresses.setdefault(from_dns(rrset.name), []).extend(rd.address for rd in rrset)
    for name, addrs in addresses.items():
        root.add_addresses(name, addrs, Provenance.HINTS)
    if not root.targets():
        raise ConfigError(f"{source}: no root server with an address")
    return root
