"""The engine against the lab in process (``LabTransport``): each behaviour of the engine issue.

Time bounds are on the fake clock, which only the simulated exchanges move: exact, whatever the
load of the machine. The real-socket versions of a few of these are in test_smoke_sockets.py.
"""

from __future__ import annotations

import asyncio
import dataclasses

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from rootwalk.cache import Trust, address_text
from rootwalk.clock import FakeClock
from rootwalk.config import ForwardZone, Limits
from rootwalk.dnssec.verify import Security
from rootwalk.errors import EDE
from rootwalk.lab import BOGUS_ADDRESS, Faults
from rootwalk.lab.inprocess import InLab, LabTransport, Outcome
from rootwalk.resolution import Result
from rootwalk.resolver import Resolver
from rootwalk.wire.names import from_text

from .conftest import make_config, make_resolver

A, AAAA, TXT, MX = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT, dns.rdatatype.MX


def n(text: str) -> bytes:
    return from_text(text)


def addresses(result: Result) -> list[str]:
    return [address_text(rd) for r in result.answer if r.rtype in (A, AAAA) for rd in r.rdatas]


async def ask(resolver: Resolver, name: str, rdtype: dns.rdatatype.RdataType = A) -> Result:
    return await resolver.resolve(n(name), rdtype)


def total(inlab: InLab, *keys: str) -> int:
    return sum(inlab.server(k).count() for k in keys)


ROOTS = ("a.root-servers.net", "b.root-servers.net")
GTLD = ("a.gtld-servers.net", "b.gtld-servers.net")
EXAMPLE_COM = ("ns1.example.com", "ns2.example.com")


async def test_walk_answers_and_second_name_skips_root_and_tld(
    inlab: InLab, resolver: Resolver
) -> None:
    r = await ask(resolver, "www.example.com")
    assert r.rcode == dns.rcode.NOERROR and addresses(r) == ["192.0.2.1"]
    assert total(inlab, *ROOTS) >= 1 and total(inlab, *GTLD) >= 1
    inlab.reset_counters()
    r = await ask(resolver, "mail.example.com")
    assert addresses(r) == ["192.0.2.25"]
    assert total(inlab, *ROOTS) == 0 and total(inlab, *GTLD) == 0  # "skips steps 3 and 4"
    assert total(inlab, *EXAMPLE_COM) == 1


async def test_cache_hit_sends_nothing_and_counts_ttl_down(
    inlab: InLab, resolver: Resolver, clock: FakeClock
) -> None:
    await ask(resolver, "www.example.com")
    inlab.reset_counters()
    clock.advance(100)
    r = await ask(resolver, "www.example.com")
    assert r.from_cache and r.answer[0].ttl in (199, 200)
    assert sum(s.count() for s in inlab.servers.values()) == 0


async def test_qname_minimisation_hides_the_full_name_from_root_and_tld(
    inlab: InLab, resolver: Resolver, clock: FakeClock
) -> None:
    await ask(resolver, "www.lab.eng.example.com")
    asked_root = {q.qname.to_text().lower() for k in ROOTS for q in inlab.server(k).queries}
    assert asked_root == {".", "com."}  # the priming query, then one label
    off = make_resolver(inlab, clock, qname_minimisation=False)
    inlab.reset_counters()
    await ask(off, "www.example.com")
    asked_root = {q.qname.to_text().lower() for k in ROOTS for q in inlab.server(k).queries}
    assert asked_root == {".", "www.example.com."}


async def test_glueless_delegation_and_deep_subdelegation(resolver: Resolver) -> None:
    r = await ask(resolver, "www.example.org")
    assert addresses(r) == ["192.0.2.50"]
    r = await ask(resolver, "www.lab.eng.example.com")
    assert addresses(r) == ["192.0.2.31"]


async def test_cname_chains_within_and_across_zones_and_dname(resolver: Resolver) -> None:
    r = await ask(resolver, "c1.example.com")
    assert [x.rtype for x in r.answer] == [dns.rdatatype.CNAME] * 3 + [A]
    assert addresses(r) == ["192.0.2.1"]
    r = await ask(resolver, "cross.example.com")
    assert addresses(r) == ["192.0.2.50"]
    r = await ask(resolver, "www.legacy.example.com")
    assert r.answer[0].rtype == dns.rdatatype.DNAME and addresses(r) == ["192.0.2.50"]


async def test_cname_loop_and_delegation_loop_fail_fast(
    resolver: Resolver, transport: LabTransport, clock: FakeClock
) -> None:
    # The reason names the loop check that cut it (the names themselves contain "loop", so a
    # budget running out must not pass for a detected loop).
    for name, why in (
        ("loop.example.com", "CNAME loop at"),
        ("www.loop1.test", "delegation loop through"),
    ):
        start = clock.monotonic()
        r = await ask(resolver, name)
        assert r.rcode == dns.rcode.SERVFAIL
        assert r.ede and why in r.ede[0][1], r.ede
        # Cut by the loop checks, not by a budget or a timeout: no try went unanswered.
        assert transport.count(Outcome.TIMEOUT) == 0
        assert clock.monotonic() - start < 0.1


async def test_out_of_bailiwick_records_are_never_cached_or_used(
    inlab: InLab, resolver: Resolver
) -> None:
    for key in ROOTS + GTLD:
        inlab.server(key).faults = Faults(poison_additional=True)
    await ask(resolver, "www.example.com")
    r = await ask(resolver, "www.example.org")
    assert addresses(r) == ["192.0.2.50"]
    now = resolver.clock.now()
    for (_name, rdtype), entry in resolver.cache.rrsets.items():
        if rdtype in (A, AAAA):
            assert BOGUS_ADDRESS not in [address_text(rd) for rd in entry.rrset.rdatas], entry
    assert not any(q.source[0] == BOGUS_ADDRESS for s in inlab.servers.values() for q in s.queries)
    assert (
        address_text(resolver.cache.lookup(n("www.example.org."), A, now).answer[0].rdatas[0])
        != BOGUS_ADDRESS
    )  # type: ignore[union-attr]


async def test_spoofed_answers_are_ignored(
    inlab: InLab, resolver: Resolver, transport: LabTransport
) -> None:
    # A forgery with a wrong ID is skipped while the genuine answer is awaited, on every
    # server; a reply with our ID but another question ends that exchange (issue: interop),
    # so it costs one server, and the forged record is never believed.
    for key in EXAMPLE_COM:
        inlab.server(key).faults = Faults(spoof_id=True)
    inlab.server(EXAMPLE_COM[0]).faults = Faults(spoof_id=True, spoof_question=True)
    r = await ask(resolver, "www.example.com")
    assert addresses(r) == ["192.0.2.1"]
    assert transport.count(Outcome.TIMEOUT) == 0  # the forgeries ended no wait badly
    for (_name, rdtype), entry in resolver.cache.rrsets.items():
        if rdtype == A:
            assert BOGUS_ADDRESS not in [address_text(rd) for rd in entry.rrset.rdatas], entry


async def test_truncated_answer_is_fetched_over_tcp(inlab: InLab, resolver: Resolver) -> None:
    r = await ask(resolver, "big.example.com", TXT)
    assert r.rcode == dns.rcode.NOERROR and len(r.answer[0].rdatas) == 10
    assert sum(inlab.server(k).count("big.example.com", "TXT", "tcp") for k in EXAMPLE_COM) == 1


async def test_formerr_to_edns_retries_without_edns(inlab: InLab, resolver: Resolver) -> None:
    await ask(resolver, "www.example.com")
    for key in EXAMPLE_COM:
        inlab.server(key).faults = Faults(formerr_on_edns=True)
    # Without OPT there is no DO and no RRSIG: a signed zone's answer cannot validate, so a
    # client gets SERVFAIL (RRSIGs missing), and with CD the data itself (RFC 4035 §3.2.2).
    r = await resolver.resolve(n("mail.example.com"), A)
    assert r.rcode == dns.rcode.SERVFAIL and r.ede[0][0] == EDE.RRSIGS_MISSING
    r = await resolver.resolve(n("mail.example.com"), A, cd=True)
    assert addresses(r) == ["192.0.2.25"] and r.security is Security.BOGUS
    last = [q for k in EXAMPLE_COM for q in inlab.server(k).queries if not q.edns]
    assert last, "expected a retry without OPT"


async def test_servfail_and_lame_servers_fail_over(inlab: InLab, resolver: Resolver) -> None:
    inlab.server("ns1.example.com").faults = Faults(rcode=dns.rcode.SERVFAIL)
    r = await ask(resolver, "www.example.com")
    assert addresses(r) == ["192.0.2.1"]
    r = await ask(resolver, "www.partlame.test")
    assert addresses(r) == ["192.0.2.60"]
    r = await ask(resolver, "www.lame.test")
    assert r.rcode == dns.rcode.SERVFAIL and r.ede[0][0] == EDE.NO_REACHABLE_AUTHORITY


async def test_timed_out_server_is_avoided_for_next_questions(
    inlab: InLab, clock: FakeClock
) -> None:
    # Every probe must reach the servers: no NXDOMAIN from cached NSEC (RFC 8198) here.
    resolver = make_resolver(inlab, clock, make_config(inlab, aggressive_nsec=False))
    await ask(resolver, "www.example.com")
    slow = inlab.server("ns1.example.com")
    slow.faults = Faults(silent=True)
    slow.reset_counters()  # the first question may have been answered by ns1 itself
    for i in range(30):  # until selection has tried the silent server once (bounded)
        r = await ask(resolver, f"probe{i}.example.com")
        assert r.rcode == dns.rcode.NXDOMAIN
        if slow.count():
            break
    assert slow.count() >= 1, "ns1 was never tried"
    slow.reset_counters()
    timeouts_before = resolver.iterator.timeouts
    for i in range(10):
        r = await ask(resolver, f"after{i}.example.com")
        assert r.rcode == dns.rcode.NXDOMAIN
    # The silent server is not asked again while the other one stays healthy (in process the
    # healthy one cannot time out by accident: time only moves as simulated).
    assert slow.count() == 0, resolver.infra.items()
    assert resolver.iterator.timeouts == timeouts_before


async def test_a_lost_packet_is_retried_on_the_only_server(
    inlab: InLab, resolver: Resolver, clock: FakeClock
) -> None:
    # example.net has one server. One lost packet must cost a retry, not the question.
    await ask(resolver, "example.net")  # learn the delegation and the server's RTT
    only = inlab.server("ns.example.net")
    only.faults = Faults(drop_first=1)
    only.reset_counters()
    r = await ask(resolver, "www.example.net")
    assert r.rcode == dns.rcode.NOERROR and r.answer
    assert only.count("www.example.net", "A") == 2  # the lost one, then the retry
    assert resolver.iterator.timeouts == 1
    # Three losses in a row exhaust max_server_timeouts (3): SERVFAIL, in bounded time.
    only.faults = Faults(drop_first=3)
    only.reset_counters()
    start = clock.monotonic()
    r = await ask(resolver, "ftp.example.net")
    assert r.rcode == dns.rcode.SERVFAIL
    assert only.count("ftp.example.net", "A") == 3
    # Three backed-off tries (0.2 floor doubled, capped at max_timeout 0.5), not the total.
    assert clock.monotonic() - start <= 0.4 + 0.5 + 0.5


async def test_hundred_identical_questions_cause_one_walk(inlab: InLab, resolver: Resolver) -> None:
    results = await asyncio.gather(*(ask(resolver, "www.example.com") for _ in range(100)))
    assert all(addresses(r) == ["192.0.2.1"] for r in results)
    assert resolver.resolutions_started == 1
    assert sum(inlab.server(k).count("www.example.com", "A") for k in EXAMPLE_COM) == 1


async def test_questions_differing_in_do_or_cd_are_never_coalesced(resolver: Resolver) -> None:
    # Their answers will differ once validation exists (RRSIGs for DO, no validation for CD).
    name = n("www.example.com")
    variants = [(False, False), (True, False), (False, True), (True, True)]
    await asyncio.gather(
        *(resolver.resolve(name, A, do=do, cd=cd) for do, cd in variants for _ in range(5))
    )
    assert resolver.resolutions_started == len(variants)


async def test_stale_answer_when_every_server_is_silent(
    inlab: InLab, resolver: Resolver, clock: FakeClock
) -> None:
    r = await ask(resolver, "short.example.com")
    assert addresses(r) == ["192.0.2.102"]
    clock.advance(10)  # TTL 2 has passed
    for key in EXAMPLE_COM:
        inlab.server(key).faults = Faults(silent=True)
    start = clock.monotonic()
    r = await ask(resolver, "short.example.com")
    assert r.stale and addresses(r) == ["192.0.2.102"]
    assert r.answer[0].ttl == 30  # RFC 8767 §4
    assert r.ede[0][0] == EDE.STALE_ANSWER
    # In process the resolution fails (every try times out) before the real-time client
    # timer (stale_client_timeout) could fire: this is the RFC 8767 answer after failure, and
    # the client timer is covered over sockets (test_smoke_sockets.py).
    assert clock.monotonic() - start <= resolver.config.limits.total_timeout


async def test_silent_zone_without_stale_data_is_servfail_in_bounded_time(
    inlab: InLab, resolver: Resolver, clock: FakeClock
) -> None:
    await ask(resolver, "www.example.com")
    for key in EXAMPLE_COM:
        inlab.server(key).faults = Faults(silent=True)
    start = clock.monotonic()
    r = await ask(resolver, "nothing-cached.example.com")
    assert r.rcode == dns.rcode.SERVFAIL and r.ede
    assert clock.monotonic() - start <= resolver.config.limits.total_timeout


async def test_negative_answers_cached_for_rfc2308_time_and_no_longer(
    inlab: InLab, clock: FakeClock
) -> None:
    # Prefetch off: this is about the negative TTL itself (asked at 119 s of 120, the answer
    # would be refreshed by prefetch; see the next test).
    config = make_config(inlab)
    config = dataclasses.replace(config, cache=dataclasses.replace(config.cache, prefetch=False))
    resolver = make_resolver(inlab, clock, config)
    # example.net: SOA TTL 120, MINIMUM 600 -> negative TTL 120 (the lesser).
    r = await ask(resolver, "nope.example.net")
    assert r.rcode == dns.rcode.NXDOMAIN and r.authority[0].ttl == 120
    ns = inlab.server("ns.example.net")
    ns.reset_counters()
    clock.advance(119)
    r = await ask(resolver, "nope.example.net")
    assert r.rcode == dns.rcode.NXDOMAIN and r.from_cache and ns.count() == 0
    r = await ask(resolver, "deeper.nope.example.net")  # RFC 8020: below an NXDOMAIN
    assert r.rcode == dns.rcode.NXDOMAIN and ns.count() == 0
    clock.advance(2)
    r = await ask(resolver, "nope.example.net")
    assert r.rcode == dns.rcode.NXDOMAIN and not r.from_cache and ns.count() == 1


async def test_negative_answer_asked_in_its_last_tenth_is_prefetched(
    inlab: InLab, resolver: Resolver, clock: FakeClock
) -> None:
    r = await ask(resolver, "nope.example.net")  # negative TTL 120: refresh in the last 12 s
    assert r.rcode == dns.rcode.NXDOMAIN
    ns = inlab.server("ns.example.net")
    ns.reset_counters()
    clock.advance(107)
    r = await ask(resolver, "nope.example.net")
    assert r.from_cache and not resolver.prefetching() and ns.count() == 0  # 13 s left
    clock.advance(2)
    r = await ask(resolver, "nope.example.net")
    assert r.from_cache and r.authority[0].ttl == 11 and resolver.prefetches == 1
    await asyncio.gather(*resolver.prefetching())
    assert ns.count() == 1  # the refresh
    clock.advance(20)  # past the first answer's expiry: the refreshed one answers
    r = await ask(resolver, "nope.example.net")
    assert r.rcode == dns.rcode.NXDOMAIN and r.from_cache and ns.count() == 1


async def test_ttl_zero_is_used_but_not_cached(inlab: InLab, resolver: Resolver) -> None:
    for _ in range(2):
        r = await ask(resolver, "zero.example.com")
        assert addresses(r) == ["192.0.2.100"] and r.answer[0].ttl == 0
    assert sum(inlab.server(k).count("zero.example.com", "A") for k in EXAMPLE_COM) == 2


async def test_long_ttl_is_capped(resolver: Resolver) -> None:
    r = await ask(resolver, "long.example.com")
    assert addresses(r) == ["192.0.2.101"]
    r = await ask(resolver, "long.example.com")
    assert r.from_cache and r.answer[0].ttl <= 86400


async def test_wildcard_nodata_and_authoritative_answer_replaces_glue(resolver: Resolver) -> None:
    r = await ask(resolver, "anything.wild.example.com")
    assert addresses(r) == ["192.0.2.99"]
    r = await ask(resolver, "nodata.example.com")
    assert r.rcode == dns.rcode.NOERROR and not r.answer and r.authority
    await ask(resolver, "www.example.com")
    now = resolver.clock.now()
    glue = resolver.cache.rrsets.get(n("ns1.example.com."), A, now)
    assert glue is not None and glue.trust == Trust.GLUE
    await ask(resolver, "ns1.example.com")
    ans = resolver.cache.rrsets.get(n("ns1.example.com."), A, now)
    assert ans is not None and ans.trust == Trust.AUTH_ANSWER


async def test_0x20_and_do_bit_settings(inlab: InLab, clock: FakeClock) -> None:
    resolver = make_resolver(inlab, clock, use_0x20=True, dnssec_ok=True)
    r = await ask(resolver, "www.example.com")
    assert addresses(r) == ["192.0.2.1"]
    queries = [q for s in inlab.servers.values() for q in s.queries]
    assert queries and all(q.do for q in queries)
    names = "".join(q.qname.to_text() for q in queries)
    assert names != names.lower(), "expected mixed case upstream"


async def test_upstream_budget_bounds_work(inlab: InLab, clock: FakeClock) -> None:
    tight = make_config(inlab, limits=Limits(max_upstream_queries=2))
    r = await ask(make_resolver(inlab, clock, tight), "www.lab.eng.example.com")
    assert r.rcode == dns.rcode.SERVFAIL and "max_upstream_queries" in r.ede[0][1]


async def test_forward_zone_sends_questions_to_the_given_servers(
    inlab: InLab, clock: FakeClock
) -> None:
    fwd = ForwardZone("example.org", (f"{inlab.server('ns1.example.net').address}@{inlab.port}",))
    resolver = make_resolver(inlab, clock, forward_zones=(fwd,))
    r = await ask(resolver, "www.example.org")
    assert addresses(r) == ["192.0.2.50"]
    # The root and org were asked only what validation needs: the priming query (RFC 8109),
    # the root's keys, and the DS of the forward zone's apex, which its parent answers
    # (here a proof that example.org is an unsigned delegation).
    root_asked = {(q.qname.to_text(), _t(q.qtype)) for k in ROOTS for q in inlab.server(k).queries}
    assert root_asked <= {(".", "NS"), (".", "DNSKEY"), ("example.org.", "DS")}
    org_asked = {(q.qname.to_text(), _t(q.qtype)) for q in inlab.server("ns1.nic.org").queries}
    assert org_asked <= {("example.org.", "DS"), ("org.", "DNSKEY")}
    assert r.security is Security.INSECURE
    assert inlab.server("ns1.example.net").count("www.example.org", "A") == 1
    r = await ask(resolver, "www.example.com")  # outside the forward zone: walked as usual
    assert addresses(r) == ["192.0.2.1"]


def _t(rdtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


async def test_a_minimised_step_the_cache_answers_is_not_asked_again(
    inlab: InLab, resolver: Resolver
) -> None:
    """wild.example.com is an empty non-terminal: the first name below it is walked label by
    label (RFC 9156) and its NODATA is cached; the next name below it skips that step."""
    servers = [inlab.server(k) for k in ("ns1.example.com", "ns2.example.com")]
    r = await ask(resolver, "a.wild.example.com")
    assert addresses(r) == ["192.0.2.99"]
    assert sum(s.count("wild.example.com", "A") for s in servers) == 1
    for s in servers:
        s.reset_counters()
    r = await ask(resolver, "b.wild.example.com")
    assert addresses(r) == ["192.0.2.99"]
    assert sum(s.count("wild.example.com", "A") for s in servers) == 0
    assert sum(s.count() for s in servers) == 1  # b.wild.example.com itself, once
