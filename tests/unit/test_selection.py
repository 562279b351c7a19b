import random

import dns.name

from rootwalk.cache.infra import InfraCache
from rootwalk.clock import FakeClock
from rootwalk.config import Limits
from rootwalk.selection import Feedback, ServerSelector, Target

T1 = Target("127.0.0.20", dns.name.from_text("ns1.example.com."))
T2 = Target("127.0.0.21", dns.name.from_text("ns2.example.com."))


def make() -> tuple[ServerSelector, FakeClock]:
    clock = FakeClock()
    return ServerSelector(InfraCache(clock.monotonic), clock, Limits(), random.Random(1)), clock


def test_unknown_servers_are_explored_then_fast_ones_preferred() -> None:
    sel, _ = make()
    seen = {sel.choose([T1, T2]).address for _ in range(50)}
    assert seen == {T1.address, T2.address}
    sel.report_rtt(T1.address, 0.002)
    sel.report_rtt(T2.address, 0.900)
    assert all(sel.choose([T1, T2]) == T1 for _ in range(50))


def test_timed_out_server_is_backed_off_but_stays_reachable() -> None:
    sel, clock = make()
    sel.report_rtt(T1.address, 0.002)
    sel.report_rtt(T2.address, 0.002)
    sel.report(T1.address, Feedback.TIMEOUT)
    assert all(sel.choose([T1, T2]) == T2 for _ in range(50))
    assert sel.choose([T1]) == T1  # the only one left is still used
    clock.advance(10)
    assert sel.score(T1.address) < 1.0  # back-off over: eligible for a probe again


def test_formerr_disables_edns_and_rtt_sets_timeout() -> None:
    sel, _ = make()
    assert sel.use_edns(T1.address)
    sel.report(T1.address, Feedback.FORMERR)
    assert not sel.use_edns(T1.address)
    assert sel.timeout_for(T2.address) == Limits().initial_timeout
    sel.report_rtt(T2.address, 0.001)
    assert sel.timeout_for(T2.address) >= 0.2
