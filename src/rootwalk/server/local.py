"""Answers that never leave the machine: local zones, local data and blocklists.

Semantics follow Unbound's ``local-zone``/``local-data``:

* Local data (``"nas.home.arpa. 3600 IN A 192.168.1.10"``) matching the question's name and type
  is answered (AA=0, as every rootwalk answer), whatever the zone type.
* Otherwise the longest matching local zone decides:
  ``static``: NODATA if the name has local data of other types, else NXDOMAIN;
  ``transparent``: NODATA if the name has local data of other types, else resolve normally;
  ``refuse``: REFUSED; ``nxdomain``: NXDOMAIN.
* A name with local data but under no configured zone behaves as under ``transparent``.
* ``local_data_ptr`` (default on) derives the PTR record of every local A/AAAA record.
* Blocklists (hosts files or one domain per line) block each listed name and everything below
  it: NXDOMAIN, or with ``blocklist_action = "null"`` 0.0.0.0 / :: for A / AAAA (NODATA for
  other types). Blocked answers carry EDE 15 (Blocked). Local data and zones take precedence.

Everything is built once per (re)load; a lookup is a dict walk up the labels of the name.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import dns.exception
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
from dns.rdatatype import RdataType

from rootwalk.config import ServerConfig
from rootwalk.errors import ConfigError
from rootwalk.resolution import Result

__all__ = ["LocalPolicy", "read_blocklist"]

ZONE_TYPES = ("static", "transparent", "refuse", "nxdomain")
_BLOCKED_TTL = 60
_EDE_BLOCKED = 15
_Key = tuple[bytes, ...]  # lowercase labels, root last


def _key(name: dns.name.Name) -> _Key:
    return tuple(label.lower() for label in name.labels)


class LocalPolicy:
    """Local zones, local data and blocklists; ``answer`` is None when the walk should run."""

    def __init__(self, config: ServerConfig, source: str = "config") -> None:
        self.zones: dict[_Key, str] = {}
        self.data: dict[_Key, dict[int, dns.rrset.RRset]] = {}
        self.blocked: set[_Key] = set()
        self.block_null = config.blocklist_action == "null"
        for i, text in enumerate(config.local_zone):
            key = f"server.local_zone[{i}]"
            parts = text.split()
            if len(parts) != 2 or parts[1].lower() not in ZONE_TYPES:
                raise ConfigError(
                    f"{source}: '{key}' {text!r}: expected 'NAME TYPE' with TYPE one of "
                    f"{', '.join(ZONE_TYPES)}"
                )
            try:
                zone = dns.name.from_text(parts[0])
            except dns.exception.DNSException as exc:
                raise ConfigError(f"{source}: '{key}' {text!r}: {exc}") from None
            self.zones[_key(zone)] = parts[1].lower()
        for i, text in enumerate(config.local_data):
            rrset = _parse_rr(text, f"server.local_data[{i}]", source)
            self._add(rrset)
            if config.local_data_ptr and rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                for rd in rrset:
                    rev = dns.reversename.from_address(rd.address)
                    self._add(
                        dns.rrset.from_text(rev, rrset.ttl, "IN", "PTR", rrset.name.to_text())
                    )
        for i, path in enumerate(config.blocklists):
            try:
                names = read_blocklist(Path(path))
            except OSError as exc:
                raise ConfigError(
                    f"{source}: 'server.blocklists[{i}]' {str(path)!r}: cannot read: "
                    f"{exc.strerror or exc}"
                ) from None
            self.blocked.update(_key(n) for n in names)

    def __bool__(self) -> bool:
        return bool(self.zones or self.data or self.blocked)

    def _add(self, rrset: dns.rrset.RRset) -> None:
        by_type = self.data.setdefault(_key(rrset.name), {})
        old = by_type.get(rrset.rdtype)
        if old is None:
            by_type[rrset.rdtype] = rrset
        else:
            merged = list(old) + [rd for rd in rrset if rd not in old]
            by_type[rrset.rdtype] = dns.rrset.from_rdata_list(
                old.name, min(old.ttl, rrset.ttl), merged
            )

    def answer(self, qname: dns.name.Name, qtype: RdataType) -> Result | None:
        key = _key(qname)
        own = self.data.get(key)
        if own is not None:
            rrset = own.get(qtype)
            if rrset is None and qtype != dns.rdatatype.CNAME:
                rrset = own.get(dns.rdatatype.CNAME)
            if rrset is not None:
                return Result(dns.rcode.NOERROR, [_owned(rrset, qname)])
        zone_type, zone_key = self._zone(key)
        if zone_type is None:
            if own is not None:  # implicit transparent zone at the data's name
                return Result(dns.rcode.NOERROR, authority=self._soa(key))
            return self._blocked(key, qname, qtype)
        if zone_type == "refuse":
            return Result(dns.rcode.REFUSED, ede=[(18, "refused by local zone")])
        if zone_type == "nxdomain":
            return Result(dns.rcode.NXDOMAIN, authority=self._soa(zone_key))
        if own is not None or self._has_below(key):
            return Result(dns.rcode.NOERROR, authority=self._soa(zone_key))
        if zone_type == "static":
            return Result(dns.rcode.NXDOMAIN, authority=self._soa(zone_key))
        return self._blocked(key, qname, qtype)  # transparent

    def _zone(self, key: _Key) -> tuple[str | None, _Key]:
        for i in range(len(key)):
            zone_type = self.zones.get(key[i:])
            if zone_type is not None:
                return zone_type, key[i:]
        return None, ()

    def _has_below(self, key: _Key) -> bool:
        """An empty non-terminal: local data exists below the name (NODATA, not NXDOMAIN)."""
        n = len(key)
        return any(len(k) > n and k[-n:] == key for k in self.data)

    def _soa(self, key: _Key) -> list[dns.rrset.RRset]:
        for i in range(len(key)):
            soa = self.data.get(key[i:], {}).get(dns.rdatatype.SOA)
            if soa is not None:
                return [soa]
        return []

    def _blocked(self, key: _Key, qname: dns.name.Name, qtype: RdataType) -> Result | None:
        if not self.blocked or not any(key[i:] in self.blocked for i in range(len(key) - 1)):
            return None
        ede = [(_EDE_BLOCKED, "blocked by a blocklist")]
        if not self.block_null:
            return Result(dns.rcode.NXDOMAIN, ede=ede)
        if qtype == dns.rdatatype.A:
            answer = [dns.rrset.from_text(qname, _BLOCKED_TTL, "IN", "A", "0.0.0.0")]
        elif qtype == dns.rdatatype.AAAA:
            answer = [dns.rrset.from_text(qname, _BLOCKED_TTL, "IN", "AAAA", "::")]
        else:
            answer = []
        return Result(dns.rcode.NOERROR, answer, ede=ede)


def _owned(rrset: dns.rrset.RRset, qname: dns.name.Name) -> dns.rrset.RRset:
    """The RRset with the question's spelling of the owner (letter case)."""
    return dns.rrset.from_rdata_list(qname, rrset.ttl, list(rrset))


def _parse_rr(text: str, key: str, source: str) -> dns.rrset.RRset:
    """``"name [ttl] [IN] type rdata"``; the TTL defaults to 3600 (as Unbound)."""
    m = _RR.match(text)
    if m is None:
        raise ConfigError(f"{source}: '{key}' {text!r}: expected 'NAME [TTL] [IN] TYPE DATA'")
    owner, ttl, rdtype, rdata = m.group("owner", "ttl", "type", "data")
    try:
        name = dns.name.from_text(owner)
        return dns.rrset.from_text(name, int(ttl or 3600), "IN", rdtype, rdata.strip())
    except (dns.exception.DNSException, ValueError) as exc:
        raise ConfigError(f"{source}: '{key}' {text!r}: {exc}") from None


_RR = re.compile(
    r"\s*(?P<owner>\S+)\s+(?:(?P<ttl>\d+)\s+)?(?:IN\s+)?(?P<type>[A-Za-z][A-Za-z0-9-]*)\s+(?P<data>\S.*)",
    re.IGNORECASE | re.DOTALL,
)


def read_blocklist(path: Path) -> list[dns.name.Name]:
    """Names from a hosts file (``0.0.0.0 ads.example``) or a list (``ads.example``).

    Comments (#) and lines that are not names are skipped; ``localhost`` entries of a hosts
    file are ignored.
    """
    names: list[dns.name.Name] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if _is_address(fields[0]):
                fields = fields[1:]
            for word in fields:
                if word.lower() in ("localhost", "localhost.localdomain", "local", "broadcasthost"):
                    continue
                try:
                    names.append(dns.name.from_text(word.strip(".") + "."))
                except dns.exception.DNSException:
                    continue
    return names


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True
