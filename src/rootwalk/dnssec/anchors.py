"""Trust anchors: DS or DNSKEY records for zones whose keys are believed without a parent.

The root anchor ships with rootwalk (``root.ds``, like ``root.hints``). A trust anchor file
holds DS or DNSKEY lines in zone-file presentation (``. IN DS 20326 8 2 E06D...``), for any
zone, TTL and class optional, comments with ``;`` (the format of Unbound's
``trust-anchor-file`` and of ``dns-root-data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zonefile

from rootwalk.errors import ConfigError
from rootwalk.wire.convert import from_dns_rrset
from rootwalk.wire.message import RRset

__all__ = ["Anchor", "default_anchor_file", "load_anchors", "parse_anchors"]

_DEFAULT_TTL = 86400


@dataclass(frozen=True, slots=True)
class Anchor:
    """What is trusted for one zone: its DS set, its DNSKEY set, or both."""

    zone: bytes
    ds: RRset | None = None
    dnskey: RRset | None = None


def default_anchor_file() -> Path:
    """The root's DS records shipped with the package (a copy of the repository's root.ds)."""
    return Path(__file__).resolve().parent.parent / "root.ds"


def parse_anchors(text: str, source: str = "trust anchor") -> dict[bytes, Anchor]:
    """Anchors by zone (wire name). Raises ConfigError naming the source and the reason."""
    try:
        # rdclass None: the class is optional on each line (and must be IN, below).
        rrsets = dns.zonefile.read_rrsets(
            text, rdclass=None, default_ttl=_DEFAULT_TTL, origin=dns.name.root, relativize=False
        )
    except dns.exception.DNSException as exc:
        raise ConfigError(f"{source}: not a valid trust anchor file: {exc}") from None
    anchors: dict[bytes, Anchor] = {}
    for rrset in rrsets:
        if rrset.rdclass != dns.rdataclass.IN:
            raise ConfigError(f"{source}: {rrset.name}: trust anchors are of class IN")
        if rrset.rdtype not in (dns.rdatatype.DS, dns.rdatatype.DNSKEY):
            raise ConfigError(
                f"{source}: {rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: only DS and "
                "DNSKEY records can be trust anchors"
            )
        compact = from_dns_rrset(rrset)
        old = anchors.get(compact.owner, Anchor(compact.owner))
        if rrset.rdtype == dns.rdatatype.DS:
            anchors[compact.owner] = Anchor(compact.owner, _merge(old.ds, compact), old.dnskey)
        else:
            anchors[compact.owner] = Anchor(compact.owner, old.ds, _merge(old.dnskey, compact))
    if not anchors:
        raise ConfigError(f"{source}: no DS or DNSKEY record")
    return anchors


def load_anchors(path: Path) -> dict[bytes, Anchor]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"trust anchor file {path}: cannot read: {exc.strerror or exc}") from None
    return parse_anchors(text, str(path))


def _merge(old: RRset | None, new: RRset) -> RRset:
    if old is None:
        return new
    rdatas = old.rdatas + tuple(r for r in new.rdatas if r not in old.rdatas)
    return RRset(old.owner, old.rtype, old.rclass, min(old.ttl, new.ttl), rdatas)
