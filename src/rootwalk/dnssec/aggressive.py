"""Aggressive use of the DNSSEC-validated cache (RFC 8198).

A validated NSEC record says that no name exists between its owner and its next name; a
validated NSEC3 record says the same of a span of hashes. Kept per zone, with the zone's SOA,
they answer NXDOMAIN and NODATA for other names in those spans without asking anyone, so a
flood of random names under a signed zone stops reaching its servers after a few answers
(RFC 8198 §1: the "random subdomain" attack).

Only records that validated as secure are learned, and each is kept no longer than its own TTL
and its zone's negative TTL (RFC 8198 §5.4). The store is bounded: ``MAX_PER_ZONE`` records a
zone (the oldest go first) and ``MAX_ZONES`` zones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rootwalk.dnssec.denial import (
    Denial,
    canonical_key,
    nsec3_denial,
    nsec_denial,
    parse_nsec,
    parse_nsec3,
)
from rootwalk.dnssec.nsec3 import nsec3_hash
from rootwalk.wire.message import NSEC, NSEC3, RRset
from rootwalk.wire.names import ROOT, is_subdomain, parent

__all__ = ["DenialCache", "Synthesised", "MAX_PER_ZONE", "MAX_ZONES"]

MAX_PER_ZONE = 256
MAX_ZONES = 5_000
NOERROR, NXDOMAIN = 0, 3
_DS = 43


@dataclass(slots=True)
class _Record:
    rrset: RRset
    sig: RRset | None
    expires: float


@dataclass(slots=True)
class _Zone:
    soa: RRset
    soa_sig: RRset | None
    soa_expires: float
    records: dict[bytes, _Record] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Synthesised:
    """A negative answer made from cached proofs: its rcode, authority section (SOA first,
    then the proof; RRSIGs only for a DO=1 client) and what it proves."""

    rcode: int
    zone: bytes
    soa: RRset
    proof: list[RRset]
    reason: str


def negative_ttl(soa: RRset) -> int:
    """RFC 2308 §5: the lesser of the SOA's TTL and its MINIMUM field (the last 4 octets)."""
    return min(soa.ttl, int.from_bytes(soa.rdatas[0][-4:], "big"))


def _aged(rrset: RRset, ttl: int) -> RRset:
    return RRset(rrset.owner, rrset.rtype, rrset.rclass, ttl, rrset.rdatas, rrset.covers)


class DenialCache:
    def __init__(self) -> None:
        self._zones: dict[bytes, _Zone] = {}
        self.answers = 0  # negative answers synthesised (for /metrics and tests)

    def __len__(self) -> int:
        return sum(len(z.records) for z in self._zones.values())

    def clear(self) -> None:
        self._zones.clear()

    def flush(self, name: bytes) -> None:
        """Forget the zones at or below ``name`` and the records of zones above it that
        lie at or below it."""
        for zone in list(self._zones):
            if is_subdomain(zone, name):
                del self._zones[zone]
            elif is_subdomain(name, zone):
                records = self._zones[zone].records
                for owner in [o for o in records if is_subdomain(o, name)]:
                    del records[owner]

    def learn(
        self,
        zone: bytes,
        soa: RRset | None,
        soa_sig: RRset | None,
        proof: list[tuple[RRset, RRset | None]],
        now: float,
    ) -> None:
        """Keep the validated NSEC/NSEC3 RRsets (with their RRSIGs) of a secure negative
        answer from ``zone``, whose SOA came with them."""
        entry = self._zones.get(zone)
        if soa is not None:
            ttl = negative_ttl(soa)
            if entry is None:
                if len(self._zones) >= MAX_ZONES:
                    self._zones.pop(next(iter(self._zones)))
                entry = self._zones[zone] = _Zone(soa, soa_sig, now + ttl)
            else:
                entry.soa, entry.soa_sig, entry.soa_expires = soa, soa_sig, now + ttl
        if entry is None:
            return  # no SOA known for the zone: nothing to answer with
        # RFC 8198 §5.4: no longer than the record's TTL and the zone's negative TTL.
        limit = negative_ttl(entry.soa)
        for rrset, sig in proof:
            if rrset.rtype not in (NSEC, NSEC3):
                continue
            records = entry.records
            records.pop(rrset.owner, None)
            if len(records) >= MAX_PER_ZONE:
                records.pop(next(iter(records)))
            records[rrset.owner] = _Record(rrset, sig, now + min(rrset.ttl, limit))

    def _zone_of(self, qname: bytes) -> tuple[bytes, _Zone] | None:
        probe = qname
        while True:
            entry = self._zones.get(probe)
            if entry is not None:
                return probe, entry
            if probe == ROOT:
                return None
            probe = parent(probe)

    def synthesise(self, qname: bytes, qtype: int, now: float) -> Synthesised | None:
        """NXDOMAIN or NODATA for (qname, qtype) from cached proofs, or None."""
        # A DS is denied by its parent's records (RFC 4035 §3.1.4.1), never by the child's
        # apex NSEC, which rightly lists no DS.
        found = self._zone_of(parent(qname) if qtype == _DS and qname != ROOT else qname)
        if found is None:
            return None
        zone, entry = found
        if entry.soa_expires <= now:
            del self._zones[zone]
            return None
        live = [r for r in entry.records.values() if r.expires > now]
        if not live:
            return None
        nsecs = [r.rrset for r in live if r.rrset.rtype == NSEC]
        if nsecs:
            p = nsec_denial(qname, qtype, nsecs, zone)
        else:
            p = nsec3_denial(qname, qtype, [r.rrset for r in live], zone)
        if not p.ok or p.denial is None:
            return None
        ttl = int(min(entry.soa_expires, *(r.expires for r in live)) - now)
        if ttl <= 0:
            return None
        used = _relevant(qname, zone, live)
        proof: list[RRset] = []
        for r in used:
            left = max(1, min(ttl, int(r.expires - now)))
            proof.append(_aged(r.rrset, left))
            if r.sig is not None:
                proof.append(_aged(r.sig, left))
        soa = _aged(entry.soa, min(ttl, negative_ttl(entry.soa)))
        if entry.soa_sig is not None:
            proof.insert(0, _aged(entry.soa_sig, soa.ttl))
        self.answers += 1
        rcode = NXDOMAIN if p.denial is Denial.NXDOMAIN else NOERROR
        return Synthesised(rcode, zone, soa, proof, p.reason)


def _relevant(qname: bytes, zone: bytes, live: list[_Record]) -> list[_Record]:
    """The records a client needs to check the proof itself (RFC 8198 §5.1): those matching
    or covering the name, its ancestors up to the zone, or their wildcards."""
    names = []
    probe = qname
    while True:
        names.append(probe)
        if probe != ROOT:
            names.append(b"\x01*" + parent(probe))
        if probe in (zone, ROOT) or not is_subdomain(probe, zone):
            break
        probe = parent(probe)
    out = []
    for r in live:
        if r.rrset.rtype == NSEC:
            parsed = parse_nsec(r.rrset.rdatas[0])
            if parsed is None:
                continue
            lo, hi = canonical_key(r.rrset.owner), canonical_key(parsed[0])
            keys = [canonical_key(n) for n in names]
            if any(k == lo or _between(lo, hi, k) for k in keys):
                out.append(r)
        else:
            n3 = parse_nsec3(r.rrset)
            if n3 is None:
                continue
            hashes = [nsec3_hash(n, n3.salt, n3.iterations) for n in names]
            if any(
                h == n3.owner_hash or _between((n3.owner_hash,), (n3.next_hash,), (h,))
                for h in hashes
            ):
                out.append(r)
    return out


def _between(lo: tuple[bytes, ...], hi: tuple[bytes, ...], x: tuple[bytes, ...]) -> bool:
    if lo < hi:
        return lo < x < hi
    return x > lo or x < hi
