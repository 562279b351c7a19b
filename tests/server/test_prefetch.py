"""Prefetch (``cache.prefetch``, Unbound ``prefetch: yes``) over real sockets: a server in
process on a movable TTL clock (as test_stale.py), the lab's counters telling what went
upstream.

What must hold: a question in the last 10 % of its answer's TTL is answered from the cache at
once, with the remaining TTL (never 0, never the latency of a miss), and starts one refresh in
the background; the refreshed answer then outlives the original expiry without the client
ever meeting a miss. It works when the hit comes from the rendered-answer fast path. With
``cache.prefetch = false`` nothing is refreshed early.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import dns.asyncquery
import dns.message
import pytest

from rootwalk.clock import ShiftedClock
from rootwalk.config import CacheConfig, Limits, ServerConfig
from rootwalk.lab import Faults, Lab
from rootwalk.resolver import Resolver
from rootwalk.server.app import Server, bind_one

from ..engine.conftest import make_config
from .conftest import ask, run_cli, start_server

EXAMPLE_COM = ("ns1.example.com", "ns2.example.com")
NAME = "www.example.com"  # TTL 300 in the lab: prefetch window is its last 30 s


@dataclasses.dataclass
class Running:
    server: Server
    resolver: Resolver
    clock: ShiftedClock
    where: tuple[str, int]

    async def ask(self, name: str = NAME) -> tuple[dns.message.Message, float]:
        q = dns.message.make_query(name, "A")
        start = time.monotonic()
        r = await dns.asyncquery.udp(q, self.where[0], port=self.where[1], timeout=5)
        return r, time.monotonic() - start

    def fast(self) -> int:
        return self.server.handler.counters()["answers_fast"]

    async def settle(self) -> None:
        await asyncio.gather(*self.resolver.prefetching(), return_exceptions=True)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_lab(lab: Lab) -> Iterator[None]:
    lab.clear_faults()
    lab.reset_counters()
    yield
    lab.clear_faults()


async def start(lab: Lab, **cache: object) -> Running:
    config = dataclasses.replace(
        make_config(lab),
        limits=Limits(),
        cache=dataclasses.replace(CacheConfig(), **cache),  # type: ignore[arg-type]
        server=ServerConfig(listen=("127.0.0.1:0",)),
    )
    clock = ShiftedClock()
    resolver = Resolver(config, clock=clock)
    listener = bind_one("127.0.0.1", 0)
    srv = Server(config, [listener], resolver=resolver, announce=False)
    await srv.start()
    return Running(srv, resolver, clock, listener.udp.getsockname()[:2])


@pytest.fixture
async def running(lab: Lab) -> AsyncIterator[Running]:
    r = await start(lab)
    yield r
    await r.server.shutdown()


def near(ttl: int, expected: int) -> bool:
    """``expected`` seconds, or one less: real time passes too, and TTLs are whole seconds."""
    return expected - 1 <= ttl <= expected


def upstream(lab: Lab, name: str = NAME) -> int:
    return sum(lab.server(k).count(name, "A") for k in EXAMPLE_COM)


async def warm(r: Running, lab: Lab) -> None:
    """Asked three times: a miss, a hit rendered for the fast path, a fast-path hit."""
    for _ in range(3):
        m, _ = await r.ask()
        assert near(m.answer[0].ttl, 300)
    assert upstream(lab) == 1 and r.fast() == 1


async def test_hit_in_the_last_tenth_from_the_fast_path_refreshes_in_the_background(
    lab: Lab, running: Running
) -> None:
    await warm(running, lab)
    # The refresh takes 0.15 s (under the 0.2 s minimum timeout): the client must not wait.
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(delay=0.15)
    running.clock.advance(275)  # 25 s left of 300: inside the last 30 s
    m, took = await running.ask()
    assert near(m.answer[0].ttl, 25) and took < 0.1
    assert running.fast() == 2  # answered by the fast path, which started the refresh
    assert running.resolver.prefetches == 1 and len(running.resolver.prefetching()) == 1
    m, took = await running.ask()  # while it runs: still the cache, and no second refresh
    assert near(m.answer[0].ttl, 25) and took < 0.1 and running.resolver.prefetches == 1
    await running.settle()
    assert upstream(lab) == 2  # the lab saw the refresh
    lab.clear_faults()
    m, _ = await running.ask()
    assert near(m.answer[0].ttl, 300)  # the refreshed data, from the cache
    running.clock.advance(100)  # past the original expiry (375 s after it was first stored)
    m, _ = await running.ask()
    assert near(m.answer[0].ttl, 200) and upstream(lab) == 2  # never a miss


async def test_hit_in_the_last_tenth_without_fast_path_refreshes_too(lab: Lab) -> None:
    r = await start(lab, wire_answers=0)
    try:
        for _ in range(2):
            m, _ = await r.ask()
            assert near(m.answer[0].ttl, 300)
        assert upstream(lab) == 1 and r.fast() == 0
        r.clock.advance(280)
        m, _ = await r.ask()
        assert near(m.answer[0].ttl, 20) and r.resolver.prefetches == 1
        await r.settle()
        assert upstream(lab) == 2
        m, _ = await r.ask()
        assert near(m.answer[0].ttl, 300) and upstream(lab) == 2
    finally:
        await r.server.shutdown()


async def test_no_prefetch_before_the_last_tenth_nor_when_off(lab: Lab) -> None:
    r = await start(lab)
    try:
        await warm(r, lab)
        r.clock.advance(269)  # 31 s left: not yet
        m, _ = await r.ask()
        assert near(m.answer[0].ttl, 31) and r.resolver.prefetches == 0
    finally:
        await r.server.shutdown()
    lab.reset_counters()
    r = await start(lab, prefetch=False)
    try:
        await warm(r, lab)
        r.clock.advance(275)
        m, _ = await r.ask()
        assert near(m.answer[0].ttl, 25) and r.fast() == 2
        assert r.resolver.prefetches == 0 and not r.resolver.prefetching()
        assert upstream(lab) == 1
        r.clock.advance(30)  # expired: now a miss
        m, _ = await r.ask()
        assert near(m.answer[0].ttl, 300) and upstream(lab) == 2
    finally:
        await r.server.shutdown()


def test_prefetch_key_from_a_config_file(lab: Lab, tmp_path: Path) -> None:
    proc = start_server(lab, tmp_path, "\n[cache]\nprefetch = false\n", listen=["127.0.0.1:0"])
    try:
        assert ask(proc.addresses[0], NAME).answer
    finally:
        assert proc.stop() == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[cache]\nprefetch = "yes"\n')
    for args in (["check-config", str(bad)], ["serve", "--config", str(bad)]):
        p = run_cli(args)
        assert p.returncode == 2 and "'cache.prefetch' must be bool" in p.stderr, p
