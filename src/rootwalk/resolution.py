"""The sans-I/O resolution core: every iteration decision, no sockets, no event loop (guide §1).

``Resolution.run()`` is a generator. It yields what to do next, ``Send`` (a query to one
server) or ``SubQuery`` (resolve a glueless NS name first), and is sent back what happened: an
``Exchange`` or an ``UpstreamError`` for a Send, a ``Result`` for a SubQuery. It returns the
final ``Result``. ``rootwalk.iterator`` drives it over the network; unit tests drive it by hand.

The algorithm is RFC 1034 §5.3.3: look in the cache; find the closest known zone cut; ask its
best server; on a referral move the cut down; on a CNAME restart at the target; on an answer or
a negative answer stop. QNAME minimisation (RFC 9156) sends only one more label than the cut
needs, in Unbound's relaxed form: any failure of a minimised query falls back to the full name.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdatatype import RdataType

from rootwalk.cache import Cache
from rootwalk.classify import Classified, ResponseKind, classify
from rootwalk.clock import Clock
from rootwalk.config import Limits, ResolverConfig, parse_forward_address
from rootwalk.delegation import Delegation, NameServer, Provenance
from rootwalk.errors import (
    EDE,
    BudgetExhausted,
    NoReachableServers,
    ResolutionFailed,
    UpstreamError,
    UpstreamMalformed,
    UpstreamMismatch,
    UpstreamTimeout,
)
from rootwalk.names import in_bailiwick, is_localhost, minimise
from rootwalk.selection import Feedback, ServerSelector, Target
from rootwalk.transport import Exchange

__all__ = [
    "Budget",
    "Question",
    "Resolution",
    "Result",
    "Send",
    "SubQuery",
    "TraceEvent",
]

log = logging.getLogger("rootwalk.trace")
_warn = logging.getLogger("rootwalk.resolution")
# Addresses already logged as skipped by do_not_query_localhost: one line per address per
# process, however many questions lead there (bounded: cleared when it grows too big).
_LOGGED_SKIPS: set[str] = set()


def log_localhost_skip(address: str, ns: dns.name.Name, zone: dns.name.Name) -> None:
    if address in _LOGGED_SKIPS:
        return
    if len(_LOGGED_SKIPS) >= 1024:
        _LOGGED_SKIPS.clear()
    _LOGGED_SKIPS.add(address)
    _warn.warning(
        "not querying %s (%s, a server of %s): it is this machine, and "
        "resolver.do_not_query_localhost is on",
        address,
        ns,
        zone,
    )


@dataclass(frozen=True)
class Question:
    name: dns.name.Name
    rdtype: RdataType
    rdclass: int = dns.rdataclass.IN

    def __str__(self) -> str:
        return f"{self.name} {dns.rdatatype.to_text(self.rdtype)}"


@dataclass
class Result:
    """What a client should be told. NXDOMAIN and NODATA are results, not errors."""

    rcode: dns.rcode.Rcode
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    ede: list[tuple[int, str]] = field(default_factory=list)
    from_cache: bool = False
    stale: bool = False
    # Not answered because of load shedding (limits.max_resolutions): the front end sends
    # nothing, as Unbound drops queries it has no room for, so the client retries later
    # instead of caching a SERVFAIL.
    shed: bool = False


@dataclass(frozen=True)
class Send:
    target: Target
    zone: dns.name.Name
    request: dns.message.Message
    timeout: float


@dataclass(frozen=True)
class SubQuery:
    question: Question


Action = Send | SubQuery


@dataclass(frozen=True)
class TraceEvent:
    """One step of a walk, for ``rootwalk query --trace``, the demo and debug logs."""

    depth: int
    kind: str  # cache, query, referral, answer, cname, nodata, nxdomain, lame, error, subquery
    qname: dns.name.Name
    qtype: RdataType
    zone: dns.name.Name | None = None
    server: dns.name.Name | None = None
    address: str | None = None
    rtt: float | None = None
    tcp: bool = False
    detail: str = ""


TraceSink = Callable[[TraceEvent], None]


@dataclass
class Budget:
    """Work allowed for one client question, shared with its sub-resolutions (guide §8)."""

    limits: Limits
    upstream_queries: int = 0

    def spend_query(self) -> None:
        self.upstream_queries += 1
        if self.upstream_queries > self.limits.max_upstream_queries:
            raise BudgetExhausted(
                "max_upstream_queries", f"{self.limits.max_upstream_queries} queries sent"
            )


_FEEDBACK_FOR_RCODE = {
    dns.rcode.REFUSED: Feedback.REFUSED,
    dns.rcode.SERVFAIL: Feedback.SERVFAIL,
    dns.rcode.FORMERR: Feedback.FORMERR,
}


class Resolution:
    def __init__(
        self,
        question: Question,
        *,
        config: ResolverConfig,
        limits: Limits,
        cache: Cache,
        selector: ServerSelector,
        hints: Delegation,
        clock: Clock,
        budget: Budget,
        depth: int = 0,
        trace: TraceSink | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.question = question
        self.config = config
        self.limits = limits
        self.cache = cache
        self.selector = selector
        self.hints = hints
        self.clock = clock
        self.budget = budget
        self.depth = depth
        self._trace = trace
        self._rng = rng or random.Random()
        self._allowed = _allowed_networks(config)
        self._forwards = _forward_delegations(config)
        self.ns_lookups = 0
        # Why glueless NS lookups failed, for the EDE text when no server is left.
        self.sub_failures: list[str] = []
        # Server addresses left out by resolver.do_not_query_localhost (told once each).
        self._skipped: set[str] = set()

    # -- the walk --------------------------------------------------------------------------

    def run(self) -> Generator[Action, Any, Result]:
        q = self.question
        qname, qtype = q.name, q.rdtype
        chain: list[dns.rrset.RRset] = []
        seen = {qname}
        cached_only = True
        while True:
            now = self.clock.now()
            hit = self.cache.lookup(qname, qtype, now, max_chain=self.limits.max_cname_chain)
            if hit is not None:
                detail = self._describe_hit(hit.complete, hit.nxdomain, hit.answer)
                self._emit("cache", qname, qtype, detail=detail)
                if hit.complete:
                    rcode, answer, auth = hit.sections()
                    return Result(rcode, chain + answer, auth, from_cache=cached_only)
                chain.extend(hit.chain)
                qname = self._follow(hit.target, seen, chain)
            cached_only = False
            c = yield from self._iterate(qname, qtype)
            chain.extend(c.chain)
            if c.kind is ResponseKind.ANSWER:
                return Result(dns.rcode.NOERROR, chain + c.answer)
            if c.kind is ResponseKind.NXDOMAIN:
                return Result(dns.rcode.NXDOMAIN, chain, self._neg_authority(c))
            if c.kind is ResponseKind.NODATA:
                return Result(dns.rcode.NOERROR, chain, self._neg_authority(c))
            # CNAME (or DNAME) leaving the zone: restart at the target (RFC 1034 §5.3.3 4c).
            qname = self._follow(c.target, seen, chain)

    def _follow(
        self, target: dns.name.Name, seen: set[dns.name.Name], chain: list[dns.rrset.RRset]
    ) -> dns.name.Name:
        links = sum(1 for r in chain if r.rdtype == dns.rdatatype.CNAME)
        if links > self.limits.max_cname_chain:
            raise BudgetExhausted("max_cname_chain", f"{links} links at {target}")
        if target in seen:
            raise ResolutionFailed(f"CNAME loop at {target}", EDE.INVALID_DATA)
        seen.add(target)
        return target

    @staticmethod
    def _neg_authority(c: Classified) -> list[dns.rrset.RRset]:
        if c.soa is None:
            return []
        # RFC 2308 §5: the SOA of a negative answer carries the negative TTL.
        ttl = min(c.soa.ttl, c.soa[0].minimum)
        return [dns.rrset.from_rdata_list(c.soa.name, ttl, list(c.soa))]

    def _iterate(
        self, qname: dns.name.Name, qtype: RdataType
    ) -> Generator[Action, Any, Classified]:
        """Walk down from the closest known cut until something other than a referral comes."""
        now = self.clock.now()
        deleg = self._forward_for(qname) or self.cache.closest_delegation(qname, now)
        if deleg is None:
            deleg = self._hints_copy()
        self._emit("start", qname, qtype, deleg.zone, detail=f"closest zone cut {deleg.zone}")
        visited = {deleg.zone}
        referrals = 0
        failed: set[str] = set()
        timeouts: dict[str, int] = {}
        # A forwarder resolves the full name itself; minimising towards it hides nothing.
        qmin = self.config.qname_minimisation and qtype != dns.rdatatype.DS and not deleg.forward
        # RFC 9156 §2.1 uses QTYPE A for minimised queries (it lies below any cut); RFC 7816
        # and Knot Resolver use NS, which some broken authorities answer better.
        qmin_type = dns.rdatatype.from_text(self.config.qname_minimisation_type)
        known = deleg.zone
        while True:
            target = yield from self._pick(deleg, failed)
            sent = minimise(qname, deleg.zone, known) if qmin else qname
            sent_type = qtype if sent == qname else qmin_type
            outcome = yield self._send(target, deleg.zone, sent, sent_type, deleg.forward)
            if isinstance(outcome, UpstreamError):
                self._on_error(target, deleg.zone, sent, sent_type, outcome)
                # A timeout may be a lost packet or a busy server: try it again (after the
                # others, with a doubled timeout) up to max_server_timeouts times, as Unbound's
                # outbound-msg-retry does. Any other failure would repeat itself.
                n = timeouts[target.address] = timeouts.get(target.address, 0) + 1
                if not isinstance(outcome, UpstreamTimeout) or n >= self.limits.max_server_timeouts:
                    failed.add(target.address)
                continue
            assert isinstance(outcome, Exchange)
            c = classify(outcome.response, sent, sent_type, deleg.zone, recursive=deleg.forward)
            self.selector.report_rtt(target.address, outcome.rtt)
            if c.kind in (ResponseKind.BROKEN, ResponseKind.LAME):
                rcode = outcome.response.rcode()
                fb = _FEEDBACK_FOR_RCODE.get(rcode, Feedback.LAME)
                self._emit(
                    "lame" if fb is Feedback.LAME else "error",
                    sent,
                    sent_type,
                    deleg.zone,
                    target,
                    outcome,
                    detail=c.reason,
                )
                if sent != qname:
                    qmin = False  # relaxed mode: retry the full name (Unbound, RFC 9156 §3)
                    continue
                if fb is Feedback.FORMERR and self.selector.use_edns(target.address):
                    # RFC 6891 §7: a server that rejects OPT gets the query again without it.
                    self.selector.report(target.address, fb, deleg.zone)
                    continue
                self.selector.report(target.address, fb, deleg.zone)
                failed.add(target.address)
                continue
            self.cache.store(c, self.clock.now())
            if c.kind is ResponseKind.REFERRAL:
                assert c.ns is not None
                new_zone = c.ns.name
                self._emit(
                    "referral",
                    sent,
                    sent_type,
                    deleg.zone,
                    target,
                    outcome,
                    detail=f"to {new_zone} ({_ns_list(c.ns)})",
                )
                referrals += 1
                if referrals > self.limits.max_referrals:
                    raise BudgetExhausted("max_referrals", f"at {new_zone}")
                if new_zone in visited:
                    raise ResolutionFailed(f"referral loop at {new_zone}", EDE.INVALID_DATA)
                visited.add(new_zone)
                deleg = Delegation.from_ns(new_zone, c.ns)
                for rrset in c.glue:
                    deleg.add_addresses(rrset.name, [rd.address for rd in rrset], Provenance.GLUE)
                self.cache.fill_addresses(deleg, self.clock.now())
                failed = set()
                timeouts = {}
                known = new_zone
                continue
            if sent != qname:
                if c.kind is ResponseKind.NXDOMAIN:
                    # Relaxed QNAME minimisation: some servers answer NXDOMAIN for empty
                    # non-terminals; confirm with the full name before believing it.
                    self._emit(
                        "nxdomain",
                        sent,
                        sent_type,
                        deleg.zone,
                        target,
                        outcome,
                        detail="for a minimised name; asking the full name",
                    )
                    qmin = False
                else:
                    # Data or NODATA at the minimised name: no zone cut there; one label more.
                    self._emit(
                        "no-cut",
                        sent,
                        sent_type,
                        deleg.zone,
                        target,
                        outcome,
                        detail=f"no zone cut at {sent}",
                    )
                    known = sent
                continue
            self._emit(
                c.kind.value, sent, sent_type, deleg.zone, target, outcome, detail=_describe(c)
            )
            return c

    def _pick(self, deleg: Delegation, failed: set[str]) -> Generator[Action, Any, Target]:
        """Choose a server of ``deleg`` not yet failed, resolving glueless NS names if needed."""
        while True:
            candidates = [
                Target(a, ns, deleg.ports.get(a))
                for a, ns in deleg.targets()
                if a not in failed and self._usable(a, ns, deleg)
            ]
            if candidates:
                return self.selector.choose(candidates, deleg.zone)
            # No address to try: look up a missing NS name, but only one outside the zone,
            # since an in-zone name without glue can only be found through this very cut.
            missing = [n for n in deleg.missing() if not in_bailiwick(n, deleg.zone)]
            if not missing:
                reasons = self.sub_failures[-2:]
                if self._skipped:
                    skipped = ", ".join(sorted(self._skipped))
                    reasons.append(f"{skipped} not queried: resolver.do_not_query_localhost")
                why = f" ({'; '.join(reasons)})" if reasons else ""
                raise NoReachableServers(f"no reachable server for {deleg.zone}{why}")
            if self.ns_lookups >= self.limits.max_ns_lookups:
                raise BudgetExhausted("max_ns_lookups", f"for {deleg.zone}")
            self.ns_lookups += 1
            ns = missing[0]
            deleg.servers[ns].lookup_tried = True
            self._emit("subquery", ns, dns.rdatatype.A, deleg.zone, detail=f"address of {ns}")
            addrs: list[str] = []
            for rdtype in self._address_types():
                sub = yield SubQuery(Question(ns, rdtype))
                addrs.extend(rd.address for r in sub.answer if r.rdtype == rdtype for rd in r)
                if sub.rcode != dns.rcode.NOERROR:
                    # Only NODATA for A makes AAAA worth asking; a failure would fail again.
                    self.sub_failures.extend(text for _code, text in sub.ede)
                    break
                if addrs:
                    break
            deleg.add_addresses(ns, addrs, Provenance.RESOLVED)

    def _address_types(self) -> tuple[RdataType, ...]:
        if self.config.ipv6:
            return (dns.rdatatype.A, dns.rdatatype.AAAA)
        return (dns.rdatatype.A,)

    def _usable(self, address: str, ns: dns.name.Name, deleg: Delegation) -> bool:
        if ":" in address and not self.config.ipv6:
            return False
        # Forward-zone addresses are the operator's explicit choice (e.g. a local dnsmasq).
        if self.config.do_not_query_localhost and not deleg.forward and is_localhost(address):
            if address not in self._skipped:
                self._skipped.add(address)
                self._emit(
                    "skipped",
                    ns,
                    dns.rdatatype.A,
                    deleg.zone,
                    Target(address, ns),
                    detail=f"{address} is this machine; resolver.do_not_query_localhost is on",
                )
                log_localhost_skip(address, ns, deleg.zone)
            return False
        if not self._allowed:
            return True
        ip = ipaddress.ip_address(address)
        return any(ip in n for n in self._allowed)

    def _send(
        self,
        target: Target,
        zone: dns.name.Name,
        qname: dns.name.Name,
        qtype: RdataType,
        forward: bool = False,
    ) -> Send:
        self.budget.spend_query()
        if self.config.use_0x20:
            qname = _randomise_case(qname, self._rng)
        edns = self.selector.use_edns(target.address)
        request = dns.message.make_query(
            qname,
            qtype,
            use_edns=0 if edns else False,
            payload=self.config.edns_payload,
            want_dnssec=self.config.dnssec_ok and edns,
        )
        if not forward:
            # Iterative queries carry RD=0 (RFC 1034 §5.3.1); a forwarder is asked to recurse.
            request.flags &= ~dns.flags.RD
        return Send(target, zone, request, self.selector.timeout_for(target.address))

    def _on_error(
        self,
        target: Target,
        zone: dns.name.Name,
        qname: dns.name.Name,
        qtype: RdataType,
        exc: UpstreamError,
    ) -> None:
        if isinstance(exc, UpstreamTimeout):
            fb = Feedback.TIMEOUT
        elif isinstance(exc, UpstreamMismatch):
            fb = Feedback.MISMATCH
        elif isinstance(exc, UpstreamMalformed):
            fb = Feedback.MALFORMED
        else:
            fb = Feedback.UNREACHABLE
        self.selector.report(target.address, fb, zone)
        self._emit(fb.value, qname, qtype, zone, target, None, detail=str(exc))

    def _forward_for(self, qname: dns.name.Name) -> Delegation | None:
        """A fresh copy of the deepest forward zone containing ``qname``, if any."""
        for zone, addresses in self._forwards:
            if qname.is_subdomain(zone):
                d = Delegation(zone=zone, forward=True)
                d.servers[zone] = NameServer(zone, [a for a, _ in addresses], Provenance.HINTS)
                d.ports = {a: p for a, p in addresses}
                return d
        return None

    def _hints_copy(self) -> Delegation:
        d = Delegation(zone=self.hints.zone, from_parent=True)
        for ns in self.hints.servers.values():
            d.servers[ns.name] = type(ns)(ns.name, list(ns.addresses), ns.provenance)
        return d

    # -- tracing ---------------------------------------------------------------------------

    def _emit(
        self,
        kind: str,
        qname: dns.name.Name,
        qtype: RdataType,
        zone: dns.name.Name | None = None,
        target: Target | None = None,
        exchange: Exchange | None = None,
        detail: str = "",
    ) -> None:
        ev = TraceEvent(
            depth=self.depth,
            kind=kind,
            qname=qname,
            qtype=qtype,
            zone=zone,
            server=target.ns_name if target else None,
            address=target.address if target else None,
            rtt=exchange.rtt if exchange else None,
            tcp=exchange.tcp if exchange else False,
            detail=detail,
        )
        if self._trace is not None:
            self._trace(ev)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s %s", kind, qname, dns.rdatatype.to_text(qtype), detail)

    @staticmethod
    def _describe_hit(complete: bool, nx: bool, answer: list[dns.rrset.RRset]) -> str:
        if not complete:
            return "CNAME chain from cache"
        if answer:
            return f"answer from cache ({len(answer[0])} record(s), TTL {answer[0].ttl})"
        return "NXDOMAIN from cache" if nx else "NODATA from cache"


def _ns_list(ns: dns.rrset.RRset) -> str:
    names = sorted(str(rd.target) for rd in ns)
    return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")


def _describe(c: Classified) -> str:
    if c.kind is ResponseKind.ANSWER:
        parts = [
            f"{r.name} {r.ttl} {dns.rdatatype.to_text(r.rdtype)} {' '.join(map(str, r))}"
            for r in c.answer
        ]
        return "; ".join(parts)[:200]
    if c.kind is ResponseKind.CNAME:
        return f"chain continues at {c.target}"
    if c.soa is not None:
        return f"SOA {c.soa.name}, negative TTL {min(c.soa.ttl, c.soa[0].minimum)}"
    return c.reason


def _randomise_case(name: dns.name.Name, rng: random.Random) -> dns.name.Name:
    labels = []
    for label in name.labels:
        flip = [97 <= (b | 0x20) <= 122 and rng.random() < 0.5 for b in label]
        labels.append(bytes(b ^ 0x20 if f else b for b, f in zip(label, flip, strict=True)))
    return dns.name.Name(labels)


@functools.lru_cache(maxsize=16)
def _allowed_networks(
    config: ResolverConfig,
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return config.allowed_networks()


@functools.lru_cache(maxsize=16)
def _forward_delegations(
    config: ResolverConfig,
) -> list[tuple[dns.name.Name, list[tuple[str, int]]]]:
    """Forward zones from the config, deepest first so the most specific one wins."""
    zones = [
        (
            dns.name.from_text(fz.name),
            [parse_forward_address(a, config.upstream_port) for a in fz.addresses],
        )
        for fz in config.forward_zones
    ]
    return sorted(zones, key=lambda z: len(z[0].labels), reverse=True)
