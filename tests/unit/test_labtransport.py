"""LabTransport: the in-process stand-in for DnsTransport mirrors it, and moves the clock exactly.

Pure logic (no sockets): each test asks one lab server through the transport and checks the
outcome, the error class DnsTransport raises in the same situation, and the simulated time.
"""

from __future__ import annotations

import asyncio

import dns.name
import dns.rcode
import pytest

from rootwalk.clock import FakeClock
from rootwalk.errors import UpstreamMismatch, UpstreamTimeout, UpstreamUnreachable
from rootwalk.lab import Faults
from rootwalk.lab.inprocess import DEFAULT_RTT, InLab, LabTransport, Outcome
from rootwalk.transport import OutQuery
from rootwalk.wire.render import build_query

A, TXT = 1, 16
TIMEOUT = 0.4


@pytest.fixture(scope="module")
def inlab() -> InLab:
    return InLab()


@pytest.fixture
def ns1(inlab: InLab) -> str:
    inlab.clear_faults()
    inlab.reset_counters()
    return inlab.server("ns1.example.com").address


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def transport(inlab: InLab, clock: FakeClock) -> LabTransport:
    return inlab.transport(clock)


def wire_name(text: str) -> bytes:
    """The name in wire form with its letter case kept (as sent under DNS 0x20)."""
    wire = dns.name.from_text(text).to_wire()
    assert wire is not None
    return wire


def query(name: str, qtype: int = A, qid: int = 0x1234) -> OutQuery:
    qname = wire_name(name)
    return OutQuery(build_query(qid, qname, qtype, rd=False, edns_payload=1232), qname, qtype)


def test_an_answer_costs_one_round_trip(
    transport: LabTransport, clock: FakeClock, ns1: str, inlab: InLab
) -> None:
    start = clock.monotonic()
    ex = asyncio.run(transport.exchange(query("www.example.com"), ns1, inlab.port, TIMEOUT))
    assert ex.response.rcode == dns.rcode.NOERROR and ex.response.answer and not ex.tcp
    assert ex.rtt == pytest.approx(DEFAULT_RTT)
    assert clock.monotonic() - start == pytest.approx(DEFAULT_RTT)
    assert inlab.server(ns1).count("www.example.com", "A", "udp") == 1
    assert transport.count(Outcome.UDP, ns1) == 1


def test_per_server_rtt_and_delay_add_up(
    transport: LabTransport, clock: FakeClock, ns1: str, inlab: InLab
) -> None:
    transport.rtts[ns1] = 0.05
    inlab.server(ns1).faults = Faults(delay=0.1)
    start = clock.monotonic()
    ex = asyncio.run(transport.exchange(query("www.example.com"), ns1, inlab.port, TIMEOUT))
    assert ex.rtt == pytest.approx(0.15) and clock.monotonic() - start == pytest.approx(0.15)


@pytest.mark.parametrize(
    "faults",
    [Faults(silent=True), Faults(delay=TIMEOUT), Faults(spoof_id=True, spoof_only=True)],
    ids=["silent", "as-late-as-the-timeout", "only-forgeries"],
)
def test_no_reply_in_time_is_a_timeout_after_exactly_the_timeout(
    transport: LabTransport, clock: FakeClock, ns1: str, inlab: InLab, faults: Faults
) -> None:
    inlab.server(ns1).faults = faults
    start = clock.monotonic()
    with pytest.raises(UpstreamTimeout):
        asyncio.run(transport.exchange(query("www.example.com"), ns1, inlab.port, TIMEOUT))
    assert clock.monotonic() - start == pytest.approx(TIMEOUT)
    assert transport.count(Outcome.TIMEOUT, ns1) == 1


@pytest.mark.parametrize("port_offset", [None, 1], ids=["no-server", "wrong-port"])
def test_where_nothing_listens_is_unreachable_at_once(
    transport: LabTransport, clock: FakeClock, inlab: InLab, port_offset: int | None
) -> None:
    # An unused 127/8 address answers ICMP port unreachable: no timeout is waited.
    address = inlab.addr(250) if port_offset is None else inlab.server("ns1.example.com").address
    port = inlab.port + (port_offset or 0)
    start = clock.monotonic()
    with pytest.raises(UpstreamUnreachable):
        asyncio.run(transport.exchange(query("www.example.com"), address, port, TIMEOUT))
    assert clock.monotonic() - start < TIMEOUT
    assert transport.count(Outcome.UNREACHABLE) == 1


def test_a_forgery_with_another_id_is_skipped(
    transport: LabTransport, ns1: str, inlab: InLab
) -> None:
    inlab.server(ns1).faults = Faults(spoof_id=True)
    ex = asyncio.run(transport.exchange(query("www.example.com"), ns1, inlab.port, TIMEOUT))
    assert [r.rtype for r in ex.response.answer] == [A]
    assert ex.response.answer[0].rdata == bytes([192, 0, 2, 1])


@pytest.mark.parametrize(
    "faults",
    [Faults(spoof_question=True), Faults(empty_question=True), Faults(wrong_question=True)],
    ids=["forged-question-first", "no-question", "another-question"],
)
def test_our_id_with_another_question_fails_the_exchange_at_once(
    transport: LabTransport, clock: FakeClock, ns1: str, inlab: InLab, faults: Faults
) -> None:
    inlab.server(ns1).faults = faults
    start = clock.monotonic()
    with pytest.raises(UpstreamMismatch):
        asyncio.run(transport.exchange(query("www.example.com"), ns1, inlab.port, TIMEOUT))
    assert clock.monotonic() - start == pytest.approx(DEFAULT_RTT)
    assert transport.count(Outcome.REJECTED, ns1) == 1


@pytest.mark.parametrize("faults", [Faults(), Faults(truncate=True)], ids=["too-big", "forced"])
def test_truncation_moves_to_tcp(
    transport: LabTransport, clock: FakeClock, ns1: str, inlab: InLab, faults: Faults
) -> None:
    inlab.server(ns1).faults = faults
    name = "big.example.com" if faults == Faults() else "www.example.com"
    qtype = TXT if faults == Faults() else A
    ex = asyncio.run(transport.exchange(query(name, qtype), ns1, inlab.port, TIMEOUT))
    assert ex.tcp and ex.response.answer and not ex.response.flags & 0x0200
    server = inlab.server(ns1)
    assert server.count(name, qtype, "udp") == 1 and server.count(name, qtype, "tcp") == 1
    # One round trip over UDP, then the TCP connection and the query: two more.
    assert ex.rtt == pytest.approx(3 * DEFAULT_RTT)
    assert transport.count(Outcome.TCP, ns1) == 1


def test_0x20_case_is_checked_only_when_asked(inlab: InLab, clock: FakeClock, ns1: str) -> None:
    q = query("WwW.eXaMpLe.CoM")
    strict = inlab.transport(clock, case_sensitive=True)
    ex = asyncio.run(strict.exchange(q, ns1, inlab.port, TIMEOUT))  # the server keeps the case
    assert ex.response.answer
    # An echoed case other than the one expected (here: we expect another): refused under 0x20
    # by the same check_reply as DnsTransport's, accepted without.
    lowered = OutQuery(q.wire, wire_name("WWW.EXAMPLE.COM"), A)
    with pytest.raises(UpstreamMismatch):
        asyncio.run(strict.exchange(lowered, ns1, inlab.port, TIMEOUT))
    lax = inlab.transport(clock)
    assert asyncio.run(lax.exchange(lowered, ns1, inlab.port, TIMEOUT)).response.answer
