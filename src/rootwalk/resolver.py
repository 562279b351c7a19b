"""The resolver facade: cache, coalescing, and the one place failures become rcodes.

``Resolver.resolve`` never raises ResolverError: a question that cannot be answered becomes
SERVFAIL with an Extended DNS Error (RFC 8914), or, when serve-stale allows, an expired answer
with EDE 3 (RFC 8767). Identical questions in flight share one resolution (guide §9).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from pathlib import Path

import dns.name
import dns.rcode
import dns.rdataclass
from dns.rdatatype import RdataType

from rootwalk.cache import Cache
from rootwalk.clock import Clock, SystemClock
from rootwalk.config import Config
from rootwalk.errors import EDE, ResolverError
from rootwalk.hints import load_hints
from rootwalk.iterator import Iterator
from rootwalk.resolution import Question, Result, TraceSink
from rootwalk.selection import ServerSelector
from rootwalk.transport import DnsTransport, Transport

__all__ = ["Resolver"]

log = logging.getLogger("rootwalk.resolver")

_Key = tuple[dns.name.Name, int, int]


class Resolver:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        transport: Transport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.cache = Cache(config.cache, self.clock)
        self.selector = ServerSelector(self.cache.infra, self.clock, config.limits, rng)
        self.transport = transport or DnsTransport(config.resolver, self.clock)
        self.hints = load_hints(Path(config.resolver.root_hints))
        self.iterator = Iterator(
            config, self.cache, self.selector, self.transport, self.hints, self.clock, rng
        )
        self._inflight: dict[_Key, asyncio.Task[Result]] = {}
        self.resolutions_started = 0

    def reconfigure(self, config: Config) -> None:
        """Apply new [resolver] and [limits] settings live and keep the cache (SIGHUP).

        [cache] settings size the cache itself and apply at the next restart. Raises
        ConfigError (unreadable root hints) before changing anything.
        """
        hints = load_hints(Path(config.resolver.root_hints))
        config = dataclasses.replace(config, cache=self.config.cache)
        if isinstance(self.transport, DnsTransport):
            self.transport = DnsTransport(config.resolver, self.clock)
        old = self.iterator
        self.config, self.hints = config, hints
        self.selector.limits = config.limits
        self.iterator = Iterator(
            config, self.cache, self.selector, self.transport, hints, self.clock, old.rng
        )
        # Questions already in flight finish on the old iterator; counters carry over.
        self.iterator.queries_sent, self.iterator.timeouts = old.queries_sent, old.timeouts

    async def resolve(
        self,
        name: dns.name.Name,
        rdtype: RdataType,
        rdclass: int = dns.rdataclass.IN,
        *,
        trace: TraceSink | None = None,
    ) -> Result:
        question = Question(name, rdtype, rdclass)
        if trace is not None:
            return await self._resolve(question, trace)  # traced walks are never shared
        key = (name, rdtype, rdclass)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._resolve(question, None))
            self._inflight[key] = task
            # Only the creator's callback removes the key, when the task ends (hickory's
            # ActiveRequestCleanup): a waiter being cancelled must not drop shared work.
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _resolve(self, question: Question, trace: TraceSink | None) -> Result:
        self.resolutions_started += 1
        try:
            return await self.iterator.resolve(question, trace)
        except ResolverError as exc:
            stale = self._stale(question)
            if stale is not None:
                log.info("serving stale %s after: %s", question, exc.reason)
                return stale
            log.info("SERVFAIL %s: %s", question, exc.reason)
            return Result(dns.rcode.SERVFAIL, ede=[(int(exc.ede), exc.reason)])

    def _stale(self, question: Question) -> Result | None:
        """RFC 8767 §4: answer expired data when the authorities cannot be reached."""
        if not self.config.cache.serve_stale:
            return None
        hit = self.cache.lookup(
            question.name,
            question.rdtype,
            self.clock.now(),
            stale=True,
            max_chain=self.config.limits.max_cname_chain,
        )
        if hit is None or not hit.complete:
            return None
        if hit.answer:
            ede = (int(EDE.STALE_ANSWER), "serving stale data: authorities unreachable")
            return Result(dns.rcode.NOERROR, hit.chain + hit.answer, ede=[ede], stale=True)
        rcode = dns.rcode.NXDOMAIN if hit.nxdomain else dns.rcode.NOERROR
        code = EDE.STALE_NXDOMAIN if hit.nxdomain else EDE.STALE_ANSWER
        auth = [hit.soa] if hit.soa is not None else []
        return Result(rcode, hit.chain, auth, ede=[(int(code), "serving stale data")], stale=True)
