"""Drive the sans-I/O core by hand: feed it responses, check what it asks next."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.cache import Cache, InfraCache, address_text
from rootwalk.clock import FakeClock
from rootwalk.config import CacheConfig, Limits, ResolverConfig
from rootwalk.delegation import Delegation
from rootwalk.errors import NoReachableServers, ResolutionFailed
from rootwalk.hints import parse_hints
from rootwalk.resolution import (
    Budget,
    Question,
    Resolution,
    Result,
    Send,
    SubQuery,
    TraceEvent,
    TraceSink,
)
from rootwalk.selection import ServerSelector
from rootwalk.transport import Exchange
from rootwalk.wire.names import to_text

from .helpers import compact, n, response

HINTS = parse_hints(". 3600000 NS a.root.\na.root. 3600000 A 127.0.0.2\n")
Responder = Callable[[Send], dns.message.Message]


def make_resolution(
    question: Question,
    config: ResolverConfig | None = None,
    cache: Cache | None = None,
    *,
    hints: Delegation = HINTS,
    trace: TraceSink | None = None,
) -> Resolution:
    clock = FakeClock()
    if cache is None:
        cache = Cache(CacheConfig(), clock)
    return Resolution(
        question,
        # The hand-driven world below uses loopback addresses; nothing is sent anywhere.
        config=config or ResolverConfig(do_not_query_localhost=False),
        limits=Limits(),
        cache=cache,
        selector=ServerSelector(InfraCache(clock.monotonic), clock, Limits()),
        hints=hints,
        clock=clock,
        budget=Budget(Limits()),
        trace=trace,
    )


def drive(
    question: Question, respond: Responder, *, qmin: bool = True, cache: Cache | None = None
) -> tuple[Result, list[Send]]:
    res = make_resolution(
        question, ResolverConfig(qname_minimisation=qmin, do_not_query_localhost=False), cache
    )
    return run_by_hand(res, respond)


def run_by_hand(res: Resolution, respond: Responder) -> tuple[Result, list[Send]]:
    """Answer every Send of ``res`` with ``respond`` until it returns its Result."""
    sent: list[Send] = []
    steps: Generator[Any, Any, Result] = res.run()
    outcome: Any = None
    try:
        action = next(steps)
        while True:
            assert isinstance(action, Send), action
            sent.append(action)
            outcome = Exchange(compact(respond(action)), 0.001, False)
            action = steps.send(outcome)
    except StopIteration as stop:
        return stop.value, sent


def world(send: Send) -> dns.message.Message:
    q = send.query
    name, rdtype = to_text(q.qname).lower(), dns.rdatatype.to_text(q.qtype)
    if send.target.address == "127.0.0.2":
        return response(name, rdtype, authority=["com. 172800 IN NS ns.com."],
                        additional=["ns.com. 172800 IN A 127.0.0.10"])  # fmt: skip
    if send.target.address == "127.0.0.10":
        return response(name, rdtype, authority=["example.com. 172800 IN NS ns.example.com."],
                        additional=["ns.example.com. 172800 IN A 127.0.0.20"])  # fmt: skip
    if name == "www.example.com.":
        return response(name, rdtype, aa=True, answer=["www.example.com. 300 IN A 192.0.2.1"])
    if name == "loop.example.com.":
        return response(name, rdtype, aa=True,
                        answer=["loop.example.com. 300 IN CNAME loop2.example.com.",
                                "loop2.example.com. 300 IN CNAME loop.example.com."])  # fmt: skip
    return response(name, rdtype, aa=True, rcode=dns.rcode.NXDOMAIN,
                    authority=["example.com. 3600 IN SOA ns. h. 1 2 3 4 300"])  # fmt: skip


def test_walk_follows_referrals_with_minimised_names() -> None:
    result, sent = drive(Question(n("www.example.com."), dns.rdatatype.A), world)
    assert result.rcode == dns.rcode.NOERROR
    assert address_text(result.answer[0].rdatas[0]) == "192.0.2.1"
    asked = [(s.target.address, to_text(s.query.qname)) for s in sent]
    assert asked == [
        ("127.0.0.2", "com."),
        ("127.0.0.10", "example.com."),
        ("127.0.0.20", "www.example.com."),
    ]
    assert all(not s.query.rd for s in sent)  # RD=0 upstream


def test_second_name_starts_at_the_cached_cut() -> None:
    clock = FakeClock()
    cache = Cache(CacheConfig(), clock)
    drive(Question(n("www.example.com."), dns.rdatatype.A), world, cache=cache)
    result, sent = drive(Question(n("nope.example.com."), dns.rdatatype.A), world, cache=cache)
    assert result.rcode == dns.rcode.NXDOMAIN
    assert [s.target.address for s in sent] == ["127.0.0.20"]


def test_cname_loop_fails() -> None:
    with pytest.raises(ResolutionFailed, match="loop"):
        drive(Question(n("loop.example.com."), dns.rdatatype.A), world, qmin=False)


def test_glueless_delegation_asks_for_a_subquery() -> None:
    def glueless(send: Send) -> dns.message.Message:
        return response(
            to_text(send.query.qname), "A", authority=["org. 172800 IN NS ns.example.net."]
        )

    res = make_resolution(Question(n("www.example.org."), dns.rdatatype.A))
    steps = res.run()
    first = next(steps)
    assert isinstance(first, Send)
    second = steps.send(Exchange(compact(glueless(first)), 0.001, False))
    assert isinstance(second, SubQuery)
    assert second.question == Question(n("ns.example.net."), dns.rdatatype.A)


def test_forward_zone_queries_ask_for_recursion_at_the_given_port() -> None:
    from rootwalk.config import ForwardZone

    config = ResolverConfig(forward_zones=(ForwardZone("corp.example", ("127.0.0.9@5353",)),))
    res = make_resolution(Question(n("host.corp.example."), dns.rdatatype.A), config)
    steps = res.run()
    send = next(steps)
    assert isinstance(send, Send)
    assert (send.target.address, send.target.port) == ("127.0.0.9", 5353)
    assert send.query.rd  # RD=1 towards a forwarder
    assert send.query.qname == n("host.corp.example.")  # not minimised
    # A recursive answer has no AA bit and is still final.
    reply = response("host.corp.example.", "A", answer=["host.corp.example. 60 IN A 10.1.2.3"])
    try:
        steps.send(Exchange(compact(reply), 0.001, False))
    except StopIteration as stop:
        assert address_text(stop.value.answer[0].rdatas[0]) == "10.1.2.3"
    else:
        raise AssertionError("expected the resolution to finish")


def test_do_not_query_localhost_skips_loopback_servers_and_says_why() -> None:
    # Hints and referrals use documentation addresses here (nothing is sent: the core is
    # driven by hand); one server of example.com is "localhost", the other is not.
    hints = parse_hints(". 3600000 NS a.root.\na.root. 3600000 A 192.0.2.2\n")
    events: list[TraceEvent] = []

    def referral_world(send: Send) -> dns.message.Message:
        q = send.query
        return response(
            to_text(q.qname), dns.rdatatype.to_text(q.qtype),
            authority=["example.com. 172800 IN NS ns1.example.com.",
                       "example.com. 172800 IN NS ns2.example.com."],
            additional=["ns1.example.com. 172800 IN A 127.0.0.1",
                        "ns2.example.com. 172800 IN A 192.0.2.20"],
        ) if send.target.address == "192.0.2.2" else response(
            "www.example.com.", "A", aa=True, answer=["www.example.com. 300 IN A 192.0.2.1"]
        )  # fmt: skip

    res = make_resolution(
        Question(n("www.example.com."), dns.rdatatype.A),
        ResolverConfig(qname_minimisation=False),  # the default: do_not_query_localhost
        hints=hints,
        trace=events.append,
    )
    result, sends = run_by_hand(res, referral_world)
    assert address_text(result.answer[0].rdatas[0]) == "192.0.2.1"
    sent = [s.target.address for s in sends]
    assert sent == ["192.0.2.2", "192.0.2.20"]
    skipped = [e for e in events if e.kind == "skipped"]
    assert [e.address for e in skipped] == ["127.0.0.1"]
    assert "do_not_query_localhost" in skipped[0].detail


def test_a_zone_served_only_from_localhost_fails_naming_the_setting() -> None:
    hints = parse_hints(". 3600000 NS a.root.\na.root. 3600000 A 127.0.0.2\n")
    res = make_resolution(
        Question(n("www.example.com."), dns.rdatatype.A), ResolverConfig(), hints=hints
    )
    with pytest.raises(NoReachableServers, match=r"127\.0\.0\.2 not queried: .*localhost"):
        next(res.run())
