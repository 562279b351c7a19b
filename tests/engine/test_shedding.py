"""Load shedding on the cold path: limits.max_resolutions and limits.jostle_timeout.

Unbound's num-queries-per-thread and jostle-timeout: a full table turns new questions away,
unless the oldest resolution has run longer than jostle_timeout, which is then pushed out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.cache import address_text
from rootwalk.clock import Clock, FakeClock
from rootwalk.config import Config
from rootwalk.lab import Faults, Lab
from rootwalk.resolution import Result
from rootwalk.resolver import Resolver
from rootwalk.wire.names import from_text

from .conftest import make_config

A, AAAA = dns.rdatatype.A, dns.rdatatype.AAAA
DELAY = 0.5  # added by the slow servers; every per-try timeout is above it


def n(text: str) -> bytes:
    return from_text(text)


def addresses(result: Result) -> list[str]:
    return [address_text(rd) for r in result.answer if r.rtype in (A, AAAA) for rd in r.rdatas]


def config(lab: Lab, max_resolutions: int, jostle_timeout: float = 5.0) -> Config:
    base = make_config(lab)
    limits = dataclasses.replace(
        base.limits,
        max_resolutions=max_resolutions,
        jostle_timeout=jostle_timeout,
        # Above DELAY, so that the slow servers answer rather than time out.
        initial_timeout=1.0,
        max_timeout=1.0,
    )
    return dataclasses.replace(base, limits=limits)


def make_resolver(
    lab: Lab, max_resolutions: int, jostle_timeout: float = 5.0, clock: Clock | None = None
) -> Resolver:
    return Resolver(config(lab, max_resolutions, jostle_timeout), clock=clock)


def slow(lab: Lab, zone: str) -> None:
    for srv in lab.servers_for(zone):
        srv.faults = Faults(delay=DELAY)


async def timed(resolver: Resolver, name: str, t0: float) -> tuple[Result, float]:
    result = await resolver.resolve(n(name), A)
    return result, time.monotonic() - t0


def assert_shed(result: Result) -> None:
    assert result.shed and result.rcode == dns.rcode.SERVFAIL
    assert result.ede and "resolver busy" in result.ede[0][1]


async def test_full_table_sheds_new_questions_at_once(lab: Lab) -> None:
    resolver = make_resolver(lab, max_resolutions=3)
    slow(lab, "example.com")
    t0 = time.monotonic()
    outcomes = await asyncio.gather(
        *(timed(resolver, f"h{i}.wild.example.com", t0) for i in range(10))
    )
    admitted = [(r, t) for r, t in outcomes if not r.shed]
    shed = [(r, t) for r, t in outcomes if r.shed]
    assert len(admitted) == 3 and len(shed) == 7
    for r, t in admitted:
        assert addresses(r) == ["192.0.2.99"] and t >= DELAY
    for r, t in shed:
        assert_shed(r)
        assert t < DELAY / 2  # turned away without waiting for any upstream
    assert resolver.peak_resolutions == 3
    assert resolver.shed_new == 7 and resolver.shed_jostled == 0
    assert resolver.resolutions_started == 3
    assert resolver.resolutions_in_progress == 0


async def test_old_resolution_is_jostled_out_by_a_new_question(lab: Lab) -> None:
    clock = FakeClock()
    resolver = make_resolver(lab, max_resolutions=1, jostle_timeout=0.2, clock=clock)
    slow(lab, "example.com")
    old = asyncio.create_task(resolver.resolve(n("h0.wild.example.com"), A))
    await asyncio.sleep(0)  # one step: the old question takes the only slot
    assert resolver.resolutions_in_progress == 1
    # Younger than jostle_timeout: the newcomer is the one turned away.
    early = await resolver.resolve(n("www.example.org"), A)
    assert_shed(early)
    assert resolver.shed_new == 1 and not old.done()
    clock.advance(0.3)
    new = await resolver.resolve(n("www.example.org"), A)
    assert not new.shed and addresses(new) == ["192.0.2.50"]
    pushed = await old
    assert_shed(pushed)
    assert "pushed out" in pushed.ede[0][1]
    assert resolver.shed_jostled == 1 and resolver.shed_new == 1
    assert resolver.resolutions_in_progress == 0


async def test_coalesced_waiters_are_admitted_when_the_table_is_full(lab: Lab) -> None:
    resolver = make_resolver(lab, max_resolutions=1)
    slow(lab, "example.com")
    same = [resolver.resolve(n("www.example.com"), A) for _ in range(5)]
    other = resolver.resolve(n("mail.example.com"), A)
    *answers, refused = await asyncio.gather(*same, other)
    for r in answers:
        assert not r.shed and addresses(r) == ["192.0.2.1"]
    assert_shed(refused)
    assert resolver.resolutions_started == 1 and resolver.peak_resolutions == 1


async def test_cache_answers_are_not_shed_when_the_table_is_full(lab: Lab) -> None:
    resolver = make_resolver(lab, max_resolutions=1)
    warm = await resolver.resolve(n("www.example.com"), A)
    assert addresses(warm) == ["192.0.2.1"]
    slow(lab, "example.com")
    busy = asyncio.create_task(resolver.resolve(n("h1.wild.example.com"), A))
    await asyncio.sleep(0)
    assert resolver.resolutions_in_progress == 1
    hit = await resolver.resolve(n("www.example.com"), A)
    assert hit.from_cache and not hit.shed and addresses(hit) == ["192.0.2.1"]
    cold = await resolver.resolve(n("h2.wild.example.com"), A)
    assert_shed(cold)
    assert addresses(await busy) == ["192.0.2.99"]
    assert resolver.shed_new == 1


async def test_a_cancelled_waiter_still_sees_cancellation(lab: Lab) -> None:
    # Shutdown cancels waiters: that must stay a CancelledError, never become a shed answer,
    # and must not stop the resolution other clients share.
    resolver = make_resolver(lab, max_resolutions=1)
    slow(lab, "example.com")
    gone = asyncio.create_task(resolver.resolve(n("www.example.com"), A))
    stays = asyncio.create_task(resolver.resolve(n("www.example.com"), A))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert addresses(await stays) == ["192.0.2.1"]


async def test_a_jostled_waiter_cancelled_itself_sees_cancellation(lab: Lab) -> None:
    clock = FakeClock()
    resolver = make_resolver(lab, max_resolutions=1, jostle_timeout=0.2, clock=clock)
    slow(lab, "example.com")
    old = asyncio.create_task(resolver.resolve(n("h3.wild.example.com"), A))
    await asyncio.sleep(0)
    clock.advance(0.3)
    new = asyncio.create_task(resolver.resolve(n("www.example.org"), A))
    await asyncio.sleep(0)  # the newcomer jostles the old resolution out
    assert resolver.shed_jostled == 1
    old.cancel()
    with pytest.raises(asyncio.CancelledError):
        await old
    assert addresses(await new) == ["192.0.2.50"]


async def test_reconfigure_applies_the_limit_live(lab: Lab) -> None:
    resolver = make_resolver(lab, max_resolutions=5)
    slow(lab, "example.com")
    first = asyncio.create_task(resolver.resolve(n("h4.wild.example.com"), A))
    await asyncio.sleep(0)
    resolver.reconfigure(config(lab, max_resolutions=1))
    assert_shed(await resolver.resolve(n("h5.wild.example.com"), A))
    assert addresses(await first) == ["192.0.2.99"]
    lab.clear_faults()
    assert not (await resolver.resolve(n("h6.wild.example.com"), A)).shed
