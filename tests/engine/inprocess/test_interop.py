"""Imperfect servers of the real internet, replayed by the inlab in process (issue: interop).

Each test switches inlab servers into one sloppy or broken behaviour and checks what the client is
told and how long it waited. The resolvers here use the shipped ``Limits`` (not the shortened
ones of ``make_config``), so the time bounds are the ones a stub resolver lives with; they are
measured on the fake clock, so they hold exactly (no scheduling slack on a loaded machine).
Real-socket versions of the timing-critical ones are in test_smoke_sockets.py.
"""

from __future__ import annotations

import dataclasses

import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.cache import Trust, address_text
from rootwalk.clock import FakeClock
from rootwalk.config import Limits
from rootwalk.errors import EDE
from rootwalk.lab import Faults
from rootwalk.lab.inprocess import DEFAULT_RTT, InLab, LabTransport, Outcome
from rootwalk.resolution import Result, TraceEvent
from rootwalk.resolver import Resolver
from rootwalk.wire.names import from_text

from .conftest import make_config, make_resolver

A, AAAA, NS, TXT, DS = (
    dns.rdatatype.A,
    dns.rdatatype.AAAA,
    dns.rdatatype.NS,
    dns.rdatatype.TXT,
    dns.rdatatype.DS,
)
ROOTS = ("a.root-servers.net", "b.root-servers.net")
GTLD = ("a.gtld-servers.net", "b.gtld-servers.net")
EXAMPLE_COM = ("ns1.example.com", "ns2.example.com")
# A stub resolver gives up after 5 s (glibc, dig); rootwalk promises an answer within 4 s.
STUB_PATIENCE = 4.0


def n(text: str) -> bytes:
    return from_text(text)


def real_limits(
    inlab: InLab, clock: FakeClock, *, aggressive_nsec: bool = True, **resolver: object
) -> Resolver:
    """A resolver with the shipped limits (timeouts, total budget), answered by the inlab."""
    config = make_config(inlab, limits=Limits(), aggressive_nsec=aggressive_nsec, **resolver)
    return make_resolver(inlab, clock, config)


async def timed(
    resolver: Resolver, name: str, rdtype: dns.rdatatype.RdataType = A, **kw: object
) -> tuple[Result, float]:
    """The result, and how much (fake) time the resolution took."""
    start = resolver.clock.monotonic()
    r = await resolver.resolve(n(name), rdtype, **kw)  # type: ignore[arg-type]
    return r, resolver.clock.monotonic() - start


def addresses(r: Result) -> list[str]:
    return [address_text(rd) for x in r.answer if x.rtype in (A, AAAA) for rd in x.rdatas]


# -- answers without AA ------------------------------------------------------------------------


async def test_answers_without_aa_are_used_at_a_lower_trust(
    inlab: InLab, resolver: Resolver
) -> None:
    for key in EXAMPLE_COM:
        inlab.server(key).faults = Faults(no_aa=True)
    r = await resolver.resolve(n("www.example.com"), A)
    assert r.rcode == dns.rcode.NOERROR and addresses(r) == ["192.0.2.1"]
    entry = resolver.cache.rrsets.get(n("www.example.com."), A, resolver.clock.now())
    assert entry is not None and entry.trust is Trust.ANSWER  # RFC 2181 §5.4.1
    r = await resolver.resolve(n("www.example.com"), TXT)  # NODATA without AA
    assert r.rcode == dns.rcode.NOERROR and not r.answer and r.authority
    r = await resolver.resolve(n("nope.example.com"), A)  # NXDOMAIN without AA
    assert r.rcode == dns.rcode.NXDOMAIN and r.authority
    # The authoritative answer, once the servers set AA again, replaces the weaker data.
    inlab.clear_faults()
    resolver.cache.flush(n("www.example.com."))
    await resolver.resolve(n("mail.example.com"), A)
    resolver.cache.rrsets.remove(n("www.example.com."))
    r = await resolver.resolve(n("www.example.com"), A)
    entry = resolver.cache.rrsets.get(n("www.example.com."), A, resolver.clock.now())
    assert entry is not None and entry.trust is Trust.AUTH_ANSWER


@pytest.mark.parametrize(
    "fault",
    [
        Faults(no_aa=True, only_for=(".", "NS")),
        Faults(rcode=dns.rcode.SERVFAIL, only_for=(".", "NS")),
        Faults(lame=True, only_for=(".", "NS")),
        Faults(empty_question=True, only_for=(".", "NS")),
        Faults(silent=True, only_for=(".", "NS")),
    ],
    ids=["no-aa", "servfail", "lame", "no-question", "silent"],
)
async def test_a_failed_or_odd_priming_response_falls_back_to_the_hints(
    inlab: InLab, clock: FakeClock, fault: Faults
) -> None:
    resolver = real_limits(inlab, clock)
    for key in ROOTS:
        inlab.server(key).faults = fault
    r, took = await timed(resolver, "www.example.com")
    assert r.rcode == dns.rcode.NOERROR and addresses(r) == ["192.0.2.1"], r.ede
    assert sum(inlab.server(k).count(".", "NS") for k in ROOTS) >= 1  # priming was tried
    assert took < STUB_PATIENCE
    primed = resolver.cache.rrsets.get(n("."), NS, resolver.clock.now())
    if fault.no_aa:
        # The priming answer without AA is still the root's answer, kept at answer trust.
        assert primed is not None and primed.trust is Trust.ANSWER
    else:
        assert primed is None  # the walk went on from the hints


# -- replies that match ID, address and port but not the question ---------------------------


@pytest.mark.parametrize(
    "fault",
    [Faults(empty_question=True), Faults(wrong_question=True)],
    ids=["no-question", "another-question"],
)
async def test_a_misquestioned_reply_fails_that_server_at_once_and_is_remembered(
    inlab: InLab, clock: FakeClock, fault: Faults
) -> None:
    resolver = real_limits(inlab, clock, aggressive_nsec=False)  # every probe goes upstream
    await resolver.resolve(n("mail.example.com"), A)  # learn the delegation
    broken = inlab.server(EXAMPLE_COM[0])
    broken.faults = fault
    broken.reset_counters()
    events: list[TraceEvent] = []
    tried_broken = False
    for i in range(20):  # until selection has tried the broken server once (bounded)
        events.clear()
        r, took = await timed(resolver, f"probe{i}.example.com", trace=events.append)
        assert r.rcode == dns.rcode.NXDOMAIN
        if broken.count():
            tried_broken = True
            # No timeout was waited for: the reply itself ended the exchange, so the question
            # took a few round trips, less than the shortest timeout there is.
            assert took < Limits().min_timeout, took
            assert any(e.kind == "mismatch" and e.address == broken.address for e in events)
            break
    assert tried_broken, "the broken server was never tried"
    broken.reset_counters()
    for i in range(10):
        r = await resolver.resolve(n(f"after{i}.example.com"), A)
        assert r.rcode == dns.rcode.NXDOMAIN
    assert broken.count() == 0  # remembered: later questions go to the healthy server


async def test_a_zone_whose_servers_all_misquestion_fails_fast(
    inlab: InLab, clock: FakeClock
) -> None:
    resolver = real_limits(inlab, clock)
    await resolver.resolve(n("mail.example.com"), A)
    for key in EXAMPLE_COM:
        inlab.server(key).faults = Faults(empty_question=True)
    r, took = await timed(resolver, "www.example.com")
    assert r.rcode == dns.rcode.SERVFAIL and r.ede[0][0] == EDE.NO_REACHABLE_AUTHORITY
    # Two failed exchanges, no timeout ladder: less than the shortest timeout there is.
    assert took < Limits().min_timeout, took
    transport = resolver.transport
    assert isinstance(transport, LabTransport)
    assert transport.count(Outcome.TIMEOUT) == 0 and transport.count(Outcome.REJECTED) == 2


# -- dead, late and silent servers -----------------------------------------------------------


@pytest.mark.parametrize(
    "fault", [Faults(silent=True), Faults(delay=5.0)], ids=["dead", "answers-after-5s"]
)
async def test_one_dead_server_costs_one_initial_timeout_at_most(
    inlab: InLab, clock: FakeClock, fault: Faults
) -> None:
    resolver = real_limits(inlab, clock, aggressive_nsec=False)  # every probe goes upstream
    await resolver.resolve(n("mail.example.com"), A)
    dead = inlab.server(EXAMPLE_COM[0])
    dead.faults = fault
    took = None
    for i in range(20):  # until selection happens to try the dead server first (bounded)
        # Forget what was measured, as if both servers were new (the worst case for a client).
        resolver.infra.clear()
        dead.reset_counters()
        r, t = await timed(resolver, f"host{i}.example.com")
        assert r.rcode == dns.rcode.NXDOMAIN
        if dead.count():
            took = t
            break
    assert took is not None, "the dead server was never tried"
    # Unbound's 376 ms for an unknown server, then the sibling answers (one round trip).
    assert took <= 0.376 + 2 * DEFAULT_RTT, took


@pytest.mark.parametrize(
    "fault",
    [
        Faults(silent=True),
        Faults(delay=5.0),
        Faults(empty_question=True),
        Faults(wrong_question=True),
        Faults(rcode=dns.rcode.SERVFAIL),
        Faults(lame=True),
    ],
    ids=["silent", "late", "no-question", "another-question", "servfail", "lame"],
)
async def test_all_servers_broken_gives_servfail_with_ede_within_a_stubs_patience(
    inlab: InLab, clock: FakeClock, fault: Faults
) -> None:
    resolver = real_limits(inlab, clock)
    await resolver.resolve(n("mail.example.com"), A)
    for key in EXAMPLE_COM:
        inlab.server(key).faults = fault
    r, took = await timed(resolver, "www.example.com")
    assert r.rcode == dns.rcode.SERVFAIL and r.ede, r
    assert r.ede[0][0] in (EDE.NO_REACHABLE_AUTHORITY, EDE.NETWORK_ERROR)
    assert took <= Limits().total_timeout < STUB_PATIENCE, took


# -- zone shapes -----------------------------------------------------------------------------


async def test_a_dname_onto_itself_is_answered_without_chasing(
    inlab: InLab, resolver: Resolver
) -> None:
    for _ in range(2):  # from the walk, then from the cache: the same answer
        r, took = await timed(resolver, "www.selfdname.test")
        assert r.rcode == dns.rcode.NOERROR, r.ede
        assert [(x.owner, x.rtype) for x in r.answer] == [
            (n("selfdname.test."), dns.rdatatype.DNAME),
            (n("www.selfdname.test."), dns.rdatatype.CNAME),
        ]
        assert r.answer[1].rdatas[0] == n("www.selfdname.test.")
        assert took < 1.0
    assert inlab.server("ns.nic.test").count("www.selfdname.test", "A") == 1


async def test_the_default_never_queries_this_machine(inlab: InLab, clock: FakeClock) -> None:
    # The lab lives on 127.x: with the default do_not_query_localhost every server is skipped,
    # so nothing at all reaches it, and the client is told why.
    config = make_config(inlab)
    local_off = dataclasses.replace(config.resolver, do_not_query_localhost=True)
    resolver = make_resolver(inlab, clock, dataclasses.replace(config, resolver=local_off))
    events: list[TraceEvent] = []
    r = await resolver.resolve(n("www.tolocal.test"), A, trace=events.append)
    assert r.rcode == dns.rcode.SERVFAIL and r.ede[0][0] == EDE.NO_REACHABLE_AUTHORITY
    assert "do_not_query_localhost" in r.ede[0][1]
    assert sum(s.count() for s in inlab.servers.values()) == 0
    assert isinstance(resolver.transport, LabTransport) and not resolver.transport.outcomes
    assert {e.address for e in events if e.kind == "skipped"} >= {inlab.addr(2), inlab.addr(3)}


async def test_qname_minimisation_with_qtype_ns(inlab: InLab, clock: FakeClock) -> None:
    # A TLD that answers the minimised A query wrongly (NXDOMAIN) but NS correctly.
    for key in GTLD:
        inlab.server(key).faults = Faults(rcode=dns.rcode.NXDOMAIN, only_for=("example.com.", "A"))
    resolver = make_resolver(inlab, clock, qname_minimisation_type="NS")
    r = await resolver.resolve(n("www.example.com"), A)
    assert addresses(r) == ["192.0.2.1"]
    gtld = [inlab.server(k) for k in GTLD]
    assert sum(s.count("example.com", "NS") for s in gtld) == 1
    assert sum(s.count("example.com", "A") for s in gtld) == 0
    assert sum(s.count("www.example.com", "A") for s in gtld) == 0  # no fallback was needed
    assert sum(inlab.server(k).count("com", "NS") for k in ROOTS) == 1


async def test_ds_is_asked_of_the_parent_even_when_the_child_is_cached(
    inlab: InLab, clock: FakeClock
) -> None:
    # RFC 4035 §3.1.4.1: the DS RRset is the parent's. A resolver that knows example.com's
    # servers must still ask com for example.com DS, not example.com's own servers.
    resolver = make_resolver(inlab, clock)
    await resolver.resolve(n("www.example.com"), A)  # the child's delegation is now cached
    inlab.reset_counters()
    r = await resolver.resolve(n("example.com"), DS)
    assert r.rcode == dns.rcode.NOERROR and [x.rtype for x in r.answer] == [DS]
    assert sum(inlab.server(k).count("example.com", "DS") for k in GTLD) == 1
    assert sum(inlab.server(k).count("example.com", "DS") for k in EXAMPLE_COM) == 0
