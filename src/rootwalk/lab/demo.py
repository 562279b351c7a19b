"""``rootwalk lab demo`` (``make demo``): the walk, then the cache, in under a screen.

Starts a lab, puts a resolver in front of it, resolves a few names showing every step (server
asked, what came back, round-trip time), asks again to show the cache answering, and proves it
with the lab's own query counters. This is the one lab module that imports the resolver.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import dns.name
import dns.rcode
import dns.rdatatype

from rootwalk.config import Config, DnssecConfig, ResolverConfig
from rootwalk.lab.world import Lab
from rootwalk.present import format_event
from rootwalk.resolution import Result, TraceEvent
from rootwalk.resolver import Resolver
from rootwalk.wire.convert import to_dns_rrset

__all__ = ["run_demo"]

_FIRST = [
    ("www.example.com", "A", "a name two referrals down: root -> com -> example.com"),
    ("www.example.org", "A", "a glueless delegation: the servers' own names must be looked up"),
    ("example.com", "MX", "a second name under example.com: root and com are skipped"),
]
_AGAIN = [("www.example.com", "A"), ("www.example.org", "A"), ("example.com", "MX")]


def _summary(result: Result) -> str:
    if result.answer:
        last = to_dns_rrset(result.answer[-1])
        data = ", ".join(str(rd) for rd in last)
        return f"{dns.rdatatype.to_text(last.rdtype)} {data} (TTL {last.ttl})"
    return dns.rcode.to_text(dns.rcode.Rcode.make(result.rcode))


def run_demo(args: argparse.Namespace) -> int:
    print("rootwalk demo: a simulated internet on loopback, and a resolver walking it.\n")
    with Lab() as lab:
        print(f"lab: {len(lab.servers)} authoritative servers on {lab.net}.0.x, port {lab.port}")
        print(f"     root servers: {lab.addr(2)} and {lab.addr(3)} (from {lab.root_hints_path})\n")
        config = Config(
            resolver=ResolverConfig(
                root_hints=lab.root_hints_path,
                upstream_port=lab.port,
                upstream_allow=("127.0.0.0/8",),
                do_not_query_localhost=False,  # the lab's servers live on 127.x
            ),
            # the lab's own trust anchor: its root is signed with keys made at start
            dnssec=DnssecConfig(trust_anchor_file=str(lab.trust_anchor_path)),
        )
        resolver = Resolver(config)
        roots = [lab.server(lab.addr(2)), lab.server(lab.addr(3))]

        def show(ev: TraceEvent) -> None:
            line = format_event(ev)
            if line is not None and ev.kind != "start":
                print(line)

        async def walk() -> None:
            for name, rdtype, why in _FIRST:
                print(f"== {name} {rdtype}: {why}")
                sent = resolver.iterator.queries_sent
                start = time.monotonic()
                result = await resolver.resolve(
                    dns.name.from_text(name), dns.rdatatype.from_text(rdtype), trace=show
                )
                ms = (time.monotonic() - start) * 1000
                n = resolver.iterator.queries_sent - sent
                print(f"   => {_summary(result)}  [{n} upstream queries, {ms:.1f} ms]\n")
            root_before = sum(s.count() for s in roots)
            print("== the same questions again: the cache answers, nothing is sent")
            sent = resolver.iterator.queries_sent
            for name, rdtype in _AGAIN:
                start = time.monotonic()
                result = await resolver.resolve(
                    dns.name.from_text(name), dns.rdatatype.from_text(rdtype)
                )
                ms = (time.monotonic() - start) * 1000
                tag = "cache hit" if result.from_cache else "walked"
                print(f"   {name} {rdtype} => {_summary(result)}  [{tag}, {ms:.2f} ms]")
            root_after = sum(s.count() for s in roots)
            print(
                f"\nupstream queries during the second round: "
                f"{resolver.iterator.queries_sent - sent}; root servers asked "
                f"{root_after - root_before} more times (lab counters).\n"
                f"Next: `rootwalk lab up` to keep this world running, and "
                f"`rootwalk query NAME --trace --config PATH` (the resolver config it prints)."
            )

        asyncio.run(walk())
    return 0
