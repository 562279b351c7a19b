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
* Blocklists (hosts files, one domain per line, adblock lines; wildcards and regexes,
  server/blocklist.py) block each listed name and everything below it, unless an allowlist
  allows the name: NXDOMAIN, or with ``blocklist_action = "null"`` 0.0.0.0 / :: for A /
  AAAA (NODATA for other types). Blocked answers carry EDE 15 (Blocked). Local data and
  zones take precedence: a ``transparent`` zone unblocks its names, except those a
  blocklist lists below the zone (the most specific entry wins, as Unbound's local zones);
  the other zone types answer without looking at the blocklists at all.

Everything is built once per (re)load; a lookup is a dict walk up the labels of the name. The
blocklists are parsed in a child process (server/blocklist.py) and handed in ready-made, so
that a large list never stops the event loop.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
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
from rootwalk.errors import EDE, ConfigError
from rootwalk.server.blocklist import Blocklist, Spec, build, parse_names, unreadable
from rootwalk.server.blocklist_fetch import is_url
from rootwalk.server.hosts import Hosts, read_hosts


@dataclass
class Result:
    """A local answer (dnspython records: local data is parsed from configuration text)."""

    rcode: int
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    ede: list[tuple[int, str]] = field(default_factory=list)


__all__ = [
    "LocalPolicy",
    "blocklist_error",
    "blocklist_spec",
    "check_blocklists",
    "read_blocklist",
    "read_blocklists",
]

ZONE_TYPES = ("static", "transparent", "refuse", "nxdomain")
_BLOCKED_TTL = 60
_Key = tuple[bytes, ...]  # lowercase labels, root last


def _key(name: dns.name.Name) -> _Key:
    return tuple(label.lower() for label in name.labels)


class LocalPolicy:
    """Local zones, local data and blocklists; ``answer`` is None when the walk should run."""

    def __init__(
        self,
        config: ServerConfig,
        source: str = "config",
        blocklist: Blocklist | None = None,
        hosts: Hosts | None = None,
    ) -> None:
        """``blocklist``: ``config.blocklists`` already loaded (blocklist.load); None reads
        them here, in this process. ``hosts``: ``server.hosts_file`` already read (hosts.py);
        None reads it here (ConfigError when a configured file cannot be read)."""
        self.zones: dict[_Key, str] = {}
        self.data: dict[_Key, dict[int, dns.rrset.RRset]] = {}
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
        if hosts is None:
            hosts = read_hosts(config, source)
        self.hosts = hosts
        for rrset in hosts.rrsets:
            # server.local_data wins for a name and type it sets; the file fills in the rest.
            if rrset.rdtype not in self.data.get(_key(rrset.name), {}):
                self._add(rrset)
        # The wire names (lower case) that have data: the wire path asks ``answer`` only for
        # those when there are no zones or blocklists (see ``speaks_for``).
        self._names = frozenset(b"".join(bytes([len(x)]) + x for x in k) for k in self.data)
        if blocklist is None:
            blocklist = read_blocklists(config, source)
        self.blocklist = blocklist

    def __bool__(self) -> bool:
        return bool(self.zones or self.data or len(self.blocklist))

    def speaks_for(self, name: bytes) -> bool:
        """Whether ``answer`` may have something for the wire name ``name`` (lower case): a
        set lookup instead of a dnspython name for every cold question, when local data (the
        hosts file, by default on loopback) is all there is."""
        return bool(self.zones or len(self.blocklist)) or name in self._names

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
            return self._blocked(key, qname, qtype, 1)
        if zone_type == "refuse":
            return Result(dns.rcode.REFUSED, ede=[(EDE.PROHIBITED, "refused by local zone")])
        if zone_type == "nxdomain":
            return Result(dns.rcode.NXDOMAIN, authority=self._soa(zone_key))
        if own is not None or self._has_below(key):
            return Result(dns.rcode.NOERROR, authority=self._soa(zone_key))
        if zone_type == "static":
            return Result(dns.rcode.NXDOMAIN, authority=self._soa(zone_key))
        # transparent: the zone unblocks its names; a list entry below the zone still blocks.
        return self._blocked(key, qname, qtype, len(zone_key))

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

    def _blocked(
        self, key: _Key, qname: dns.name.Name, qtype: RdataType, keep: int
    ) -> Result | None:
        """Blocked if a listed name is ``key`` or above it, longer than ``keep`` labels."""
        if not self.blocklist.blocks(key, keep):
            return None
        ede: list[tuple[int, str]] = [(EDE.BLOCKED, "blocked by a blocklist")]
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


def read_blocklists(config: ServerConfig, source: str = "config") -> Blocklist:
    """``server.blocklists`` and ``server.allowlists`` read in this process (files, and the
    kept copies of URLs: nothing is downloaded); ConfigError names an unreadable file."""
    check_blocklists(config, source)
    spec = blocklist_spec(config)
    lists = [spec.local_path(s) for s in spec.block]
    allow = [spec.local_path(s) for s in spec.allow]
    try:
        blocklist = build(
            [p for p in lists if os.path.exists(p) or not is_url(p)],
            [p for p in allow if os.path.exists(p) or not is_url(p)],
        )
    except OSError as exc:  # gone between the check and the read
        raise ConfigError(f"{source}: 'server.blocklists': cannot read: {exc}") from None
    return blocklist


def blocklist_spec(config: ServerConfig, *, force: bool = False) -> Spec:
    """What ``blocklist.load`` reads for ``config``."""
    return Spec(
        block=tuple(str(s) for s in config.blocklists),
        allow=tuple(str(s) for s in config.allowlists),
        cache_dir=config.blocklist_cache,
        max_age=config.blocklist_refresh,
        force=force,
    )


def check_blocklists(config: ServerConfig, source: str = "config") -> None:
    """ConfigError naming the first ``server.blocklists`` or ``server.allowlists`` file that
    cannot be read (cheap: nothing is parsed or downloaded, so ``check-config`` and the start
    stay fast)."""
    for key, lists in (
        ("server.blocklists", config.blocklists),
        ("server.allowlists", config.allowlists),
    ):
        bad = unreadable(lists)
        if bad is not None:
            index, reason = bad
            raise blocklist_error(source, index, str(lists[index]), reason, key)


def blocklist_error(
    source: str, index: int, path: str, reason: str, key: str = "server.blocklists"
) -> ConfigError:
    return ConfigError(f"{source}: '{key}[{index}]' {path!r}: cannot read: {reason}")


def read_blocklist(path: Path) -> list[dns.name.Name]:
    """The names one blocklist file blocks (OSError if it cannot be read)."""
    names: set[str] = set()
    parse_names(path.read_text(encoding="utf-8", errors="replace"), names)
    return [dns.name.from_text(n + ".") for n in sorted(names)]
