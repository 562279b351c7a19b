"""The engine against the lab, over real UDP/TCP sockets: each behaviour of the engine issue."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from rootwalk.cache import Trust, address_text
from rootwalk.clock import ShiftedClock
from rootwalk.errors import EDE
from rootwalk.lab import BOGUS_ADDRESS, Faults, Lab
from rootwalk.resolution import Result
from rootwalk.resolver import Resolver
from rootwalk.wire.names import from_text

from .conftest import make_config

A, AAAA, TXT, MX = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT, dns.rdatatype.MX


def n(text: str) -> bytes:
    return from_text(text)


def addresses(result: Result) -> list[str]:
    return [address_text(rd) for r in result.answer if r.rtype in (A, AAAA) for rd in r.rdatas]


async def ask(resolver: Resolver, name: str, rdtype: dns.rdatatype.RdataType = A) -> Result:
    return await resolver.resolve(n(name), rdtype)


def total(lab: Lab, *keys: str) -> int:
    return sum(lab.server(k).count() for k in keys)


ROOTS = ("a.root-servers.net", "b.root-servers.net")
GTLD = ("a.gtld-servers.net", "b.gtld-servers.net")
EXAMPLE_COM = ("ns1.example.com", "ns2.example.com")


async def test_walk_answers_and_second_name_skips_root_and_tld(
    lab: Lab, resolver: Resolver
) -> None:
    r = await ask(resolver, "www.example.com")
    assert r.rcode == dns.rcode.NOERROR and addresses(r) == ["192.0.2.1"]
    assert total(lab, *ROOTS) >= 1 and total(lab, *GTLD) >= 1
    lab.reset_counters()
    r = await ask(resolver, "mail.example.com")
    assert addresses(r) == ["192.0.2.25"]
    assert total(lab, *ROOTS) == 0 and total(lab, *GTLD) == 0  # "skips steps 3 and 4"
    assert total(lab, *EXAMPLE_COM) == 1


async def test_cache_hit_sends_nothing_and_counts_ttl_down(
    lab: Lab, resolver: Resolver, clock: ShiftedClock
) -> None:
    await ask(resolver, "www.example.com")
    lab.reset_counters()
    clock.advance(100)
    r = await ask(resolver, "www.example.com")
    assert r.from_cache and r.answer[0].ttl in (199, 200)
    assert sum(s.count() for s in lab.servers.values()) == 0


async def test_qname_minimisation_hides_the_full_name_from_root_and_tld(
    lab: Lab, resolver: Resolver
) -> None:
    await ask(resolver, "www.lab.eng.example.com")
    asked_root = {q.qname.to_text().lower() for k in ROOTS for q in lab.server(k).queries}
    assert asked_root == {".", "com."}  # the priming query, then one label
    off = Resolver(make_config(lab, qname_minimisation=False))
    lab.reset_counters()
    await ask(off, "www.example.com")
    asked_root = {q.qname.to_text().lower() for k in ROOTS for q in lab.server(k).queries}
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


async def test_cname_loop_and_delegation_loop_fail_fast(resolver: Resolver) -> None:
    for name in ("loop.example.com", "www.loop1.test"):
        start = time.monotonic()
        r = await ask(resolver, name)
        assert r.rcode == dns.rcode.SERVFAIL
        assert r.ede and "loop" in r.ede[0][1]
        assert time.monotonic() - start < 1.0


async def test_out_of_bailiwick_records_are_never_cached_or_used(
    lab: Lab, resolver: Resolver
) -> None:
    for key in ROOTS + GTLD:
        lab.server(key).faults = Faults(poison_additional=True)
    await ask(resolver, "www.example.com")
    r = await ask(resolver, "www.example.org")
    assert addresses(r) == ["192.0.2.50"]
    now = resolver.clock.now()
    for (_name, rdtype), entry in resolver.cache.rrsets.items():
        if rdtype in (A, AAAA):
            assert BOGUS_ADDRESS not in [address_text(rd) for rd in entry.rrset.rdatas], entry
    assert not any(q.source[0] == BOGUS_ADDRESS for s in lab.servers.values() for q in s.queries)
    assert (
        address_text(resolver.cache.lookup(n("www.example.org."), A, now).answer[0].rdatas[0])
        != BOGUS_ADDRESS
    )  # type: ignore[union-attr]


async def test_spoofed_answers_are_ignored(lab: Lab, resolver: Resolver) -> None:
    # A forgery with a wrong ID is skipped while the genuine answer is awaited, on every
    # server; a reply with our ID but another question ends that exchange (issue: interop),
    # so it costs one server, and the forged record is never believed.
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(spoof_id=True)
    lab.server(EXAMPLE_COM[0]).faults = Faults(spoof_id=True, spoof_question=True)
    r = await ask(resolver, "www.example.com")
    assert addresses(r) == ["192.0.2.1"]
    for (_name, rdtype), entry in resolver.cache.rrsets.items():
        if rdtype == A:
            assert BOGUS_ADDRESS not in [address_text(rd) for rd in entry.rrset.rdatas], entry


async def test_truncated_answer_is_fetched_over_tcp(lab: Lab, resolver: Resolver) -> None:
    r = await ask(resolver, "big.example.com", TXT)
    assert r.rcode == dns.rcode.NOERROR and len(r.answer[0].rdatas) == 10
    assert sum(lab.server(k).count("big.example.com", "TXT", "tcp") for k in EXAMPLE_COM) == 1


async def test_formerr_to_edns_retries_without_edns(lab: Lab, resolver: Resolver) -> None:
    await ask(resolver, "www.example.com")
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(formerr_on_edns=True)
    r = await ask(resolver, "mail.example.com")
    assert addresses(r) == ["192.0.2.25"]
    last = [q for k in EXAMPLE_COM for q in lab.server(k).queries if not q.edns]
    assert last, "expected a retry without OPT"


async def test_servfail_and_lame_servers_fail_over(lab: Lab, resolver: Resolver) -> None:
    lab.server("ns1.example.com").faults = Faults(rcode=dns.rcode.SERVFAIL)
    r = await ask(resolver, "www.example.com")
    assert addresses(r) == ["192.0.2.1"]
    r = await ask(resolver, "www.partlame.test")
    assert addresses(r) == ["192.0.2.60"]
    r = await ask(resolver, "www.lame.test")
    assert r.rcode == dns.rcode.SERVFAIL and r.ede[0][0] == EDE.NO_REACHABLE_AUTHORITY


async def test_timed_out_server_is_avoided_for_next_questions(lab: Lab) -> None:
    # A generous RTO floor, so that a loaded test machine cannot make the healthy server time
    # out too (which would rightly bring the silent one back into play).
    base = make_config(lab)
    limits = dataclasses.replace(base.limits, min_timeout=0.5, max_timeout=1.0)
    resolver = Resolver(dataclasses.replace(base, limits=limits))
    await ask(resolver, "www.example.com")
    slow = lab.server("ns1.example.com")
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
    # The silent server is not asked again while the other one stays healthy. (On a badly
    # overloaded machine the healthy one can time out too, which rightly re-admits both.)
    healthy_timed_out = resolver.iterator.timeouts > timeouts_before + slow.count()
    assert slow.count() == 0 or healthy_timed_out, resolver.infra.items()


async def test_a_lost_packet_is_retried_on_the_only_server(lab: Lab, resolver: Resolver) -> None:
    # example.net has one server. One lost packet must cost a retry, not the question.
    await ask(resolver, "example.net")  # learn the delegation and the server's RTT
    only = lab.server("ns.example.net")
    only.faults = Faults(drop_first=1)
    only.reset_counters()
    r = await ask(resolver, "www.example.net")
    assert r.rcode == dns.rcode.NOERROR and r.answer
    assert only.count("www.example.net", "A") == 2  # the lost one, then the retry
    assert resolver.iterator.timeouts == 1
    # Three losses in a row exhaust max_server_timeouts (3): SERVFAIL, in bounded time.
    only.faults = Faults(drop_first=3)
    only.reset_counters()
    r = await ask(resolver, "ftp.example.net")
    assert r.rcode == dns.rcode.SERVFAIL
    assert only.count("ftp.example.net", "A") == 3


async def test_hundred_identical_questions_cause_one_walk(lab: Lab, resolver: Resolver) -> None:
    results = await asyncio.gather(*(ask(resolver, "www.example.com") for _ in range(100)))
    assert all(addresses(r) == ["192.0.2.1"] for r in results)
    assert resolver.resolutions_started == 1
    assert sum(lab.server(k).count("www.example.com", "A") for k in EXAMPLE_COM) == 1


async def test_stale_answer_when_every_server_is_silent(
    lab: Lab, resolver: Resolver, clock: ShiftedClock
) -> None:
    r = await ask(resolver, "short.example.com")
    assert addresses(r) == ["192.0.2.102"]
    clock.advance(10)  # TTL 2 has passed
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(silent=True)
    start = time.monotonic()
    r = await ask(resolver, "short.example.com")
    assert r.stale and addresses(r) == ["192.0.2.102"]
    assert r.answer[0].ttl == 30  # RFC 8767 §4
    assert r.ede[0][0] == EDE.STALE_ANSWER
    assert time.monotonic() - start < 4.5


async def test_silent_zone_without_stale_data_is_servfail_in_bounded_time(
    lab: Lab, resolver: Resolver
) -> None:
    await ask(resolver, "www.example.com")
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(silent=True)
    start = time.monotonic()
    r = await ask(resolver, "nothing-cached.example.com")
    assert r.rcode == dns.rcode.SERVFAIL and r.ede
    assert time.monotonic() - start < 4.5


async def test_negative_answers_cached_for_rfc2308_time_and_no_longer(
    lab: Lab, resolver: Resolver, clock: ShiftedClock
) -> None:
    # example.net: SOA TTL 120, MINIMUM 600 -> negative TTL 120 (the lesser).
    r = await ask(resolver, "nope.example.net")
    assert r.rcode == dns.rcode.NXDOMAIN and r.authority[0].ttl == 120
    ns = lab.server("ns.example.net")
    ns.reset_counters()
    clock.advance(119)
    r = await ask(resolver, "nope.example.net")
    assert r.rcode == dns.rcode.NXDOMAIN and r.from_cache and ns.count() == 0
    r = await ask(resolver, "deeper.nope.example.net")  # RFC 8020: below an NXDOMAIN
    assert r.rcode == dns.rcode.NXDOMAIN and ns.count() == 0
    clock.advance(2)
    r = await ask(resolver, "nope.example.net")
    assert r.rcode == dns.rcode.NXDOMAIN and not r.from_cache and ns.count() == 1


async def test_ttl_zero_is_used_but_not_cached(lab: Lab, resolver: Resolver) -> None:
    for _ in range(2):
        r = await ask(resolver, "zero.example.com")
        assert addresses(r) == ["192.0.2.100"] and r.answer[0].ttl == 0
    assert sum(lab.server(k).count("zero.example.com", "A") for k in EXAMPLE_COM) == 2


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


async def test_0x20_and_do_bit_settings(lab: Lab) -> None:
    resolver = Resolver(make_config(lab, use_0x20=True, dnssec_ok=True))
    r = await ask(resolver, "www.example.com")
    assert addresses(r) == ["192.0.2.1"]
    queries = [q for s in lab.servers.values() for q in s.queries]
    assert queries and all(q.do for q in queries)
    names = "".join(q.qname.to_text() for q in queries)
    assert names != names.lower(), "expected mixed case upstream"


async def test_upstream_budget_bounds_work(lab: Lab) -> None:
    from rootwalk.config import Config, Limits

    base = make_config(lab)
    tight = Config(resolver=base.resolver, limits=Limits(max_upstream_queries=2))
    r = await ask(Resolver(tight), "www.lab.eng.example.com")
    assert r.rcode == dns.rcode.SERVFAIL and "max_upstream_queries" in r.ede[0][1]


async def test_forward_zone_sends_questions_to_the_given_servers(lab: Lab) -> None:
    from rootwalk.config import ForwardZone

    fwd = ForwardZone("example.org", (f"{lab.server('ns1.example.net').address}@{lab.port}",))
    resolver = Resolver(make_config(lab, forward_zones=(fwd,)))
    r = await ask(resolver, "www.example.org")
    assert addresses(r) == ["192.0.2.50"]
    # Neither the root nor org was walked: the root saw only the priming query (RFC 8109).
    root_names = {q.qname.to_text() for k in ROOTS for q in lab.server(k).queries}
    assert root_names <= {"."} and lab.server("ns1.nic.org").count() == 0
    assert lab.server("ns1.example.net").count("www.example.org", "A") == 1
    r = await ask(resolver, "www.example.com")  # outside the forward zone: walked as usual
    assert addresses(r) == ["192.0.2.1"]
