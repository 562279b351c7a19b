import dns.rdatatype

from rootwalk.cache import Cache, Trust
from rootwalk.clock import FakeClock
from rootwalk.config import CacheConfig

from .helpers import cl, n, response, rr

A = dns.rdatatype.A


def make(**kw: object) -> tuple[Cache, FakeClock]:
    clock = FakeClock()
    return Cache(CacheConfig(**kw), clock), clock  # type: ignore[arg-type]


def test_ttl_counts_down_and_entries_expire() -> None:
    cache, clock = make()
    cache.rrsets.put(rr("www.example.com. 300 IN A 192.0.2.1"), Trust.AUTH_ANSWER, clock.now())
    clock.advance(100)
    hit = cache.lookup(n("www.example.com."), A, clock.now())
    assert hit is not None and hit.complete and hit.answer[0].ttl == 200
    clock.advance(201)
    assert cache.lookup(n("www.example.com."), A, clock.now()) is None


def test_ttl_zero_is_not_cached_and_ttls_are_clamped() -> None:
    cache, clock = make(max_ttl=86400, min_ttl=60)
    assert not cache.rrsets.put(rr("z.example.com. 0 IN A 192.0.2.1"), Trust.AUTH_ANSWER, 0)
    cache.rrsets.put(rr("long.example.com. 604800 IN A 192.0.2.1"), Trust.AUTH_ANSWER, clock.now())
    cache.rrsets.put(rr("short.example.com. 5 IN A 192.0.2.1"), Trust.AUTH_ANSWER, clock.now())
    assert cache.lookup(n("long.example.com."), A, clock.now()).answer[0].ttl == 86400  # type: ignore[union-attr]
    assert cache.lookup(n("short.example.com."), A, clock.now()).answer[0].ttl == 60  # type: ignore[union-attr]


def test_glue_never_replaces_an_answer_and_is_not_served_to_clients() -> None:
    cache, clock = make()
    now = clock.now()
    cache.rrsets.put(rr("ns1.example.com. 300 IN A 192.0.2.1"), Trust.AUTH_ANSWER, now)
    assert not cache.rrsets.put(rr("ns1.example.com. 300 IN A 127.66.66.66"), Trust.GLUE, now)
    assert cache.addresses(n("ns1.example.com."), now) == ["192.0.2.1"]
    cache.rrsets.put(rr("ns2.example.com. 300 IN A 192.0.2.2"), Trust.GLUE, now)
    assert cache.lookup(n("ns2.example.com."), A, now) is None  # glue answers no client
    assert cache.addresses(n("ns2.example.com."), now) == ["192.0.2.2"]  # but reaches servers


def test_referral_ns_does_not_extend_its_own_life() -> None:
    cache, clock = make()
    ns = rr("example.com. 100 IN NS ns1.example.com.")
    cache.rrsets.put(ns, Trust.AUTHORITY, clock.now())
    clock.advance(90)
    assert not cache.rrsets.put(ns, Trust.AUTHORITY, clock.now())
    clock.advance(11)
    assert cache.closest_delegation(n("www.example.com."), clock.now()) is None


def test_negative_ttl_is_lesser_of_soa_ttl_and_minimum_and_nxdomain_cuts() -> None:
    cache, clock = make()
    r = response(
        "nope.example.net.", "A", aa=True, rcode=3,
        authority=["example.net. 120 IN SOA ns.example.net. h.example.net. 1 2 3 4 600"],
    )  # fmt: skip
    cache.store(cl(r, n("nope.example.net."), A, n("example.net.")), clock.now())
    hit = cache.lookup(n("below.nope.example.net."), dns.rdatatype.MX, clock.now())
    assert hit is not None and hit.nxdomain  # RFC 8020: nothing exists below an NXDOMAIN
    assert hit.soa is not None and hit.soa.ttl == 120
    clock.advance(121)
    assert cache.lookup(n("nope.example.net."), A, clock.now()) is None


def test_cname_chain_and_stale_answers() -> None:
    cache, clock = make(stale_answer_ttl=30)
    now = clock.now()
    cache.rrsets.put(rr("alias.example.com. 300 IN CNAME www.example.com."), Trust.AUTH_ANSWER, now)
    cache.rrsets.put(rr("www.example.com. 10 IN A 192.0.2.1"), Trust.AUTH_ANSWER, now)
    hit = cache.lookup(n("alias.example.com."), A, now)
    assert hit is not None and hit.complete and len(hit.chain) == 1
    clock.advance(20)
    partial = cache.lookup(n("alias.example.com."), A, clock.now())
    assert partial is not None and not partial.complete and partial.target == n("www.example.com.")
    stale = cache.lookup(n("alias.example.com."), A, clock.now(), stale=True)
    assert stale is not None and stale.stale and stale.answer[0].ttl == 30
