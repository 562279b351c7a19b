"""The cache facade: answers from cached data, closest known zone cut, and storing results.

Imports only lower tiers (config, clock, names, delegation, classify): no I/O, no asyncio.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from rootwalk.cache.infra import InfraCache, ServerStats
from rootwalk.cache.negative import NXDOMAIN_KEY, NegativeCache, NegativeEntry, negative_ttl
from rootwalk.cache.rrsets import RRsetCache, RRsetEntry, Trust
from rootwalk.classify import Classified, ResponseKind, synthesise_cname
from rootwalk.clock import Clock
from rootwalk.config import CacheConfig
from rootwalk.delegation import Delegation, Provenance
from rootwalk.dnssec.validator import Outcome, worst
from rootwalk.dnssec.verify import Security
from rootwalk.names import in_bailiwick
from rootwalk.wire.message import AAAA, CNAME, DNAME, NS, A, RRset
from rootwalk.wire.names import ROOT, parent

__all__ = [
    "address_text",
    "Cache",
    "CacheAnswer",
    "CacheSizes",
    "CacheView",
    "DumpEntry",
    "InfraCache",
    "NegativeEntry",
    "PREFETCH_FRACTION",
    "RRsetEntry",
    "SavedEntry",
    "ServerStats",
    "Trust",
    "negative_ttl",
]

_ADDRESS_TYPES = (A, AAAA)


def address_text(rdata: bytes) -> str:
    """The presentation form of an A or AAAA rdata (what sockets take)."""
    return socket.inet_ntop(socket.AF_INET if len(rdata) == 4 else socket.AF_INET6, rdata)


_ANY = 255
NOERROR, NXDOMAIN = 0, 3
# Unbound prefetch: an answer asked for in the last tenth of its original TTL is refreshed.
PREFETCH_FRACTION = 0.1


@dataclass
class CacheAnswer:
    """What the cache knows about a question: a (possibly partial) chain and maybe a verdict."""

    target: bytes  # end of the chain
    chain: list[RRset] = field(default_factory=list)
    answer: list[RRset] = field(default_factory=list)
    soa: RRset | None = None
    nxdomain: bool = False
    complete: bool = False  # answer or negative verdict found for ``target``
    stale: bool = False
    # Wall-clock time from which a question answered with this should be prefetched: the
    # earliest last-tenth-of-TTL of the entries it was built from (Unbound prefetch_ttl).
    refresh_at: float = float("inf")
    # The least secure entry it was built from (RFC 4035 §4.3), and for bogus data why.
    security: Security = Security.SECURE
    why: tuple[int, str] | None = None
    # With ``dnssec`` lookups: the negative answer's RRSIGs and NSEC/NSEC3 records.
    proof: list[RRset] = field(default_factory=list)

    def sections(self) -> tuple[int, list[RRset], list[RRset]]:
        """(rcode, answer section, authority section) of a complete answer.

        A negative answer keeps its CNAME chain in the answer section and carries the SOA in
        the authority section (RFC 2308 §2.1 and §3).
        """
        if self.answer:
            return NOERROR, self.chain + self.answer, list(self.proof)
        rcode = NXDOMAIN if self.nxdomain else NOERROR
        auth = [self.soa] if self.soa is not None else []
        return rcode, list(self.chain), auth + self.proof

    def judge(self, security: Security, why: tuple[int, str] | None) -> None:
        if why is not None and self.why is None and security is Security.BOGUS:
            self.why = why
        self.security = worst(self.security, security)


def _aged(rrset: RRset, ttl: int) -> RRset:
    """A copy of ``rrset`` carrying the remaining TTL (the cached object is never mutated)."""
    return RRset(rrset.owner, rrset.rtype, rrset.rclass, ttl, rrset.rdatas, rrset.covers)


class CacheView(Protocol):
    """The cache as the engine, the front end and ``ctl`` see it (the seam a shared second
    tier, e.g. Redis/Valkey for a fleet, would implement). Names are wire names."""

    def __len__(self) -> int: ...

    def lookup(
        self,
        qname: bytes,
        qtype: int,
        now: float,
        *,
        stale: bool = False,
        max_chain: int = 12,
        dnssec: bool = False,
    ) -> CacheAnswer | None: ...

    def closest_delegation(self, qname: bytes, now: float) -> Delegation | None: ...

    def referral(self, qname: bytes, now: float) -> tuple[RRset, list[RRset]] | None: ...

    def fill_addresses(self, deleg: Delegation, now: float) -> None: ...

    def store(self, c: Classified, now: float, outcome: Outcome | None = None) -> None: ...

    def flush(self, name: bytes) -> int: ...

    def flush_zone(self, name: bytes) -> CacheSizes: ...

    def flush_all(self) -> CacheSizes: ...

    def sizes(self) -> CacheSizes: ...

    def dump(self, now: float) -> Iterator[DumpEntry]: ...

    def export(self, now: float) -> Iterator[SavedEntry]: ...

    def restore(self, entry: SavedEntry, now: float) -> bool: ...

    def subscribe(self, callback: Callable[[bytes | None], None]) -> None: ...


@dataclass(frozen=True, slots=True)
class CacheSizes:
    rrsets: int
    negative: int


@dataclass(frozen=True, slots=True)
class DumpEntry:
    """One cached item for ``ctl dump-cache``: an RRset, or a negative verdict (rrset None)."""

    name: bytes
    rdtype: int
    ttl: int
    trust: str  # for an RRset; "nxdomain" or "nodata" for a negative entry
    rrset: RRset | None
    security: Security = Security.INSECURE  # what DNSSEC validation found


@dataclass(frozen=True, slots=True)
class SavedEntry:
    """One cached item with absolute times: what ``ctl dump-cache FILE`` writes and
    ``load-cache`` reads back (cache/persist.py). For a negative verdict ``rrset`` is its SOA
    and ``trust`` is None; ``rdtype`` is NXDOMAIN_KEY (-1) for an NXDOMAIN."""

    name: bytes
    rdtype: int
    expires: float  # wall-clock seconds
    original: int  # the TTL it was stored with
    trust: Trust | None
    rrset: RRset
    sigs: RRset | None = None
    security: Security = Security.INSECURE

    @property
    def negative(self) -> bool:
        return self.trust is None


class Cache:
    """RRsets and negative answers, by TTL, with trust ranks (RFC 2181 §5.4.1, RFC 2308).

    The in-process implementation of ``CacheView``: two ``ExpiringStore`` maps (cachetools
    TLRU) keyed by (wire name, type). It follows CNAME/DNAME links, finds the closest zone
    cut, and tells subscribers which names changed, so derived caches (the front end's
    rendered answers) stay consistent without this tier knowing about them.
    """

    def __init__(self, config: CacheConfig, clock: Clock, *, bogus_ttl: int = 60) -> None:
        self.config = config
        self.clock = clock
        # How long bogus data is kept (dnssec.bogus_ttl, Unbound's val-bogus-ttl).
        self.bogus_ttl = bogus_ttl
        self.rrsets = RRsetCache(config, clock.now)
        self.negative = NegativeCache(config, clock.now)
        self._subscribers: list[Callable[[bytes | None], None]] = []

    def __len__(self) -> int:
        return len(self.rrsets) + len(self.negative)

    def subscribe(self, callback: Callable[[bytes | None], None]) -> None:
        """Call ``callback(name)`` when data owned by ``name`` is stored or removed, and
        ``callback(None)`` when everything is flushed. Any number may subscribe."""
        self._subscribers.append(callback)
        self.rrsets.on_change = self.negative.on_change = self._changed

    def _changed(self, name: bytes | None) -> None:
        for callback in self._subscribers:
            callback(name)

    def sizes(self) -> CacheSizes:
        return CacheSizes(len(self.rrsets), len(self.negative))

    def dump(self, now: float) -> Iterator[DumpEntry]:
        for (name, rdtype), entry in self.rrsets.items():
            ttl = int(entry.expires - now)
            trust = entry.trust.name.lower()
            yield DumpEntry(name, rdtype, ttl, trust, entry.rrset, entry.security)
        for (name, rdtype), neg in self.negative.items():
            kind = "nxdomain" if neg.nxdomain else "nodata"
            yield DumpEntry(name, rdtype, int(neg.expires - now), kind, None, neg.security)

    def export(self, now: float) -> Iterator[SavedEntry]:
        """Every unexpired entry with its absolute expiry, original TTL and trust."""
        for (name, rdtype), entry in self.rrsets.items():
            if entry.expires > now and entry.security is not Security.BOGUS:
                trust, rrset, sigs = entry.trust, entry.rrset, entry.sigs
                yield SavedEntry(
                    name,
                    rdtype,
                    entry.expires,
                    entry.original,
                    trust,
                    rrset,
                    sigs,
                    entry.security,
                )
        for (name, rdtype), neg in self.negative.items():
            if neg.expires > now and neg.security is not Security.BOGUS:
                yield SavedEntry(
                    name, rdtype, neg.expires, neg.original, None, neg.soa, None, neg.security
                )

    def restore(self, entry: SavedEntry, now: float) -> bool:
        """Keep a validated entry read from a cache file; False when it has expired or what is
        cached already is better."""
        if entry.expires <= now:
            return False
        if entry.trust is None:
            neg = NegativeEntry(
                entry.name,
                entry.rdtype == NXDOMAIN_KEY,
                entry.rrset,
                entry.expires,
                entry.original,
                entry.security,
            )
            return self.negative.restore(entry.rdtype, neg, now)
        rr = RRsetEntry(
            entry.rrset, entry.trust, entry.expires, entry.sigs, entry.original, entry.security
        )
        return self.rrsets.restore(rr, now)

    # -- reading -------------------------------------------------------------------------

    def lookup(
        self,
        qname: bytes,
        qtype: int,
        now: float,
        *,
        stale: bool = False,
        max_chain: int = 12,
        dnssec: bool = False,
    ) -> CacheAnswer | None:
        """Answer from cache, following cached CNAME/DNAME links. None if nothing is known.

        With ``stale`` set, expired entries still inside the serve-stale window count too, and
        everything returned carries the stale-answer TTL (RFC 8767 §4). With ``dnssec`` (a
        DO=1 question) each RRset is followed by its RRSIGs, and a negative answer carries its
        proof (RFC 4035 §3.2.1).
        """
        if qtype == _ANY:
            return None  # never assembled from cache; see RFC 8482 handling in the front end
        out = CacheAnswer(target=qname)
        stale_ttl = self.config.stale_answer_ttl
        name = qname
        seen = {name}

        def ttl_of(expires: float, original: int) -> int:
            refresh = expires - original * PREFETCH_FRACTION
            if refresh < out.refresh_at:
                out.refresh_at = refresh
            if stale and expires <= now:
                out.stale = True
                return stale_ttl
            return max(0, int(expires - now))

        for _ in range(max_chain + 1):
            out.target = name
            entry = self.rrsets.get(name, qtype, now, stale=stale)
            if entry is not None and entry.trust.answers_clients:
                ttl = ttl_of(entry.expires, entry.original)
                out.answer = [_aged(entry.rrset, ttl)]
                if dnssec and entry.sigs is not None:
                    out.answer.append(_aged(entry.sigs, ttl))
                if dnssec and entry.proof:
                    out.proof = [_aged(r, min(ttl, r.ttl)) for r in entry.proof]
                out.judge(entry.security, entry.why)
                out.complete = True
                return out
            neg = self.negative.get(name, qtype, now, stale=stale)
            if neg is not None:
                ttl = ttl_of(neg.expires, neg.original)
                out.soa = _aged(neg.soa, ttl)
                out.nxdomain = neg.nxdomain
                if dnssec:
                    out.proof = [_aged(r, min(ttl, r.ttl)) for r in neg.proof]
                out.judge(neg.security, neg.why)
                out.complete = True
                return out
            nxt: bytes | None = None
            if qtype != CNAME:
                cname = self.rrsets.get(name, CNAME, now, stale=stale)
                if cname is not None and cname.trust.answers_clients:
                    ttl = ttl_of(cname.expires, cname.original)
                    out.chain.append(_aged(cname.rrset, ttl))
                    if dnssec and cname.sigs is not None:
                        out.chain.append(_aged(cname.sigs, ttl))
                    out.judge(cname.security, cname.why)
                    nxt = cname.rrset.rdatas[0]
            if nxt is None and self.rrsets.dnames_seen:
                nxt = self._dname_step(name, now, stale, out, ttl_of, dnssec)
                if out.complete:
                    return out
            if nxt is None or nxt in seen:
                break
            seen.add(nxt)
            name = nxt
        return out if out.chain else None

    def _dname_step(
        self,
        name: bytes,
        now: float,
        stale: bool,
        out: CacheAnswer,
        ttl_of: Callable[[float, int], int],
        dnssec: bool = False,
    ) -> bytes | None:
        probe = name
        while probe != ROOT:
            probe = parent(probe)
            entry = self.rrsets.get(probe, DNAME, now, stale=stale)
            if entry is not None and entry.trust.answers_clients:
                synth = synthesise_cname(name, entry.rrset)
                if synth is None:
                    return None
                ttl = ttl_of(entry.expires, entry.original)
                out.chain.append(_aged(entry.rrset, ttl))
                if dnssec and entry.sigs is not None:
                    out.chain.append(_aged(entry.sigs, ttl))
                out.chain.append(_aged(synth, ttl))
                out.judge(entry.security, entry.why)
                new = synth.rdatas[0]
                if in_bailiwick(new, probe):
                    # A DNAME that rewrites names below itself loops: the chain is the
                    # answer (classify.py rule 4, Unbound "DNAME to a subdomain loop").
                    out.target, out.complete = new, True
                    return None
                return new
        return None

    def addresses(self, name: bytes, now: float) -> list[str]:
        """Cached A and AAAA addresses of ``name``, any trust (for reaching servers only)."""
        found: list[str] = []
        for rdtype in _ADDRESS_TYPES:
            entry = self.rrsets.get(name, rdtype, now)
            if entry is not None:
                found.extend(address_text(rd) for rd in entry.rrset.rdatas)
        return found

    def referral(self, qname: bytes, now: float) -> tuple[RRset, list[RRset]] | None:
        """The deepest cached NS set at or above ``qname`` and the cached addresses of its
        servers, with their remaining TTLs: what a non-recursive question gets when its answer
        is not cached (RFC 1034 §4.3.1 step 4; Unbound answer_norec_from_cache)."""
        for _name, entry in self._cuts(qname, now):
            glue = []
            for target in entry.rrset.rdatas:
                for rdtype in _ADDRESS_TYPES:
                    addr = self.rrsets.get(target, rdtype, now)
                    if addr is not None:
                        glue.append(_aged(addr.rrset, addr.ttl(now)))
            return _aged(entry.rrset, entry.ttl(now)), glue
        return None

    def _cuts(self, qname: bytes, now: float) -> Iterator[tuple[bytes, RRsetEntry]]:
        """Cached NS sets at and above ``qname``, deepest first."""
        name = qname
        get = self.rrsets.get
        while True:
            entry = get(name, NS, now)
            if entry is not None:
                yield name, entry
            if name == ROOT:
                return
            name = parent(name)

    def fill_addresses(self, deleg: Delegation, now: float) -> None:
        for server in deleg.servers.values():
            if not server.addresses:
                deleg.add_addresses(server.name, self.addresses(server.name, now), Provenance.CACHE)

    def closest_delegation(self, qname: bytes, now: float) -> Delegation | None:
        """The deepest cached zone cut at or above ``qname`` that has a way to reach a server."""
        for name, entry in self._cuts(qname, now):
            deleg = Delegation.from_ns(name, entry.rrset, entry.trust < Trust.AUTH_ANSWER)
            self.fill_addresses(deleg, now)
            # Usable if some server has an address, or some NS name lies outside the zone
            # (so a sub-resolution can find it without going through this very cut).
            if deleg.targets() or any(not in_bailiwick(ns, name) for ns in deleg.missing()):
                return deleg
        return None

    # -- writing -------------------------------------------------------------------------

    def store(self, c: Classified, now: float, outcome: Outcome | None = None) -> None:
        """Remember what a scrubbed, classified response taught us, ranked by trust, with
        what validation found (``outcome``; None: not validated, so insecure)."""
        # RFC 2181 §5.4.1: answer data without AA ranks below authoritative answer data, so a
        # later authoritative answer replaces it and it never replaces one.
        answer_trust = Trust.AUTH_ANSWER if c.aa else Trust.ANSWER
        security = Security.INSECURE if outcome is None else outcome.status
        why: tuple[int, str] | None = None
        bogus_cap: int | None = None
        ttls: dict[tuple[bytes, int], int] = {}
        if outcome is not None:
            ttls = outcome.ttls
            if security is Security.BOGUS:
                why, bogus_cap = outcome.why, self.bogus_ttl

        def put(rrset: RRset, trust: Trust, proof: tuple[RRset, ...] = ()) -> None:
            key = (rrset.owner, rrset.rtype)
            cap = ttls.get(key, bogus_cap)
            self.rrsets.put(rrset, trust, now, c.sigs.get(key), security, why, cap, proof)

        after_dname = False
        for rrset in c.chain:
            # A CNAME synthesised from the DNAME before it is not stored: lookups synthesise
            # it again from the cached DNAME (RFC 6672 §3.1), with the DNAME's remaining TTL.
            if not (after_dname and rrset.rtype == CNAME):
                put(rrset, answer_trust)
            after_dname = rrset.rtype == DNAME
        if c.kind is ResponseKind.ANSWER:
            proof = tuple(c.with_sigs(c.proof))
            for rrset in c.answer:
                put(rrset, answer_trust, proof)
            for rrset in c.glue:
                self.rrsets.put(rrset, Trust.ADDITIONAL, now)
        elif c.kind is ResponseKind.REFERRAL and c.ns is not None:
            self.rrsets.put(c.ns, Trust.AUTHORITY, now, c.sigs.get((c.ns.owner, c.ns.rtype)))
            for rrset in c.glue:
                self.rrsets.put(rrset, Trust.GLUE, now)
        elif c.kind in (ResponseKind.NXDOMAIN, ResponseKind.NODATA) and c.soa is not None:
            # The SOA's RRSIGs, then each NSEC/NSEC3 RRset and its RRSIGs (the SOA itself is
            # the entry's own).
            neg_proof = tuple(c.with_sigs([c.soa, *c.proof])[1:])
            cap = bogus_cap
            if security is Security.SECURE and ttls:
                cap = min(ttls.values())
            self.negative.put(
                c.target,
                c.qtype,
                c.kind is ResponseKind.NXDOMAIN,
                c.soa,
                now,
                security,
                why,
                neg_proof,
                cap,
            )

    def flush(self, name: bytes) -> int:
        return self.rrsets.remove(name) + self.negative.remove(name)

    def flush_zone(self, name: bytes) -> CacheSizes:
        """Forget every RRset and negative verdict at or below ``name`` (Unbound flush_zone);
        returns what went. Subscribers hear of each owner name, so derived answers go too."""
        return CacheSizes(self.rrsets.remove_below(name), self.negative.remove_below(name))

    def flush_all(self) -> CacheSizes:
        """Forget everything; returns what was there."""
        before = self.sizes()
        self.rrsets.clear()
        self.negative.clear()
        self._changed(None)
        return before
