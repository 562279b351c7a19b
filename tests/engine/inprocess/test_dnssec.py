"""DNSSEC validation against time, in process on the fake clock (issue #12).

The lab signs for 365 days (docs/lab.md, "The signed lab"); ``FakeClock`` starts inside that
window. Moving the clock past ``SignedZone.expiration`` is the only way to see signatures
expire without waiting a year: RFC 4034 §3.1.5 (validity in serial-number arithmetic against
the resolver's own clock) and RFC 4035 §5.3.3 (a cached RRset lives no longer than its
signature).
"""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdatatype

from rootwalk.clock import FakeClock
from rootwalk.dnssec.verify import Security
from rootwalk.errors import EDE
from rootwalk.lab.inprocess import InLab
from rootwalk.resolver import Resolver
from rootwalk.wire.names import from_text

from .conftest import make_resolver

A = dns.rdatatype.A


def expiration(inlab: InLab, zone: str) -> int:
    return inlab.world.signed_zones[dns.name.from_text(zone)].expiration


async def test_signatures_expire_as_the_clock_passes_their_expiration(
    inlab: InLab, resolver: Resolver, clock: FakeClock
) -> None:
    name = from_text("www.example.com")
    r = await resolver.resolve(name, A)
    assert r.rcode == dns.rcode.NOERROR and r.security is Security.SECURE
    # Ten seconds before the end of the window: still secure, and the answer's TTL is cut to
    # what is left of its signature (RFC 4035 §5.3.3), not its 300 s.
    end = expiration(inlab, "example.com")
    clock.advance(end - 10 - clock.now())
    r = await resolver.resolve(name, A)
    assert r.rcode == dns.rcode.NOERROR and r.security is Security.SECURE
    assert 0 < r.answer[0].ttl <= 10, r.answer
    r = await resolver.resolve(name, A)
    assert r.from_cache and 0 < r.answer[0].ttl <= 10, r.answer
    # Past the expiration the cached answer is gone, and the lab's signatures (made for 365
    # days) no longer validate: SERVFAIL with EDE 7, Signature Expired.
    clock.advance(20)
    r = await resolver.resolve(name, A)
    assert r.rcode == dns.rcode.SERVFAIL, r
    assert r.ede and r.ede[0][0] == EDE.SIGNATURE_EXPIRED, r.ede
    assert "expired" in r.ede[0][1]
    # With CD the data still comes, marked bogus (RFC 4035 §3.2.2).
    r = await resolver.resolve(name, A, cd=True)
    assert r.rcode == dns.rcode.NOERROR and r.answer and r.security is Security.BOGUS


async def test_signatures_not_yet_valid_before_their_inception(
    inlab: InLab,
) -> None:
    """A clock set back before the lab's inception: EDE 8, Signature Not Yet Valid. The fake
    clock only moves forward: a resolver on a clock that starts an hour before the inception."""
    zone = inlab.world.signed_zones[dns.name.from_text("example.net")]
    early = FakeClock(start=zone.inception - 3600)
    behind = make_resolver(inlab, early)
    r = await behind.resolve(from_text("www.example.net"), A)
    assert r.rcode == dns.rcode.SERVFAIL, r
    assert r.ede and r.ede[0][0] == EDE.SIGNATURE_NOT_YET_VALID, r.ede


async def test_an_unsigned_child_served_with_its_signed_parent_is_insecure(
    inlab: InLab, resolver: Resolver
) -> None:
    """example.com's servers also serve the unsigned eng.example.com, so they answer its names
    themselves, with no referral and no RRSIG. The validator asks the DS of eng.example.com
    (the parent side answers: an NSEC with NS and no DS) and finds an unsigned delegation:
    insecure, as Unbound finds by the same walk, not bogus."""
    eng = dns.name.from_text("eng.example.com")
    servers = [inlab.server(k) for k in ("ns1.example.com", "ns2.example.com")]
    for srv in servers:
        srv._zones[eng] = inlab.world.zones[eng]
    try:
        assert (await resolver.resolve(from_text("www.example.com"), A)).security is (
            Security.SECURE
        )
        for srv in servers:
            srv.reset_counters()
        r = await resolver.resolve(from_text("www.eng.example.com"), A)
        assert r.rcode == dns.rcode.NOERROR, r.ede
        assert r.security is Security.INSECURE
        assert r.answer[0].rdatas == (bytes([192, 0, 2, 30]),)
        # Answered by example.com's own servers, and the DS was asked of them too.
        assert sum(s.count("www.eng.example.com", "A") for s in servers) == 1
        assert sum(s.count("eng.example.com", "DS") for s in servers) == 1
        assert inlab.server("ns1.eng.example.com").count() == 0
    finally:
        for srv in servers:
            del srv._zones[eng]
