"""The RRset cache: (name, type) -> RRset with trust rank and wall-clock expiry.

Storage is ``expiry.ExpiringStore`` (a TLRU map; entries kept ``max_stale`` seconds past expiry
when serve-stale is on, RFC 8767), but only ``get(..., stale=True)`` returns them then.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from rootwalk.cache.expiry import ExpiringStore
from rootwalk.config import CacheConfig
from rootwalk.dnssec.verify import Security
from rootwalk.wire.message import DNAME, RRset

__all__ = ["RRsetCache", "RRsetEntry", "Trust"]


class Trust(enum.IntEnum):
    """Credibility of cached data, lowest first (RFC 2181 §5.4.1; Unbound ``rrset_trust``)."""

    HINTS = 0
    ADDITIONAL = 1  # additional section of an answer
    GLUE = 2  # additional section of a referral
    AUTHORITY = 3  # authority section, not authoritative (referral NS)
    ANSWER = 4  # answer section, not authoritative
    AUTH_AUTHORITY = 5  # authority section of an authoritative answer (e.g. SOA)
    AUTH_ANSWER = 6  # answer section of an authoritative answer

    @property
    def answers_clients(self) -> bool:
        # RFC 2181 §5.4.1: glue and additional data are not to be returned as answers.
        return self >= Trust.ANSWER


Key = tuple[bytes, int]


@dataclass(slots=True)
class RRsetEntry:
    rrset: RRset
    trust: Trust
    expires: float  # wall-clock seconds
    sigs: RRset | None = None
    # The TTL it was stored with (after min_ttl/max_ttl): prefetch starts in its last tenth.
    original: int = 0
    # RFC 4035 §4.3: what validation found. Data stored with validation off is insecure.
    security: Security = Security.INSECURE
    # For bogus data: the Extended DNS Error and its text, told to a client without CD.
    why: tuple[int, str] | None = None
    # A wildcard expansion's NSEC/NSEC3 records and their RRSIGs: a DO=1 client gets them
    # with the answer, from the cache as when it was fetched (RFC 4035 §3.1.3.3).
    proof: tuple[RRset, ...] = ()

    def ttl(self, now: float) -> int:
        return max(0, int(self.expires - now))


class RRsetCache(ExpiringStore[RRsetEntry]):
    def __init__(self, config: CacheConfig, timer: Callable[[], float]) -> None:
        super().__init__(config, timer, config.max_entries)
        # DNAMEs are rare: until one is stored, lookups need not look for one above a name.
        self.dnames_seen = False

    def get(
        self, name: bytes, rdtype: int, now: float, *, stale: bool = False
    ) -> RRsetEntry | None:
        entry = self._get((name, rdtype))
        if entry is None or (entry.expires <= now and not stale):
            return None
        return entry

    def put(
        self,
        rrset: RRset,
        trust: Trust,
        now: float,
        sigs: RRset | None = None,
        security: Security = Security.INSECURE,
        why: tuple[int, str] | None = None,
        ttl_cap: int | None = None,
        proof: tuple[RRset, ...] = (),
    ) -> bool:
        """Store unless it would lower trust; returns whether it was stored.

        TTL 0 is never cached (RFC 1035 §3.2.1: use for the transaction in progress only).
        ``ttl_cap``: the validator's limit (RFC 4035 §5.3.3), or the bogus TTL.
        """
        if rrset.ttl <= 0:
            return False
        ttl = min(max(rrset.ttl, self._config.min_ttl), self._config.max_ttl)
        if ttl_cap is not None:
            ttl = min(ttl, ttl_cap)
            if ttl <= 0:
                return False
        key = (rrset.owner, rrset.rtype)
        old = self._data.get(key)
        if old is not None and old.expires > now:
            if trust < old.trust:
                return False  # glue never replaces an answer (guide §6)
            if security is Security.BOGUS and old.security is not Security.BOGUS:
                return False  # a forgery must not push out data that validated
            if trust == old.trust == Trust.AUTHORITY:
                # Ghost-domain defence: a re-sent referral NS set must not extend the life
                # of the delegation it refreshes (Unbound need_to_update_rrset).
                return False
        entry = RRsetEntry(rrset, trust, now + ttl, sigs, ttl, security, why, proof)
        self._store(key, entry)
        if rrset.rtype == DNAME:
            self.dnames_seen = True
        return True

    def restore(self, entry: RRsetEntry, now: float) -> bool:
        """Keep an entry read back from a cache file (``cache.persist``), unless what is
        cached now is as trusted and lives longer. The caller has validated it."""
        key = (entry.rrset.owner, entry.rrset.rtype)
        old = self._data.get(key)
        better = old is not None and (
            old.trust > entry.trust or (old.trust == entry.trust and old.expires >= entry.expires)
        )
        if old is not None and old.expires > now and better:
            return False
        self._store(key, entry)
        if entry.rrset.rtype == DNAME:
            self.dnames_seen = True
        return True
