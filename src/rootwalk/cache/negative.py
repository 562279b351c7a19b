"""Negative cache: NXDOMAIN per name and NODATA per (name, type) (RFC 2308).

An NXDOMAIN also covers every name below it (RFC 8020 §2: "NXDOMAIN cut").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cachetools
import dns.name
import dns.rrset

from rootwalk.cache.expiry import expiring_map
from rootwalk.config import CacheConfig

__all__ = ["NXDOMAIN_KEY", "NegativeCache", "NegativeEntry", "negative_ttl"]

# Pseudo-type under which a name's NXDOMAIN is stored (no real RR type is negative).
NXDOMAIN_KEY = -1


def negative_ttl(soa: dns.rrset.RRset) -> int:
    """RFC 2308 §5: the lesser of the SOA record's TTL and its MINIMUM field."""
    return int(min(soa.ttl, soa[0].minimum))


@dataclass(slots=True)
class NegativeEntry:
    owner: dns.name.Name  # the name the verdict is about
    nxdomain: bool
    soa: dns.rrset.RRset
    expires: float

    def ttl(self, now: float) -> int:
        return max(0, int(self.expires - now))


class NegativeCache:
    def __init__(self, config: CacheConfig, timer: Callable[[], float]) -> None:
        self._config = config
        self._data: cachetools.TLRUCache[tuple[dns.name.Name, int], NegativeEntry] = expiring_map(
            config, timer, max(1, config.max_entries // 4)
        )
        # Called with the owner name whenever an entry is stored or removed (see Cache.watch).
        self.on_change: Callable[[dns.name.Name], None] | None = None

    def __len__(self) -> int:
        return len(self._data)

    def put(
        self, name: dns.name.Name, qtype: int, nxdomain: bool, soa: dns.rrset.RRset, now: float
    ) -> bool:
        ttl = min(negative_ttl(soa), self._config.max_negative_ttl)
        ttl = max(ttl, min(self._config.min_ttl, self._config.max_negative_ttl))
        if ttl <= 0:
            return False
        key = (name, NXDOMAIN_KEY if nxdomain else qtype)
        self._data[key] = NegativeEntry(name, nxdomain, soa, now + ttl)
        if self.on_change is not None:
            self.on_change(name)
        return True

    def get(
        self, name: dns.name.Name, qtype: int, now: float, *, stale: bool = False
    ) -> NegativeEntry | None:
        """NODATA for (name, qtype), or NXDOMAIN for name or any ancestor (RFC 8020)."""
        entry = self._data.get((name, qtype))
        if entry is not None and (stale or entry.expires > now):
            return entry
        probe = name
        while True:
            entry = self._data.get((probe, NXDOMAIN_KEY))
            if entry is not None and (stale or entry.expires > now):
                return entry
            if len(probe.labels) <= 1:
                return None
            probe = probe.parent()

    def remove(self, name: dns.name.Name) -> int:
        keys = [k for k in list(self._data.keys()) if k[0] == name]
        for k in keys:
            self._data.pop(k, None)
        if keys and self.on_change is not None:
            self.on_change(name)
        return len(keys)

    def clear(self) -> None:
        self._data.clear()

    def items(self) -> list[tuple[tuple[dns.name.Name, int], NegativeEntry]]:
        return list(self._data.items())
