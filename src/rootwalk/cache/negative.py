"""Negative cache: NXDOMAIN per name and NODATA per (name, type) (RFC 2308).

An NXDOMAIN also covers every name below it (RFC 8020 §2: "NXDOMAIN cut").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rootwalk.cache.expiry import ExpiringStore
from rootwalk.config import CacheConfig
from rootwalk.dnssec.verify import Security
from rootwalk.wire.message import RRset
from rootwalk.wire.names import ROOT, parent

__all__ = ["NXDOMAIN_KEY", "NegativeCache", "NegativeEntry", "negative_ttl", "soa_minimum"]

# Pseudo-type under which a name's NXDOMAIN is stored (no real RR type is negative).
NXDOMAIN_KEY = -1


def soa_minimum(soa: RRset) -> int:
    """The MINIMUM field: the last four octets of an SOA rdata (RFC 1035 §3.3.13)."""
    return int.from_bytes(soa.rdatas[0][-4:], "big")


def negative_ttl(soa: RRset) -> int:
    """RFC 2308 §5: the lesser of the SOA record's TTL and its MINIMUM field."""
    return min(soa.ttl, soa_minimum(soa))


@dataclass(slots=True)
class NegativeEntry:
    owner: bytes  # the name the verdict is about
    nxdomain: bool
    soa: RRset
    expires: float
    original: int = 0  # the negative TTL it was stored with (prefetch, cache files)
    security: Security = Security.INSECURE
    why: tuple[int, str] | None = None  # for a bogus verdict: EDE code and text
    # What a DO=1 client gets in the authority section besides the SOA (RFC 4035 §3.1.3):
    # the SOA's RRSIG and the NSEC/NSEC3 records of the proof with their RRSIGs.
    proof: tuple[RRset, ...] = ()

    def ttl(self, now: float) -> int:
        return max(0, int(self.expires - now))


class NegativeCache(ExpiringStore[NegativeEntry]):
    def __init__(self, config: CacheConfig, timer: Callable[[], float]) -> None:
        super().__init__(config, timer, max(1, config.max_entries // 4))

    def put(
        self,
        name: bytes,
        qtype: int,
        nxdomain: bool,
        soa: RRset,
        now: float,
        security: Security = Security.INSECURE,
        why: tuple[int, str] | None = None,
        proof: tuple[RRset, ...] = (),
        ttl_cap: int | None = None,
    ) -> bool:
        ttl = min(negative_ttl(soa), self._config.max_negative_ttl)
        ttl = max(ttl, min(self._config.min_ttl, self._config.max_negative_ttl))
        if ttl_cap is not None:
            ttl = min(ttl, ttl_cap)
        if ttl <= 0:
            return False
        key = (name, NXDOMAIN_KEY if nxdomain else qtype)
        old = self._data.get(key)
        if (
            security is Security.BOGUS
            and old is not None
            and old.expires > now
            and old.security is not Security.BOGUS
        ):
            return False  # a forged denial must not replace one that validated
        self._store(key, NegativeEntry(name, nxdomain, soa, now + ttl, ttl, security, why, proof))
        return True

    def restore(self, qtype: int, entry: NegativeEntry, now: float) -> bool:
        """Keep a verdict read back from a cache file unless a longer-lived one is cached."""
        key = (entry.owner, NXDOMAIN_KEY if entry.nxdomain else qtype)
        old = self._data.get(key)
        if old is not None and old.expires >= entry.expires:
            return False
        self._store(key, entry)
        return True

    def get(
        self, name: bytes, qtype: int, now: float, *, stale: bool = False
    ) -> NegativeEntry | None:
        """NODATA for (name, qtype), or NXDOMAIN for name or any ancestor (RFC 8020)."""
        entry = self._get((name, qtype))
        if entry is not None and (stale or entry.expires > now):
            return entry
        probe = name
        while True:
            entry = self._get((probe, NXDOMAIN_KEY))
            if entry is not None and (stale or entry.expires > now):
                return entry
            if probe == ROOT:
                return None
            probe = parent(probe)
