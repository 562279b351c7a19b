"""``rootwalk lab demo`` (``make demo``): the walk, then the cache, in under a screen.

Starts a lab, puts a resolver in front of it, resolves a few names showing every step (server
asked, what came back, round-trip time), asks again to show the cache answering, and proves it
with the lab's own query counters. This is the one lab module that imports the resolver.

It opens with the seeds' whole story (issue #14), the nine steps the seed documents draw, all
on real sockets: a "browser" asks a running rootwalk server (``server.app.Server``) for
``web.example.com`` over UDP; the server walks root, TLD and the zone's servers (read back from
its walk log, server/walks.py); the answer is cached with its TTL; the browser fetches the
page from the lab's web server (lab/web.py) at that address and shows its title. A second run
skips steps 3 to 6: the answer comes from the cache, and the lab's counters prove nobody was
asked. The story runs first, on a cold cache, so that step 3 really starts at the root.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time

import dns.asyncquery
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from rootwalk.config import Config, DnssecConfig, ResolverConfig, ServerConfig
from rootwalk.lab import web
from rootwalk.lab.world import Lab
from rootwalk.present import format_event
from rootwalk.resolution import Result, TraceEvent
from rootwalk.resolver import Resolver
from rootwalk.server.dashboard.browse import fetch_title
from rootwalk.wire.convert import to_dns_rrset
from rootwalk.wire.names import from_text, label_count, to_text

__all__ = ["run_demo", "story"]

#: Seconds the story's browser waits for DNS or HTTP (the lab answers in milliseconds).
_BROWSER_TIMEOUT = 5.0

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


def _lab_config(lab: Lab) -> Config:
    return Config(
        resolver=ResolverConfig(
            root_hints=lab.root_hints_path,
            upstream_port=lab.port,
            upstream_allow=("127.0.0.0/8",),
            do_not_query_localhost=False,  # the lab's servers live on 127.x
        ),
        # the lab's own trust anchor: its root is signed with keys made at start
        dnssec=DnssecConfig(trust_anchor_file=str(lab.trust_anchor_path)),
    )


def _step(n: int | str, who: str, what: str) -> str:
    return f" {n!s:>3}  {who:<26} {what}"


def _hop_step(ev: TraceEvent) -> int:
    """Which of the seed documents' steps an upstream exchange is: 3 root, 4 TLD, 5 zone."""
    depth = label_count(ev.zone) if ev.zone is not None else 2
    return 3 + min(depth, 2)


async def story(lab: Lab, out: list[str]) -> None:
    """The seeds' nine steps, twice (cold, then from the cache), appended to ``out``."""
    from rootwalk.server.app import Server, bind_one
    from rootwalk.server.explain import explain

    base = _lab_config(lab)
    config = dataclasses.replace(
        base,
        server=ServerConfig(
            listen=("127.0.0.1:0",), hosts_file="off", control_socket="", record_walks=16
        ),
    )
    listener = bind_one("127.0.0.1", 0)
    server = Server(config, [listener], announce=False)
    await server.start()
    resolver_at = (listener.host, listener.port)
    wire = from_text(web.NAME)
    counted = list(lab.servers.values())
    try:
        for run in (1, 2):
            before = sum(s.count() for s in counted)
            if run == 1:
                out.append(f"== The whole story: a browser opens http://{web.NAME}/")
                out.append("   (the nine steps of the seed documents, on real sockets)")
            else:
                out.append("== The same page again, a moment later: steps 3 to 6 are skipped")
            out.append(
                _step(
                    1,
                    "browser -> resolver",
                    f"A? {web.NAME} (UDP to rootwalk on {resolver_at[0]}:{resolver_at[1]})",
                )
            )
            began = time.monotonic()
            query = dns.message.make_query(web.NAME, "A")
            reply = await dns.asyncquery.udp(
                query, resolver_at[0], port=resolver_at[1], timeout=_BROWSER_TIMEOUT
            )
            ms = (time.monotonic() - began) * 1000
            addresses = [rd.address for rrset in reply.answer for rd in rrset if rrset.rdtype == 1]
            asked = sum(s.count() for s in counted) - before
            walks = server.resolver.walks
            walk = getattr(walks, "latest", lambda *_: None)(wire, 1) if run == 1 else None
            if walk is not None:
                out.append(_step(2, "resolver: cache", "not cached: walk from the root"))
                for ev in walk.events:
                    if ev.address is None:
                        continue
                    n = _hop_step(ev)
                    who = {3: "resolver -> root", 4: "resolver -> TLD"}.get(
                        n, "resolver -> zone's servers"
                    )
                    q = f"{to_text(ev.qname)} {dns.rdatatype.to_text(ev.qtype)}"
                    rtt = f"{ev.rtt * 1000:.1f} ms" if ev.rtt is not None else "-"
                    if ev.qname == b"\x00" and ev.qtype == 2:
                        # RFC 8109 priming: the root's own NS set, before the first referral.
                        who, q = "resolver -> root", "priming: . NS"
                    detail = ev.detail if len(ev.detail) <= 80 else ev.detail[:77] + "..."
                    out.append(
                        _step(
                            n,
                            who,
                            f"{to_text(ev.server or b'')} [{ev.address}] {q}, {rtt}: "
                            f"{ev.kind}: {detail}",
                        )
                    )
                ttl = reply.answer[0].ttl if reply.answer else 0
                out.append(_step(6, "resolver: cache", f"{web.NAME} A cached for {ttl} s"))
            else:
                ex = await explain(server, web.NAME, "A", walk=False)
                entry = ex.cache[-1] if ex.cache else None
                left = f"TTL {entry.ttl} s left" if entry is not None else "cached"
                came = f", fetched by walk #{entry.walk}" if entry and entry.walk else ""
                out.append(_step(2, "resolver: cache", f"answered from the cache ({left}{came})"))
                out.append(
                    _step(
                        "3-6",
                        "skipped",
                        f"no root, TLD or zone server asked (lab counters: {asked} queries)",
                    )
                )
            shown = ", ".join(addresses) or dns.rcode.to_text(reply.rcode())
            out.append(_step(7, "resolver -> browser", f"A {shown} ({ms:.1f} ms)"))
            if not addresses:
                out.append("   no address: the story ends here")
                return
            out.append(
                _step(8, "browser -> web server", f"GET / HTTP/1.0 to {addresses[0]}:{lab.port}")
            )
            status, title = await fetch_title(addresses[0], lab.port, web.NAME)
            out.append(_step(9, "web server -> browser", f"{status}, title: {title!r}"))
            out.append("")
    finally:
        await server.shutdown()


def run_demo(args: argparse.Namespace) -> int:
    print("rootwalk demo: a simulated internet on loopback, and a resolver walking it.\n")
    with Lab() as lab:
        print(f"lab: {len(lab.servers)} authoritative servers on {lab.net}.0.x, port {lab.port}")
        print(f"     root servers: {lab.addr(2)} and {lab.addr(3)} (from {lab.root_hints_path})")
        if lab.web is not None:
            print(f"     web server: {web.NAME} at {lab.web.url}\n")
        lines: list[str] = []
        asyncio.run(story(lab, lines))
        print("\n".join(lines))
        config = _lab_config(lab)
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
