"""The async driver for the sans-I/O core: performs the I/O that ``Resolution`` asks for.

It runs sub-resolutions (glueless NS addresses) inline, in the same task, under the depth
limit and with a stack check that cuts dependency cycles (``loop1.test`` needs
``ns.loop2.test`` needs ``loop1.test``...). Sub-resolutions are deliberately not coalesced with
other clients' work: waiting on another task that may itself wait on us could deadlock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from dataclasses import dataclass

from rootwalk.cache import CacheView
from rootwalk.clock import Clock
from rootwalk.config import Config, Limits
from rootwalk.delegation import Delegation
from rootwalk.dnssec.validator import Validator
from rootwalk.errors import EDE, ResolutionFailed, ResolverError, UpstreamError, UpstreamTimeout
from rootwalk.resolution import (
    Budget,
    Question,
    Resolution,
    Result,
    Send,
    SubQuery,
    TraceSink,
)
from rootwalk.selection import ServerSelector
from rootwalk.transport import Exchange, Transport
from rootwalk.wire.message import DNSKEY, DS, NS
from rootwalk.wire.names import ROOT

__all__ = ["Iterator"]

log = logging.getLogger("rootwalk.iterator")

# Seconds of a client's question that priming may take at most (RFC 8109 priming is an
# optimisation; the hints are enough to start the walk).
PRIME_TIMEOUT = 1.0
_KEY_TYPES = (DS, DNSKEY)
# Extra sub-question depth for DS/DNSKEY questions: a chain of trust as deep as this many zones.
_KEY_DEPTH = 12


@dataclass(frozen=True)
class _Walk:
    """What one client question's resolution and all its sub-resolutions share."""

    budget: Budget
    deadline: float  # monotonic
    trace: TraceSink | None


class Iterator:
    def __init__(
        self,
        config: Config,
        cache: CacheView,
        selector: ServerSelector,
        transport: Transport,
        hints: Delegation,
        clock: Clock,
        rng: random.Random | None = None,
        validator: Validator | None = None,
    ) -> None:
        self.config = config
        self.validator = validator
        self.cache = cache
        self.selector = selector
        self.transport = transport
        self.hints = hints
        self.clock = clock
        self.rng = rng or random.Random()
        # Counters for operators and tests: upstream queries sent and how many timed out.
        self.queries_sent = 0
        self._priming = asyncio.Lock()
        self.timeouts = 0

    async def resolve(
        self, question: Question, trace: TraceSink | None = None, *, refresh: bool = False
    ) -> Result:
        """Resolve one client question within the total time budget, or raise ResolverError.

        ``refresh`` (a prefetch): the question itself is asked upstream even when cached."""
        limits = self.config.limits
        # The budget is enforced where time is spent: every upstream try waits at most until
        # the deadline, and none starts after it (_send), so no timer per question is needed.
        walk = _Walk(Budget(limits), self.clock.monotonic() + limits.total_timeout, trace)
        await self._prime(walk)
        return await self._run((question,), walk, refresh=refresh)

    async def _prime(self, walk: _Walk) -> None:
        """RFC 8109: learn the current root NS set from a root server before relying on the
        hints, and again whenever it has expired.

        Priming is an optimisation: the hints work as they are. So it gets its own budget
        (its queries are not the client's), one try per root server, and at most
        ``PRIME_TIMEOUT`` seconds of the client's time; on any failure (SERVFAIL, silence,
        a lame or broken reply) the question goes on from the hint addresses.
        """
        if self.cache.lookup(ROOT, NS, self.clock.now()) is not None:
            return
        async with self._priming:
            if self.cache.lookup(ROOT, NS, self.clock.now()) is not None:
                return
            left = walk.deadline - self.clock.monotonic()
            limits = dataclasses.replace(self.config.limits, max_server_timeouts=1)
            budget = min(PRIME_TIMEOUT, left / 2)
            prime = _Walk(Budget(limits), self.clock.monotonic() + budget, walk.trace)
            try:
                async with asyncio.timeout(budget):
                    await self._run((Question(ROOT, NS),), prime, limits)
            except (ResolverError, TimeoutError) as exc:
                why = exc.reason if isinstance(exc, ResolverError) else "no answer in time"
                log.info("priming failed (%s): going on with the root hints", why)

    async def _run(
        self,
        stack: tuple[Question, ...],
        walk: _Walk,
        limits: Limits | None = None,
        *,
        refresh: bool = False,
    ) -> Result:
        """Resolve ``stack[-1]``; the stack holds the questions that are waiting on it."""
        res = Resolution(
            stack[-1],
            config=self.config.resolver,
            limits=limits or self.config.limits,
            cache=self.cache,
            selector=self.selector,
            hints=self.hints,
            clock=self.clock,
            budget=walk.budget,
            depth=len(stack) - 1,
            trace=walk.trace,
            rng=self.rng,
            refresh=refresh,
            validator=self.validator,
        )
        steps = res.run()
        outcome: object = None
        try:
            action = next(steps)
            while True:
                if isinstance(action, Send):
                    outcome = await self._send(action, walk.deadline)
                elif isinstance(action, SubQuery):
                    outcome = await self._sub(action.question, stack, walk)
                action = steps.send(outcome)
        except StopIteration as stop:
            result: Result = stop.value
            return result

    async def _send(self, send: Send, deadline: float) -> Exchange | UpstreamError:
        left = deadline - self.clock.monotonic()
        if left <= 0:
            raise ResolutionFailed(
                f"no answer within {self.config.limits.total_timeout:g} s",
                EDE.NO_REACHABLE_AUTHORITY,
            )
        self.queries_sent += 1
        try:
            return await self.transport.exchange(
                send.query,
                send.target.address,
                send.target.port or self.config.resolver.upstream_port,
                min(send.timeout, left),
            )
        except UpstreamError as exc:
            if isinstance(exc, UpstreamTimeout):
                self.timeouts += 1
            return exc

    async def _sub(self, question: Question, stack: tuple[Question, ...], walk: _Walk) -> Result:
        failure = Result(2)  # SERVFAIL
        # A name already being resolved further up this chain is a dependency cycle:
        # loop1.test needs ns.loop2.test, which needs ns.loop1.test, ... For the validator's
        # DS and DNSKEY questions only the same type is a cycle: a zone's DNSKEY set rightly
        # needs its DS set, which the parent answers.
        keys = question.rdtype in _KEY_TYPES
        if any(
            q.name == question.name
            and (q.rdtype == question.rdtype or not (keys or q.rdtype in _KEY_TYPES))
            for q in stack
        ):
            failure.ede.append((EDE.INVALID_DATA, f"delegation loop through {question}"))
            return failure
        # The chain of trust adds one level per zone above the name (validator.py): those
        # questions get room of their own beyond the glueless-NS depth limit.
        depth = self.config.limits.max_subquery_depth + (_KEY_DEPTH if keys else 0)
        if len(stack) > depth:
            failure.ede.append((EDE.OTHER, "max_subquery_depth reached"))
            return failure
        try:
            return await self._run((*stack, question), walk)
        except ResolverError as exc:
            failure.ede.append((exc.ede, exc.reason))
            return failure
