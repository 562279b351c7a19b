"""The sans-I/O resolution core: every iteration decision, no sockets, no event loop (guide §1).

``Resolution.run()`` is a generator. It yields what to do next, ``Send`` (a query to one
server) or ``SubQuery`` (resolve a glueless NS name first), and is sent back what happened: an
``Exchange`` or an ``UpstreamError`` for a Send, a ``Result`` for a SubQuery. It returns the
final ``Result``. ``rootwalk.iterator`` drives it over the network; unit tests drive it by hand.

The algorithm is RFC 1034 §5.3.3: look in the cache; find the closest known zone cut; ask its
best server; on a referral move the cut down; on a CNAME restart at the target; on an answer or
a negative answer stop. QNAME minimisation (RFC 9156) sends only one more label than the cut
needs, in Unbound's relaxed form: any failure of a minimised query falls back to the full name.

Each response goes through three named steps: ``classify`` (what kind of response it is),
``_validate`` (the DNSSEC step, rootwalk.dnssec.validator: it may issue its own DS and DNSKEY
sub-queries), then the cache and one small handler per kind (``_on_referral``,
``_on_minimised_step``, ``_on_final``, ``_on_failure``), which share one ``Attempt``.

Everything here works on the compact wire form (rootwalk.wire): names are lower-cased wire
bytes and RRsets hold rdata bytes; dnspython appears only in presentation.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import logging
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any

from rootwalk.cache import CacheView, address_text
from rootwalk.cache.negative import negative_ttl
from rootwalk.classify import Classified, ResponseKind, classify
from rootwalk.clock import Clock
from rootwalk.config import Limits, ResolverConfig
from rootwalk.delegation import Delegation, NameServer, Provenance
from rootwalk.dnssec.validator import (
    KeyQuestion,
    Outcome,
    Security,
    Synthesised,
    Validator,
    worst,
)
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
from rootwalk.transport import Exchange, OutQuery
from rootwalk.wire.message import AAAA, CNAME, DS, RRSIG, SOA, A, RRset
from rootwalk.wire.names import ROOT, parent, randomise_case, to_text
from rootwalk.wire.render import build_query

__all__ = [
    "Budget",
    "Question",
    "Resolution",
    "Result",
    "Send",
    "SubQuery",
    "TraceEvent",
    "TraceKind",
]

log = logging.getLogger("rootwalk.trace")
_warn = logging.getLogger("rootwalk.resolution")
# Addresses already logged as skipped by do_not_query_localhost: one line per address per
# process, however many questions lead there (bounded: cleared when it grows too big).
_LOGGED_SKIPS: set[str] = set()

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, REFUSED = 0, 1, 2, 3, 5
_QTYPE_A = A


def type_text(rdtype: int) -> str:
    import dns.rdatatype  # presentation only

    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


def log_localhost_skip(address: str, ns: bytes, zone: bytes) -> None:
    if address in _LOGGED_SKIPS:
        return
    if len(_LOGGED_SKIPS) >= 1024:
        _LOGGED_SKIPS.clear()
    _LOGGED_SKIPS.add(address)
    _warn.warning(
        "not querying %s (%s, a server of %s): it is this machine, and "
        "resolver.do_not_query_localhost is on",
        address,
        to_text(ns),
        to_text(zone),
    )


@dataclass(frozen=True, slots=True)
class Question:
    """What is asked: a lower-cased wire name, a type, a class, and the client's DNSSEC bits
    (DO asks for signatures, CD for no validation), which coalescing and caching keep apart."""

    name: bytes
    rdtype: int
    rdclass: int = 1
    do: bool = False
    cd: bool = False

    def __str__(self) -> str:
        return f"{to_text(self.name)} {type_text(self.rdtype)}"


@dataclass
class Result:
    """What a client should be told. NXDOMAIN and NODATA are results, not errors."""

    rcode: int
    answer: list[RRset] = field(default_factory=list)
    authority: list[RRset] = field(default_factory=list)
    ede: list[tuple[int, str]] = field(default_factory=list)
    from_cache: bool = False
    stale: bool = False
    # Not answered because of load shedding (limits.max_resolutions): the front end sends
    # nothing, as Unbound drops queries it has no room for, so the client retries later
    # instead of caching a SERVFAIL.
    shed: bool = False
    # For an answer from the cache: when (wall clock) it enters the last tenth of its TTL and
    # a question for it should start a prefetch (cache.prefetch).
    refresh_at: float = float("inf")
    # What DNSSEC validation found (RFC 4035 §4.3): the least secure of every RRset in the
    # answer and authority sections. Only SECURE earns the AD bit (RFC 6840 §5.8).
    security: Security = Security.INSECURE


@dataclass(frozen=True, slots=True)
class Send:
    target: Target
    zone: bytes
    query: OutQuery
    timeout: float


@dataclass(frozen=True, slots=True)
class SubQuery:
    question: Question


Action = Send | SubQuery


class TraceKind(enum.StrEnum):
    """The steps a walk is made of (trace lines, the demo, debug logs)."""

    START = "start"
    CACHE = "cache"
    SUBQUERY = "subquery"
    SKIPPED = "skipped"
    REFERRAL = "referral"
    NO_CUT = "no-cut"
    ANSWER = "answer"
    CNAME = "cname"
    NODATA = "nodata"
    NXDOMAIN = "nxdomain"
    LAME = "lame"
    ERROR = "error"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    MISMATCH = "mismatch"
    MALFORMED = "malformed"
    DNSSEC = "dnssec"


_KIND_OF_RESPONSE = {
    ResponseKind.ANSWER: TraceKind.ANSWER,
    ResponseKind.CNAME: TraceKind.CNAME,
    ResponseKind.NODATA: TraceKind.NODATA,
    ResponseKind.NXDOMAIN: TraceKind.NXDOMAIN,
}
_KIND_OF_FEEDBACK = {
    Feedback.TIMEOUT: TraceKind.TIMEOUT,
    Feedback.UNREACHABLE: TraceKind.UNREACHABLE,
    Feedback.MISMATCH: TraceKind.MISMATCH,
    Feedback.MALFORMED: TraceKind.MALFORMED,
}


@dataclass(frozen=True)
class TraceEvent:
    """One step of a walk, for ``rootwalk query --trace``, the demo and debug logs."""

    depth: int
    kind: TraceKind
    qname: bytes
    qtype: int
    zone: bytes | None = None
    server: bytes | None = None
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
    REFUSED: Feedback.REFUSED,
    SERVFAIL: Feedback.SERVFAIL,
    FORMERR: Feedback.FORMERR,
}


@dataclass
class Attempt:
    """The state of walking down from one zone cut towards ``qname`` (one ``_iterate``)."""

    qname: bytes
    qtype: int
    deleg: Delegation
    qmin: bool  # QNAME minimisation still on (relaxed mode turns it off on trouble)
    known: bytes  # deepest name asked of this cut's servers without finding a cut below
    visited: set[bytes] = field(default_factory=set)
    referrals: int = 0
    failed: set[str] = field(default_factory=set)
    timeouts: dict[str, int] = field(default_factory=dict)

    def new_cut(self, deleg: Delegation) -> None:
        self.deleg = deleg
        self.known = deleg.zone
        self.failed = set()
        self.timeouts = {}


class Resolution:
    """One question (a client's, or a glueless NS name's) resolved by iteration.

    Shares the cache, the server selector and the budget with every other resolution of the
    same client question; holds no I/O. See the module docstring for the protocol.
    """

    def __init__(
        self,
        question: Question,
        *,
        config: ResolverConfig,
        limits: Limits,
        cache: CacheView,
        selector: ServerSelector,
        hints: Delegation,
        clock: Clock,
        budget: Budget,
        depth: int = 0,
        trace: TraceSink | None = None,
        rng: random.Random | None = None,
        refresh: bool = False,
        validator: Validator | None = None,
    ) -> None:
        self.question = question
        # A prefetch: ask the authorities even though the cache has the answer (Unbound's
        # prefetch skips the cache lookup the same way).
        self.refresh = refresh
        self.config = config
        self.limits = limits
        self.cache = cache
        self.selector = selector
        self.hints = hints
        self.clock = clock
        self.budget = budget
        self.depth = depth
        self._trace = trace
        self._tracing = trace is not None or log.isEnabledFor(logging.DEBUG)
        self._rng = rng or random.Random()
        self._allowed = config.networks
        self._forwards = config.forwards
        self._qmin_type = 2 if config.qname_minimisation_type == "NS" else _QTYPE_A
        self.ns_lookups = 0
        # Why glueless NS lookups failed, for the EDE text when no server is left.
        self.sub_failures: list[str] = []
        # Server addresses left out by resolver.do_not_query_localhost (told once each).
        self._skipped: set[str] = set()
        # DNSSEC: the validator (None: validation off), and what it found for the responses
        # this resolution's result is made of.
        self.validator = validator
        self._do = config.dnssec_ok or validator is not None
        self.security = Security.SECURE
        self._bogus: tuple[int, str] | None = None
        self._insecure_ede: tuple[int, str] | None = None
        # RFC 4035 §5.3.3: how long each validated RRset of the answer may live (its RRSIG's
        # original TTL and expiration); the cache applies the same caps when it stores them.
        self._ttl_caps: dict[tuple[bytes, int], int] = {}

    # -- the walk --------------------------------------------------------------------------

    def run(self) -> Generator[Action, Any, Result]:
        q = self.question
        qname, qtype = q.name, q.rdtype
        chain: list[RRset] = []
        seen = {qname}
        cached_only = True
        do = q.do
        while True:
            now = self.clock.now()
            hit = (
                None
                if self.refresh
                else self.cache.lookup(
                    qname, qtype, now, max_chain=self.limits.max_cname_chain, dnssec=do
                )
            )
            if hit is not None:
                if self._tracing:
                    detail = self._describe_hit(hit.complete, hit.nxdomain, hit.answer)
                    if self.validator is not None:
                        detail += f"; DNSSEC {hit.security.value}"
                    self._emit(TraceKind.CACHE, qname, qtype, detail=detail)
                self._judge(hit.security, hit.why)
                if hit.complete:
                    rcode, answer, auth = hit.sections()
                    refresh_at = hit.refresh_at if cached_only else float("inf")
                    return self._result(
                        Result(
                            rcode,
                            chain + answer,
                            auth,
                            from_cache=cached_only,
                            refresh_at=refresh_at,
                        )
                    )
                chain.extend(hit.chain)
                qname = self._follow(hit.target, seen, chain)
            # A forward zone is answered by its servers, whatever the public tree's NSEC
            # records say of the name (an internal "lan" does not exist at the root).
            if self.validator is not None and not self.refresh and not self._forward_for(qname):
                syn = self.validator.synthesise(qname, qtype)
                if syn is not None:
                    return self._synthesised(syn, qname, qtype, chain, cached_only)
            cached_only = False
            c = yield from self._iterate(qname, qtype)
            chain.extend(c.with_sigs(c.chain) if do else c.chain)
            if c.kind is ResponseKind.ANSWER:
                answer = c.with_sigs(c.answer) if do else c.answer
                # RFC 4035 §3.1.3.3 (for a recursive server, §3.2.1): a wildcard answer goes
                # with the NSEC/NSEC3 proving that no closer name exists; without it a
                # validating client cannot accept the expansion.
                proof = c.with_sigs(c.proof) if do and c.proof else []
                return self._result(Result(NOERROR, chain + answer, proof))
            if c.kind is ResponseKind.NXDOMAIN:
                return self._result(Result(NXDOMAIN, chain, self._neg_authority(c)))
            if c.kind is ResponseKind.NODATA:
                return self._result(Result(NOERROR, chain, self._neg_authority(c)))
            # CNAME (or DNAME) leaving the zone: restart at the target (RFC 1034 §5.3.3 4c).
            qname = self._follow(c.target, seen, chain)

    def _synthesised(
        self,
        syn: Synthesised,
        qname: bytes,
        qtype: int,
        chain: list[RRset],
        cached_only: bool,
    ) -> Result:
        """A negative answer the validator made from cached NSEC/NSEC3 records (RFC 8198)."""
        if self._tracing:
            what = "NXDOMAIN" if syn.rcode == NXDOMAIN else "NODATA"
            self._emit(
                TraceKind.CACHE,
                qname,
                qtype,
                syn.zone,
                detail=f"{what} from cached NSEC records of {to_text(syn.zone)} "
                f"(RFC 8198): {syn.reason}",
            )
        authority = [syn.soa]
        if self.question.do:
            authority.extend(syn.proof)
        self._judge(Security.SECURE, None)
        return self._result(Result(syn.rcode, chain, authority, from_cache=cached_only))

    def _judge(self, security: Security, why: tuple[int, str] | None) -> None:
        if security is Security.BOGUS and self._bogus is None:
            self._bogus = why or (int(EDE.DNSSEC_BOGUS), "bogus")
        self.security = worst(self.security, security)

    def _result(self, result: Result) -> Result:
        """The final result with its DNSSEC status: bogus data fails the question unless the
        client set CD (RFC 4035 §3.2.2: it validates for itself)."""
        if self.validator is None:
            return result
        result.security = self.security
        if self.security is Security.BOGUS and not self.question.cd:
            code, text = self._bogus or (int(EDE.DNSSEC_BOGUS), "bogus")
            raise ResolutionFailed(text, EDE(code))
        if self._insecure_ede is not None and self.security is Security.INSECURE:
            result.ede.append(self._insecure_ede)
        if self._ttl_caps:
            result.answer = [self._capped(r) for r in result.answer]
            result.authority = [self._capped(r) for r in result.authority]
        return result

    def _capped(self, rrset: RRset) -> RRset:
        """``rrset`` (or the RRSIGs over one) with its TTL cut to its validated lifetime."""
        cap = self._ttl_caps.get(
            (rrset.owner, rrset.covers if rrset.rtype == RRSIG else rrset.rtype)
        )
        return rrset if cap is None or rrset.ttl <= cap else replace(rrset, ttl=cap)

    def _follow(self, target: bytes, seen: set[bytes], chain: list[RRset]) -> bytes:
        links = sum(1 for r in chain if r.rtype == CNAME)
        if links > self.limits.max_cname_chain:
            raise BudgetExhausted("max_cname_chain", f"{links} links at {to_text(target)}")
        if target in seen:
            raise ResolutionFailed(f"CNAME loop at {to_text(target)}", EDE.INVALID_DATA)
        seen.add(target)
        return target

    def _neg_authority(self, c: Classified) -> list[RRset]:
        soa = c.soa
        if soa is None:
            return []
        # RFC 2308 §5: the SOA of a negative answer carries the negative TTL.
        out = [RRset(soa.owner, SOA, soa.rclass, negative_ttl(soa), soa.rdatas)]
        if self.question.do:
            # RFC 4035 §3.1.3: the proof of a negative answer goes with it.
            out = c.with_sigs(out + c.proof)
        return out

    def _iterate(self, qname: bytes, qtype: int) -> Generator[Action, Any, Classified]:
        """Walk down from the closest known cut until something other than a referral comes."""
        now = self.clock.now()
        # DS lives at the parent side of a zone cut (RFC 4035 §3.1.4.1): its question goes to
        # the servers of the zone above the name, never to the child's own servers (which
        # would answer NODATA from their SOA), however much of the child the cache knows.
        cut_of = parent(qname) if qtype == DS and qname != ROOT else qname
        # So is the DS of a forward zone's apex: it is asked where the parent is, not of the
        # forwarder (often an internal server that only knows the zone itself).
        deleg = self._forward_for(cut_of) or self.cache.closest_delegation(cut_of, now)
        if deleg is None:
            deleg = self._hints_copy()
        if self._tracing:
            self._emit(
                TraceKind.START,
                qname,
                qtype,
                deleg.zone,
                detail=f"closest zone cut {to_text(deleg.zone)}",
            )
        # The public tree's NXDOMAIN for a forward zone's apex (an internal "lan", asked for its
        # DS) must not be cached: as an NXDOMAIN cut (RFC 8020) it would hide the whole zone.
        forward_apex = qtype == DS and not deleg.forward and self._forward_for(qname) is not None
        # A forwarder resolves the full name itself; minimising towards it hides nothing.
        qmin = self.config.qname_minimisation and qtype != DS and not deleg.forward
        at = Attempt(qname, qtype, deleg, qmin, deleg.zone, {deleg.zone})
        while True:
            deleg = at.deleg
            sent = minimise(qname, deleg.zone, at.known) if at.qmin else qname
            # RFC 9156 §2.1 uses QTYPE A for minimised queries (it lies below any cut); RFC 7816
            # and Knot Resolver use NS, which some broken authorities answer better.
            sent_type = qtype if sent == qname else self._qmin_type
            if sent != qname and self._no_cut_cached(sent, sent_type):
                # This step was taken before (an empty non-terminal such as wild.example.com,
                # asked on the way to every name below it): its answer is cached, so there is
                # no cut there; one label more without asking (Unbound does the same).
                at.known = sent
                continue
            target = yield from self._pick(deleg, at.failed)
            ex = yield self._send(target, deleg.zone, sent, sent_type, deleg.forward)
            if isinstance(ex, UpstreamError):
                self._on_error(at, target, sent, sent_type, ex)
                continue
            assert isinstance(ex, Exchange)
            c = classify(ex.response, sent, sent_type, deleg.zone, recursive=deleg.forward)
            self.selector.report_rtt(target.address, ex.rtt)
            if c.kind in (ResponseKind.BROKEN, ResponseKind.LAME):
                self._on_failure(at, target, ex, c, minimised=sent != qname)
                continue
            outcome = yield from self._validate(c, deleg.zone, sent, sent_type)
            if not (c.kind is ResponseKind.NXDOMAIN and forward_apex):
                self.cache.store(c, self.clock.now(), outcome)
            if c.kind is ResponseKind.REFERRAL:
                self._on_referral(at, target, ex, c)
            elif sent != qname:
                self._on_minimised_step(at, target, ex, c)
            else:
                if self._tracing:
                    kind = _KIND_OF_RESPONSE[c.kind]
                    self._emit(kind, sent, sent_type, deleg.zone, target, ex, _describe(c))
                if outcome is not None:
                    self._judge(outcome.status, outcome.why)
                    if outcome.status is Security.INSECURE and outcome.ede is not None:
                        self._insecure_ede = (int(outcome.ede), outcome.reason)
                    self._ttl_caps.update(outcome.ttls)
                return c

    def _no_cut_cached(self, name: bytes, rdtype: int) -> bool:
        """Whether the cache holds data or NODATA for a minimised step's question, as left by
        the same step of an earlier walk (a cut there would have been a cached delegation)."""
        hit = self.cache.lookup(name, rdtype, self.clock.now())
        return hit is not None and hit.complete and not hit.nxdomain and not hit.chain

    # -- one handler per kind of response -----------------------------------------------------

    def _validate(
        self, c: Classified, zone: bytes, qname: bytes, qtype: int
    ) -> Generator[Action, Any, Outcome | None]:
        """The DNSSEC validation step between classification and the cache (RFC 4035 §5):
        the validator's questions for DS and DNSKEY sets become sub-questions (with DO, so
        their RRSIGs come back), and each validates its own answer the same way."""
        if self.validator is None:
            return None
        note = None
        if self._tracing:

            def note(text: str) -> None:
                self._emit(TraceKind.DNSSEC, qname, qtype, zone, detail=text)

        steps = self.validator.check(c, zone, note)
        try:
            need: KeyQuestion = next(steps)
            while True:
                sub = yield SubQuery(Question(need.name, need.rdtype, do=True))
                need = steps.send(sub)
        except StopIteration as stop:
            outcome: Outcome = stop.value
        if self._tracing and c.kind is not ResponseKind.REFERRAL:
            self._emit(
                TraceKind.DNSSEC,
                qname,
                qtype,
                zone,
                detail=f"{outcome.status.value}: {outcome.reason}",
            )
        return outcome

    def _on_referral(self, at: Attempt, target: Target, ex: Exchange, c: Classified) -> None:
        assert c.ns is not None
        new_zone = c.ns.owner
        if self._tracing:
            self._emit(
                TraceKind.REFERRAL,
                c.qname,
                c.qtype,
                at.deleg.zone,
                target,
                ex,
                f"to {to_text(new_zone)} ({_ns_list(c.ns)})",
            )
        at.referrals += 1
        if at.referrals > self.limits.max_referrals:
            raise BudgetExhausted("max_referrals", f"at {to_text(new_zone)}")
        if new_zone in at.visited:
            raise ResolutionFailed(f"referral loop at {to_text(new_zone)}", EDE.INVALID_DATA)
        at.visited.add(new_zone)
        deleg = Delegation.from_ns(new_zone, c.ns)
        for rrset in c.glue:
            deleg.add_addresses(
                rrset.owner, [address_text(rd) for rd in rrset.rdatas], Provenance.GLUE
            )
        self.cache.fill_addresses(deleg, self.clock.now())
        at.new_cut(deleg)

    def _on_minimised_step(self, at: Attempt, target: Target, ex: Exchange, c: Classified) -> None:
        if c.kind is ResponseKind.NXDOMAIN:
            # Relaxed QNAME minimisation: some servers answer NXDOMAIN for empty non-terminals;
            # confirm with the full name before believing it.
            if self._tracing:
                self._emit(
                    TraceKind.NXDOMAIN,
                    c.qname,
                    c.qtype,
                    at.deleg.zone,
                    target,
                    ex,
                    "for a minimised name; asking the full name",
                )
            at.qmin = False
        else:
            # Data or NODATA at the minimised name: no zone cut there; one label more.
            if self._tracing:
                self._emit(
                    TraceKind.NO_CUT,
                    c.qname,
                    c.qtype,
                    at.deleg.zone,
                    target,
                    ex,
                    f"no zone cut at {to_text(c.qname)}",
                )
            at.known = c.qname

    def _on_failure(
        self, at: Attempt, target: Target, ex: Exchange, c: Classified, *, minimised: bool
    ) -> None:
        """A lame or broken response: this server cannot help with this question."""
        fb = _FEEDBACK_FOR_RCODE.get(ex.response.rcode, Feedback.LAME)
        if self._tracing:
            kind = TraceKind.LAME if fb is Feedback.LAME else TraceKind.ERROR
            self._emit(kind, c.qname, c.qtype, at.deleg.zone, target, ex, c.reason)
        if minimised:
            at.qmin = False  # relaxed mode: retry the full name (Unbound, RFC 9156 §3)
            return
        if fb is Feedback.FORMERR and self.selector.use_edns(target.address):
            # RFC 6891 §7: a server that rejects OPT gets the query again without it.
            self.selector.report(target.address, fb, at.deleg.zone)
            return
        self.selector.report(target.address, fb, at.deleg.zone)
        at.failed.add(target.address)

    def _on_error(
        self, at: Attempt, target: Target, qname: bytes, qtype: int, exc: UpstreamError
    ) -> None:
        """No usable reply: a timeout, an unreachable server, or a malformed/mismatched one."""
        if isinstance(exc, UpstreamTimeout):
            fb = Feedback.TIMEOUT
        elif isinstance(exc, UpstreamMismatch):
            fb = Feedback.MISMATCH
        elif isinstance(exc, UpstreamMalformed):
            fb = Feedback.MALFORMED
        else:
            fb = Feedback.UNREACHABLE
        self.selector.report(target.address, fb, at.deleg.zone)
        if self._tracing:
            self._emit(_KIND_OF_FEEDBACK[fb], qname, qtype, at.deleg.zone, target, None, str(exc))
        # A timeout may be a lost packet or a busy server: try it again (after the others,
        # with a doubled timeout) up to max_server_timeouts times, as Unbound's
        # outbound-msg-retry does. Any other failure would repeat itself.
        n = at.timeouts[target.address] = at.timeouts.get(target.address, 0) + 1
        if fb is not Feedback.TIMEOUT or n >= self.limits.max_server_timeouts:
            at.failed.add(target.address)

    # -- servers ---------------------------------------------------------------------------

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
                raise NoReachableServers(f"no reachable server for {to_text(deleg.zone)}{why}")
            if self.ns_lookups >= self.limits.max_ns_lookups:
                raise BudgetExhausted("max_ns_lookups", f"for {to_text(deleg.zone)}")
            self.ns_lookups += 1
            ns = missing[0]
            deleg.servers[ns].lookup_tried = True
            if self._tracing:
                self._emit(
                    TraceKind.SUBQUERY, ns, A, deleg.zone, detail=f"address of {to_text(ns)}"
                )
            addrs: list[str] = []
            for rdtype in self._address_types():
                sub = yield SubQuery(Question(ns, rdtype))
                addrs.extend(
                    address_text(rd) for r in sub.answer if r.rtype == rdtype for rd in r.rdatas
                )
                if sub.rcode != NOERROR:
                    # Only NODATA for A makes AAAA worth asking; a failure would fail again.
                    self.sub_failures.extend(text for _code, text in sub.ede)
                    break
                if addrs:
                    break
            deleg.add_addresses(ns, addrs, Provenance.RESOLVED)

    def _address_types(self) -> tuple[int, ...]:
        return (A, AAAA) if self.config.ipv6 else (A,)

    def _usable(self, address: str, ns: bytes, deleg: Delegation) -> bool:
        if ":" in address and not self.config.ipv6:
            return False
        # Forward-zone addresses are the operator's explicit choice (e.g. a local dnsmasq).
        if self.config.do_not_query_localhost and not deleg.forward and _is_local(address):
            if address not in self._skipped:
                self._skipped.add(address)
                if self._tracing:
                    self._emit(
                        TraceKind.SKIPPED,
                        ns,
                        A,
                        deleg.zone,
                        Target(address, ns),
                        detail=f"{address} is this machine; resolver.do_not_query_localhost is on",
                    )
                log_localhost_skip(address, ns, deleg.zone)
            return False
        return not self._allowed or _allowed(address, self.config)

    def _send(
        self, target: Target, zone: bytes, qname: bytes, qtype: int, forward: bool = False
    ) -> Send:
        self.budget.spend_query()
        rng = self._rng
        if self.config.use_0x20:
            qname = randomise_case(qname, rng)
        edns = self.selector.use_edns(target.address)
        wire = build_query(
            rng.getrandbits(16),
            qname,
            qtype,
            # Iterative queries carry RD=0 (RFC 1034 §5.3.1); a forwarder is asked to recurse.
            rd=forward,
            edns_payload=self.config.edns_payload if edns else 0,
            do=self._do and edns,
        )
        query = OutQuery(wire, qname, qtype)
        return Send(target, zone, query, self.selector.timeout_for(target.address))

    def _forward_for(self, qname: bytes) -> Delegation | None:
        """A fresh copy of the deepest forward zone containing ``qname``, if any."""
        for zone, addresses in self._forwards:
            if in_bailiwick(qname, zone):
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
        kind: TraceKind,
        qname: bytes,
        qtype: int,
        zone: bytes | None = None,
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
            log.debug("%s %s %s %s", kind, to_text(qname), type_text(qtype), detail)

    @staticmethod
    def _describe_hit(complete: bool, nx: bool, answer: list[RRset]) -> str:
        if not complete:
            return "CNAME chain from cache"
        if answer:
            return f"answer from cache ({len(answer[0].rdatas)} record(s), TTL {answer[0].ttl})"
        return "NXDOMAIN from cache" if nx else "NODATA from cache"


def _ns_list(ns: RRset) -> str:
    names = sorted(to_text(t) for t in ns.rdatas)
    return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")


def _describe(c: Classified) -> str:
    from rootwalk.wire.convert import rrset_lines  # presentation only

    if c.kind is ResponseKind.ANSWER:
        # A trace line shows at most 200 characters: render only the records that can show
        # (presentation goes through dnspython, and a DNSKEY or TXT set is long).
        lines: list[str] = []
        size = 0
        for r in c.answer:
            for line in rrset_lines(replace(r, rdatas=r.rdatas[:3])):
                lines.append(line)
                size += len(line) + 2
                if size >= 200:
                    return "; ".join(lines)[:200]
        return "; ".join(lines)[:200] or c.reason
    if c.kind is ResponseKind.CNAME:
        return f"chain continues at {to_text(c.target)}"
    if c.soa is not None:
        return f"SOA {to_text(c.soa.owner)}, negative TTL {negative_ttl(c.soa)}"
    return c.reason


# Address checks repeat for every server of every question: parse each address once.
_is_local = functools.lru_cache(maxsize=4096)(is_localhost)


@functools.lru_cache(maxsize=4096)
def _allowed(address: str, config: ResolverConfig) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in n for n in config.networks)
