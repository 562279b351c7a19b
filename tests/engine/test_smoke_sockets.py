"""Smoke tests of the engine over real UDP/TCP sockets against a running lab.

Most engine scenarios run in process (tests/engine/inprocess: ``LabTransport``, fake clock).
These few keep the real path honest: ``DnsTransport``'s sockets (UDP, TC=1 then TCP, forged
datagrams skipped on a connected socket, a misquestioned reply ending the exchange at once),
real timeouts on the wall clock, and the serve-stale client timer, which is real time
(``asyncio.wait`` in the resolver) and so cannot be driven by the fake clock.
"""

from __future__ import annotations

import dataclasses
import time

import dns.rcode
import dns.rdatatype

from rootwalk.cache import address_text
from rootwalk.clock import ShiftedClock
from rootwalk.config import Limits
from rootwalk.errors import EDE
from rootwalk.lab import BOGUS_ADDRESS, Faults, Lab
from rootwalk.resolution import Result
from rootwalk.resolver import Resolver
from rootwalk.wire.names import from_text

from .conftest import make_config

A, AAAA, TXT = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT
ROOTS = ("a.root-servers.net", "b.root-servers.net")
GTLD = ("a.gtld-servers.net", "b.gtld-servers.net")
EXAMPLE_COM = ("ns1.example.com", "ns2.example.com")
# A stub resolver gives up after 5 s (glibc, dig); rootwalk promises an answer within 4 s.
STUB_PATIENCE = 4.0


def n(text: str) -> bytes:
    return from_text(text)


def addresses(result: Result) -> list[str]:
    return [address_text(rd) for r in result.answer if r.rtype in (A, AAAA) for rd in r.rdatas]


def total(lab: Lab, *keys: str) -> int:
    return sum(lab.server(k).count() for k in keys)


def real_limits(lab: Lab) -> Resolver:
    """A resolver with the shipped limits (timeouts, total budget), pointed at the lab."""
    config = dataclasses.replace(make_config(lab), limits=Limits())
    return Resolver(config, clock=ShiftedClock())


async def test_walk_answers_and_second_name_skips_root_and_tld(
    lab: Lab, resolver: Resolver
) -> None:
    r = await resolver.resolve(n("www.example.com"), A)
    assert r.rcode == dns.rcode.NOERROR and addresses(r) == ["192.0.2.1"]
    assert total(lab, *ROOTS) >= 1 and total(lab, *GTLD) >= 1
    lab.reset_counters()
    r = await resolver.resolve(n("mail.example.com"), A)
    assert addresses(r) == ["192.0.2.25"]
    assert total(lab, *ROOTS) == 0 and total(lab, *GTLD) == 0
    assert total(lab, *EXAMPLE_COM) == 1


async def test_truncated_answer_is_fetched_over_tcp(lab: Lab, resolver: Resolver) -> None:
    r = await resolver.resolve(n("big.example.com"), TXT)
    assert r.rcode == dns.rcode.NOERROR and len(r.answer[0].rdatas) == 10
    assert sum(lab.server(k).count("big.example.com", "TXT", "tcp") for k in EXAMPLE_COM) == 1


async def test_spoofed_answers_are_ignored(lab: Lab, resolver: Resolver) -> None:
    # On a connected socket: a forgery with a wrong ID is skipped while the genuine answer is
    # awaited; a reply with our ID but another question ends that exchange (one server lost).
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(spoof_id=True)
    lab.server(EXAMPLE_COM[0]).faults = Faults(spoof_id=True, spoof_question=True)
    r = await resolver.resolve(n("www.example.com"), A)
    assert addresses(r) == ["192.0.2.1"]
    for (_name, rdtype), entry in resolver.cache.rrsets.items():
        if rdtype == A:
            assert BOGUS_ADDRESS not in [address_text(rd) for rd in entry.rrset.rdatas], entry


async def test_all_servers_dead_gives_servfail_within_a_stubs_patience(lab: Lab) -> None:
    resolver = real_limits(lab)
    await resolver.resolve(n("mail.example.com"), A)
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(silent=True)
    start = time.monotonic()
    r = await resolver.resolve(n("www.example.com"), A)
    took = time.monotonic() - start
    assert r.rcode == dns.rcode.SERVFAIL and r.ede, r
    assert r.ede[0][0] in (EDE.NO_REACHABLE_AUTHORITY, EDE.NETWORK_ERROR)
    assert took < STUB_PATIENCE, took


async def test_a_zone_whose_servers_all_misquestion_fails_fast(lab: Lab) -> None:
    # DnsTransport ends the exchange on the first reply with our ID, not at the timeout.
    resolver = real_limits(lab)
    await resolver.resolve(n("mail.example.com"), A)
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(empty_question=True)
    start = time.monotonic()
    r = await resolver.resolve(n("www.example.com"), A)
    took = time.monotonic() - start
    assert r.rcode == dns.rcode.SERVFAIL and r.ede[0][0] == EDE.NO_REACHABLE_AUTHORITY
    assert took < 0.5, took  # two failed exchanges, no timeout ladder


async def test_stale_answer_when_every_server_is_silent(
    lab: Lab, resolver: Resolver, clock: ShiftedClock
) -> None:
    # RFC 8767 §5: the client is answered from expired data once stale_client_timeout (1.8 s)
    # has passed, while the resolution goes on (a real-time timer: not testable in process).
    r = await resolver.resolve(n("short.example.com"), A)
    assert addresses(r) == ["192.0.2.102"]
    clock.advance(10)  # TTL 2 has passed
    for key in EXAMPLE_COM:
        lab.server(key).faults = Faults(silent=True)
    start = time.monotonic()
    r = await resolver.resolve(n("short.example.com"), A)
    took = time.monotonic() - start
    assert r.stale and addresses(r) == ["192.0.2.102"]
    assert r.answer[0].ttl == 30  # RFC 8767 §4
    assert r.ede[0][0] == EDE.STALE_ANSWER
    assert took < resolver.config.cache.stale_client_timeout + 0.5, took
