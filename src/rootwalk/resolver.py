"""The resolver facade: cache, coalescing, and the one place failures become rcodes.

``Resolver.resolve`` never raises ResolverError: a question that cannot be answered becomes
SERVFAIL with an Extended DNS Error (RFC 8914), or, when serve-stale allows, an expired answer
with EDE 3 (RFC 8767). Identical questions in flight share one resolution (guide §9).

Serve-stale follows RFC 8767 §5: a client waits at most ``cache.stale_client_timeout``
(1.8 s) for a resolution when the cache holds expired data for its question; then it gets that
data (TTL ``cache.stale_answer_ttl``, EDE 3) while the resolution goes on and refreshes the
cache. After a refresh failed, the question is answered stale at once, without asking the
authorities, for ``cache.stale_failure_recheck`` seconds (the failure recheck timer).

Distinct resolutions in progress are bounded by ``limits.max_resolutions`` with Unbound's
policy (num-queries-per-thread and jostle-timeout, mesh_make_new_space): when the table is
full, a new question pushes out the oldest resolution if that one has run longer than
``limits.jostle_timeout``, and is otherwise turned away. Both come back as ``Result.shed``.

Prefetch (``cache.prefetch``, Unbound's ``prefetch: yes``): a question answered from the cache
in the last tenth of its TTL gets its answer at once, and starts a refresh in the background
(``prefetch``), which asks the authorities even though the cache has the answer. One refresh
per question at a time, in a table of its own (a client asking meanwhile is answered from the
cache, never made to wait for it), started only while the resolutions in progress and the
refreshes together are fewer than ``limits.max_resolutions``. The front end's rendered-answer
fast path calls ``prefetch`` too (server/wirecache.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dns.name

from rootwalk.cache import Cache, CacheAnswer, CacheView, InfraCache
from rootwalk.clock import Clock, SystemClock
from rootwalk.config import Config
from rootwalk.dnssec.validator import Security, Validator
from rootwalk.errors import EDE, ResolverError
from rootwalk.hints import load_hints
from rootwalk.iterator import Iterator
from rootwalk.resolution import Question, Result, TraceEvent, TraceSink
from rootwalk.selection import ServerSelector
from rootwalk.transport import DnsTransport, Transport
from rootwalk.wire.names import from_dns

SERVFAIL, NXDOMAIN = 2, 3

__all__ = ["Resolver", "WalkRecorder"]

log = logging.getLogger("rootwalk.resolver")

# A question is its own key: name, type, class and the client's DO/CD bits, so that
# answers that will differ once validation exists are never shared.
_Key = Question

# Questions whose refresh failed, remembered for the failure recheck timer; beyond this many
# the oldest is forgotten (its next question tries the authorities again, which is safe).
_FAILED_MAX = 10_000


class WalkRecorder(Protocol):
    """Where walks go when they are recorded (server/walks.py ``WalkLog``): once per
    resolution that was not a pure cache hit, with its steps, so that a walk shared by
    coalesced clients is recorded once."""

    def record(
        self,
        question: Question,
        started: float,
        duration: float,
        events: Sequence[TraceEvent],
        result: Result,
        *,
        refresh: bool = False,
    ) -> None: ...


@dataclass(eq=False)
class _Flight:
    """One resolution in the table, shared by every client asking the same question."""

    task: asyncio.Task[Result]
    started: float  # monotonic
    jostled: str = ""  # why it was pushed out; empty while it may still answer


class Resolver:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        transport: Transport | None = None,
        cache: CacheView | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        # The data cache is a seam (CacheView): the in-process Cache unless one is given.
        self.cache: CacheView = (
            cache
            if cache is not None
            else Cache(config.cache, self.clock, bogus_ttl=config.dnssec.bogus_ttl)
        )
        # What is known of each server (RTT, timeouts, EDNS, lameness) is this resolver's own.
        self.infra = InfraCache(self.clock.monotonic)
        self.selector = ServerSelector(self.infra, self.clock, config.limits, rng)
        self.transport = transport or DnsTransport(config.resolver, self.clock)
        self.hints = load_hints(Path(config.resolver.root_hints))
        # DNSSEC validation (RFC 4035 §5), on unless [dnssec] enabled = false.
        self.validator = Validator(config.dnssec, self.clock) if config.dnssec.enabled else None
        self.iterator = Iterator(
            config,
            self.cache,
            self.selector,
            self.transport,
            self.hints,
            self.clock,
            rng,
            self.validator,
        )
        # Insertion order is start order, so the first entry is the oldest (the one to jostle).
        self._inflight: dict[_Key, _Flight] = {}
        self.resolutions_started = 0
        # Load shedding, for operators and tests: new questions turned away, resolutions pushed
        # out by newer questions, and the most resolutions ever in progress at once.
        self.shed_new = 0
        self.shed_jostled = 0
        self.peak_resolutions = 0
        # RFC 8767 failure recheck: question -> wall-clock time (the TTL clock) until which
        # its expired data is answered without a new resolution. Oldest first.
        self._failed: dict[_Key, float] = {}
        # Prefetches in progress, by question (never in ``_inflight``: nobody waits on them).
        self._prefetching: dict[_Key, asyncio.Task[None]] = {}
        self.prefetches = 0  # started
        self.prefetches_skipped = 0  # not started: no room under limits.max_resolutions
        # The walk log (server.record_walks): None records nothing and costs nothing.
        self.walks: WalkRecorder | None = None

    @property
    def resolutions_in_progress(self) -> int:
        """Distinct resolutions running now (the table ``limits.max_resolutions`` bounds)."""
        return len(self._inflight)

    def reconfigure(self, config: Config) -> None:
        """Apply new [resolver] and [limits] settings live and keep the cache (SIGHUP).

        [cache] settings size the cache itself and apply at the next restart. Raises
        ConfigError (unreadable root hints) before changing anything.
        """
        hints = load_hints(Path(config.resolver.root_hints))
        validator = Validator(config.dnssec, self.clock) if config.dnssec.enabled else None
        config = dataclasses.replace(config, cache=self.config.cache)
        if isinstance(self.transport, DnsTransport):
            self.transport = DnsTransport(config.resolver, self.clock)
        old = self.iterator
        self.config, self.hints = config, hints
        self.selector.limits = config.limits
        if (
            validator is not None
            and self.validator is not None
            and validator.anchors == self.validator.anchors
            and validator.negative_anchors == self.validator.negative_anchors
        ):
            validator = self.validator  # same anchors: keep the validated keys
        elif validator is not self.validator:
            # New anchors or validation switched: what was validated before may not hold.
            self.cache.flush_all()
        self.validator = validator
        if isinstance(self.cache, Cache):
            self.cache.bogus_ttl = config.dnssec.bogus_ttl  # applies to what is stored next
        self.iterator = Iterator(
            config, self.cache, self.selector, self.transport, hints, self.clock, old.rng, validator
        )
        # Questions already in flight finish on the old iterator; counters carry over.
        self.iterator.queries_sent, self.iterator.timeouts = old.queries_sent, old.timeouts

    async def resolve(
        self,
        name: bytes | dns.name.Name,
        rdtype: int,
        rdclass: int = 1,
        *,
        do: bool = False,
        cd: bool = False,
        trace: TraceSink | None = None,
    ) -> Result:
        """Resolve one question; ``name`` is a wire name (rootwalk.wire.names), or a dnspython
        name for callers outside the query path (the CLI, tests). ``do`` and ``cd`` are the
        client's DNSSEC bits (RFC 3225, RFC 4035 §3.2.2)."""
        if not isinstance(name, bytes):
            name = from_dns(name)
        rdtype = int(rdtype)
        question = Question(name, rdtype, rdclass, do, cd)
        if trace is not None:
            return await self._resolve(question, trace)  # traced walks are never shared
        key = question
        if self._failed:
            held = self._held(key, question)
            if held is not None:
                return held
        flight = self._inflight.get(key)
        if flight is None:
            # Joining a resolution in flight costs nothing, so only a new one needs room.
            refused = self._make_room(question)
            if refused is not None:
                return refused
            task = asyncio.get_running_loop().create_task(self._resolve(question, None))
            flight = _Flight(task, self.clock.monotonic())
            self._inflight[key] = flight
            self.peak_resolutions = max(self.peak_resolutions, len(self._inflight))
            # Only the creator's callback removes the key, when the task ends (hickory's
            # ActiveRequestCleanup): a waiter being cancelled must not drop shared work.
            task.add_done_callback(functools.partial(self._landed, key, flight))
        try:
            # Only a question with expired data to fall back on needs the client timer: the
            # rest just wait (asyncio.wait costs a timer and futures per question).
            if (
                not flight.task.done()
                and self.config.cache.serve_stale
                and self._has_expired(question)
            ):
                stale = await self._wait_or_stale(question, flight.task)
                if stale is not None:
                    return stale
            result = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            # shield() raises CancelledError both when this waiter is cancelled (shutdown, a
            # client gone) and when the shared task is; only the second, by a jostle, is an
            # answer. A waiter with a cancel request pending must see its cancellation.
            me = asyncio.current_task()
            pending = me.cancelling() if me is not None else 0
            if flight.jostled and flight.task.cancelled() and not pending:
                return _busy(flight.jostled)
            raise
        if result.from_cache and result.refresh_at <= self.clock.now():
            self.prefetch(name, rdtype, rdclass)
        return result

    def prefetch(self, name: bytes, rdtype: int, rdclass: int = 1) -> bool:
        """Refresh a cached answer in the background (cache.prefetch); whether one started.

        Never delays anyone: the caller has its answer from the cache already."""
        if not self.config.cache.prefetch:
            return False
        key = Question(name, rdtype, rdclass)
        if key in self._prefetching:
            return False  # one refresh per question at a time
        if len(self._inflight) + len(self._prefetching) >= self.config.limits.max_resolutions:
            self.prefetches_skipped += 1  # clients first: the cache still has the answer
            return False
        task = asyncio.get_running_loop().create_task(self._refresh(key))
        self._prefetching[key] = task
        self.prefetches += 1
        task.add_done_callback(functools.partial(self._prefetched, key))
        return True

    def _prefetched(self, key: _Key, _task: asyncio.Task[None]) -> None:
        self._prefetching.pop(key, None)

    async def _refresh(self, question: Question) -> None:
        self.resolutions_started += 1
        walks = self.walks
        events: list[TraceEvent] = []
        began, t0 = self.clock.now(), self.clock.monotonic()
        try:
            result = await self.iterator.resolve(
                question, events.append if walks is not None else None, refresh=True
            )
        except ResolverError as exc:
            # The cached answer stays until it expires (and then serve-stale may use it).
            log.info("prefetch of %s failed: %s", question, exc.reason)
            result = Result(SERVFAIL, ede=[(int(exc.ede), exc.reason)])
        if walks is not None:
            walks.record(question, began, self.clock.monotonic() - t0, events, result, refresh=True)

    def prefetching(self) -> list[asyncio.Task[None]]:
        """The prefetches in progress (tests wait for them; shutdown cancels them)."""
        return list(self._prefetching.values())

    async def _wait_or_stale(self, question: Question, task: asyncio.Task[Result]) -> Result | None:
        """RFC 8767 §5: wait for ``task`` up to the client response timer; then expired data
        for ``question`` if the cache has some (the task goes on), else None: wait on."""
        wait = self.config.cache.stale_client_timeout
        if wait > 0:
            # asyncio.wait never cancels the task: the resolution outlives this client's wait,
            # and other clients (and the cache) still get its result.
            done, _ = await asyncio.wait((task,), timeout=wait)
            if done:
                return None
        why = (
            f"serving stale data: no answer from the authorities within {wait:g} s"
            if wait > 0
            else "serving stale data while it is refreshed"
        )
        return self._stale(question, why, expired_only=True)

    def _held(self, key: _Key, question: Question) -> Result | None:
        """Expired data, at once, while the question's failure recheck timer runs (RFC 8767)."""
        until = self._failed.get(key)
        if until is None:
            return None
        if self.clock.now() >= until:
            del self._failed[key]
            return None
        return self._stale(
            question, "serving stale data: the last refresh failed", expired_only=True
        )

    def _failed_refresh(self, question: Question) -> None:
        hold = self.config.cache.stale_failure_recheck
        if hold <= 0:
            return
        key = question
        self._failed.pop(key, None)  # re-inserted last: the dict stays oldest first
        if len(self._failed) >= _FAILED_MAX:
            del self._failed[next(iter(self._failed))]
        self._failed[key] = self.clock.now() + hold

    def _landed(self, key: _Key, flight: _Flight, _task: asyncio.Task[Result]) -> None:
        # A jostled flight has left the table already, and a newer resolution of the same
        # question may hold its key now.
        if self._inflight.get(key) is flight:
            del self._inflight[key]

    def _make_room(self, question: Question) -> Result | None:
        """Admit a new resolution (None), or say why not: a cache answer or a shed SERVFAIL."""
        limits = self.config.limits  # read per call: reconfigure() applies new limits live
        if len(self._inflight) < limits.max_resolutions:
            return None
        # Unbound answers from the cache before a query takes a slot; here a cache hit runs
        # as a (short) resolution, so look first only when there is no room for one.
        cached = self._answer_from_cache(question)
        if cached is not None:
            return cached
        now = self.clock.monotonic()
        # Unbound mesh_make_new_space: a query that has taken longer than jostle-timeout
        # (about one round trip) is likely to fail anyway, and under a flood the newcomer is
        # more likely to be a real client. More than one goes only after limits were lowered.
        while self._inflight and len(self._inflight) >= limits.max_resolutions:
            key, oldest = next(iter(self._inflight.items()))
            age = now - oldest.started
            if age <= limits.jostle_timeout:
                break
            del self._inflight[key]
            oldest.jostled = (
                f"resolver busy: pushed out by newer questions after {age:.3f} s "
                f"(limits.jostle_timeout {limits.jostle_timeout:g} s)"
            )
            # False when it finished just now and only its done-callback is pending: its
            # waiters get the answer, and nothing was shed.
            if oldest.task.cancel():
                self.shed_jostled += 1
                log.debug("jostled %s after %.3f s", key, age)
        if len(self._inflight) < limits.max_resolutions:
            return None
        # Unbound drops what it has no room for: the client retries later, when the work in
        # progress may have drained, instead of caching a SERVFAIL.
        self.shed_new += 1
        log.debug("shed %s: %d resolutions in progress", question, len(self._inflight))
        return _busy(
            f"resolver busy: {len(self._inflight)} resolutions in progress "
            f"(limits.max_resolutions {limits.max_resolutions})"
        )

    async def _resolve(self, question: Question, trace: TraceSink | None) -> Result:
        walks = self.walks
        if walks is None:
            return await self._walk(question, trace)
        # The walk log sees every step of the shared walk: a resolver-level sink, so that
        # recording never turns coalescing off (only a caller's own trace does).
        events: list[TraceEvent] = []
        if trace is None:
            sink: TraceSink = events.append
        else:
            outer = trace

            def sink(ev: TraceEvent) -> None:
                events.append(ev)
                outer(ev)

        began, t0 = self.clock.now(), self.clock.monotonic()
        result = await self._walk(question, sink)
        if not result.from_cache:  # a pure cache hit took no walk
            walks.record(question, began, self.clock.monotonic() - t0, events, result)
        return result

    async def _walk(self, question: Question, trace: TraceSink | None) -> Result:
        self.resolutions_started += 1
        try:
            result = await self.iterator.resolve(question, trace)
        except ResolverError as exc:
            stale = self._stale(question, "serving stale data: authorities unreachable")
            if stale is not None:
                log.info("serving stale %s after: %s", question, exc.reason)
                self._failed_refresh(question)
                return stale
            log.info("SERVFAIL %s: %s", question, exc.reason)
            return Result(SERVFAIL, ede=[(int(exc.ede), exc.reason)])
        if self._failed:
            self._failed.pop(question, None)
        return result

    def _lookup(self, question: Question, *, stale: bool) -> CacheAnswer | None:
        hit = self.cache.lookup(
            question.name,
            question.rdtype,
            self.clock.now(),
            stale=stale,
            max_chain=self.config.limits.max_cname_chain,
            dnssec=question.do,
        )
        if hit is None or not hit.complete:
            return None
        if hit.security is Security.BOGUS and not question.cd:
            return None  # never an answer without CD (RFC 4035 §5.5); a resolution says why
        return hit

    def _has_expired(self, question: Question) -> bool:
        hit = self._lookup(question, stale=True)
        return hit is not None and hit.stale

    def _answer_from_cache(self, question: Question) -> Result | None:
        """What Resolution.run answers from the cache without sending anything, or None."""
        hit = self._lookup(question, stale=False)
        if hit is None:
            return None
        return Result(*hit.sections(), from_cache=True, security=self._security(hit))

    def _stale(self, question: Question, why: str, *, expired_only: bool = False) -> Result | None:
        """RFC 8767 §4: expired data for ``question`` (EDE 3, or 19 for an NXDOMAIN), or None.

        ``expired_only``: None when what the cache holds is fresh after all (refreshed by
        another question meanwhile); the resolution then answers it as a normal cache hit.
        """
        if not self.config.cache.serve_stale:
            return None
        hit = self._lookup(question, stale=True)
        if hit is None or (expired_only and not hit.stale):
            return None
        rcode, answer, auth = hit.sections()
        code = EDE.STALE_NXDOMAIN if rcode == NXDOMAIN else EDE.STALE_ANSWER
        security = self._security(hit)
        return Result(rcode, answer, auth, ede=[(int(code), why)], stale=True, security=security)

    def _security(self, hit: CacheAnswer) -> Security:
        return hit.security if self.validator is not None else Security.INSECURE

    def pending(self) -> list[asyncio.Task[Result]]:
        """The resolutions in progress (a stale answer may have left one running)."""
        return [flight.task for flight in self._inflight.values()]


def _busy(reason: str) -> Result:
    # RFC 8914 has no code for an overloaded resolver; the front end sends nothing anyway.
    return Result(SERVFAIL, ede=[(int(EDE.OTHER), reason)], shed=True)
