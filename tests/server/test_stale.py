"""Serve-stale timing (RFC 8767 §4, §5) over real sockets: a server in process, so the test can
move the TTL clock instead of sleeping, and the lab's authoritative servers gone silent.

What must hold: during an outage a client gets the expired answer (TTL 30, EDE 3) once the
client response timer (``cache.stale_client_timeout``, 1.8 s) has run, well before dig's 5 s
timeout; the resolution goes on behind it and refreshes the cache when an authority answers;
after a failed refresh the expired answer comes at once and the authorities are left alone for
``cache.stale_failure_recheck`` seconds; after that, fresh data again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import dns.asyncquery
import dns.edns
import dns.message
import dns.rcode
import pytest

from rootwalk.clock import ShiftedClock
from rootwalk.config import CacheConfig, Limits, ServerConfig
from rootwalk.lab import Faults, Lab
from rootwalk.resolver import Resolver
from rootwalk.server.app import Server, bind_one

from ..engine.conftest import make_config
from .conftest import ask, run_cli, start_server

EXAMPLE_COM = ("ns1.example.com", "ns2.example.com")
SHORT = "short.example.com"  # TTL 2 in the lab's example.com zone
SHORT_ADDRESS = "192.0.2.102"


@dataclasses.dataclass
class Running:
    server: Server
    resolver: Resolver
    clock: ShiftedClock
    where: tuple[str, int]

    async def ask(self, name: str) -> tuple[dns.message.Message, float]:
        """The answer over UDP (with EDNS, so EDE can come back) and how long it took."""
        q = dns.message.make_query(name, "A", use_edns=0)
        start = time.monotonic()
        r = await dns.asyncquery.udp(q, self.where[0], port=self.where[1], timeout=5)
        return r, time.monotonic() - start

    async def settle(self) -> None:
        """Wait for the resolutions a stale answer left running."""
        await asyncio.gather(*self.resolver.pending(), return_exceptions=True)


@pytest.fixture(scope="module")
def lab() -> AsyncIterator[Lab]:
    with Lab() as running:
        yield running  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _clean_lab(lab: Lab) -> AsyncIterator[None]:
    lab.clear_faults()
    lab.reset_counters()
    yield  # type: ignore[misc]
    lab.clear_faults()


async def start(lab: Lab, **cache: object) -> Running:
    # Default limits (6 s per question, as a real deployment), not the engine tests' short
    # ones: with these, a walk against silent servers takes well over the 1.8 s timer.
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


def upstream(lab: Lab) -> int:
    return sum(lab.server(k).count(SHORT, "A") for k in EXAMPLE_COM)


def ede_codes(m: dns.message.Message) -> list[int]:
    return [int(o.code) for o in m.options if isinstance(o, dns.edns.EDEOption)]


def assert_stale(m: dns.message.Message) -> None:
    assert m.rcode() == dns.rcode.NOERROR
    assert [rd.address for rd in m.answer[0]] == [SHORT_ADDRESS]
    assert m.answer[0].ttl == 30  # RFC 8767 §4
    assert ede_codes(m) == [3]  # Stale Answer (RFC 8914)


def assert_fresh(m: dns.message.Message) -> None:
    assert m.rcode() == dns.rcode.NOERROR
    assert [rd.address for rd in m.answer[0]] == [SHORT_ADDRESS]
    assert m.answer[0].ttl <= 2 and ede_codes(m) == []


async def expire_and_silence(lab: Lab, r: Running) -> None:
    first, _ = await r.ask(SHORT)
    assert_fresh(first)
    r.clock.advance(10)  # TTL 2 has passed; well inside max_stale
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(silent=True)


async def test_outage_stale_after_client_timer_then_at_once_until_recheck(
    lab: Lab, running: Running
) -> None:
    await expire_and_silence(lab, running)
    m, took = await running.ask(SHORT)
    assert_stale(m)
    # The client response timer (1.8 s) ran, and no longer: dig gives up at 5 s, and the
    # walk against silent servers would have taken until its failure (> 2.8 s).
    assert 1.7 <= took < 2.5, took
    assert len(running.resolver.pending()) == 1  # the refresh goes on without the client
    await running.settle()  # ... and fails: every server is still silent
    asked = upstream(lab)
    assert asked >= 2
    # Failure recheck (RFC 8767 §4/§5): stale at once, the authorities not asked again.
    m, took = await running.ask(SHORT)
    assert_stale(m)
    assert took < 0.5 and upstream(lab) == asked and not running.resolver.pending()
    lab.clear_faults()  # the servers are back, but the recheck timer (30 s) still runs
    running.clock.advance(29)
    m, took = await running.ask(SHORT)
    assert_stale(m)
    assert took < 0.5 and upstream(lab) == asked
    running.clock.advance(2)  # past the recheck timer: fresh data from the authorities
    m, _ = await running.ask(SHORT)
    assert_fresh(m)
    assert upstream(lab) == asked + 1


async def test_resolution_goes_on_after_a_stale_answer_and_refreshes_the_cache(
    lab: Lab, running: Running
) -> None:
    await expire_and_silence(lab, running)
    m, took = await running.ask(SHORT)
    assert_stale(m)
    assert took < 2.5
    # The servers come back while the walk still retries (its tries last > 2.8 s in all).
    lab.clear_faults()
    (task,) = running.resolver.pending()
    result = await task
    assert result.rcode == dns.rcode.NOERROR and not result.stale and not result.ede
    asked = upstream(lab)
    # The refreshed data is in the cache: answered fresh, without asking anyone.
    m, took = await running.ask(SHORT)
    assert_fresh(m)
    assert upstream(lab) == asked and took < 0.5


async def test_client_timeout_zero_answers_stale_at_once_and_refreshes_behind(
    lab: Lab,
) -> None:
    r = await start(lab, stale_client_timeout=0.0)
    try:
        first, _ = await r.ask(SHORT)
        assert_fresh(first)
        r.clock.advance(10)
        asked = upstream(lab)
        # The servers are healthy, yet the expired data is answered without waiting for them.
        m, _ = await r.ask(SHORT)
        assert_stale(m)
        await r.settle()
        assert upstream(lab) == asked + 1  # refreshed behind the answer
        m, _ = await r.ask(SHORT)
        assert_fresh(m)
    finally:
        await r.server.shutdown()


def test_stale_keys_from_a_config_file(lab: Lab, tmp_path: Path) -> None:
    extra = "\n[cache]\nstale_client_timeout = 0.5\nstale_failure_recheck = 10\n"
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    try:
        assert ask(proc.addresses[0], "www.example.com").answer
    finally:
        assert proc.stop() == 0
    for key, value in (("stale_client_timeout", "-1"), ("stale_failure_recheck", "1e9")):
        bad = tmp_path / f"{key}.toml"
        bad.write_text(f"[cache]\n{key} = {value}\n")
        p = run_cli(["check-config", str(bad)])
        assert p.returncode == 2
        assert p.stderr.strip().splitlines() == [
            f"rootwalk: {bad}: 'cache.{key}' must be 0..86400 seconds"
        ]
