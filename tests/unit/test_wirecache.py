"""WireCache bookkeeping: lifetimes, TTL rewriting, invalidation by name, the size bound."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rrset

from rootwalk.server.wirecache import WireCache
from rootwalk.wire import parse_query_head

WWW = dns.name.from_text("www.example.org.")
ALIAS = dns.name.from_text("alias.example.org.")


def rendered(name: str, *rrsets: dns.rrset.RRset) -> tuple[bytes, bytes, int]:
    q = dns.message.make_query(name, "A")
    r = dns.message.make_response(q)
    r.answer = list(rrsets)
    head = parse_query_head(q.to_wire(), 1232)
    assert head is not None
    return head[0], r.to_wire(), head[1]


def alias_chain(a_ttl: int) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
    """alias.example.org CNAME (TTL 300) to www.example.org A (TTL ``a_ttl``)."""
    return (
        dns.rrset.from_text(ALIAS, 300, "IN", "CNAME", "www.example.org."),
        dns.rrset.from_text(WWW, a_ttl, "IN", "A", "192.0.2.1"),
    )


def answer_of(entry_tail: bytes, head: bytes, query_name: str) -> dns.message.Message:
    q = dns.message.make_query(query_name, "A").to_wire()
    qend = parse_query_head(q, 1232)
    assert qend is not None
    return dns.message.from_wire(q[:2] + head + q[12 : qend[1]] + entry_tail)


def test_ttls_are_rewritten_and_the_entry_dies_with_the_shortest() -> None:
    cache = WireCache(10)
    key, wire, qend = rendered("alias.example.org.", *alias_chain(60))
    assert cache.put(key, wire, qend, 1000.0, (ALIAS, WWW), 0)
    entry = cache.get(key, 1010.9)
    assert entry is not None
    msg = answer_of(entry.tail, entry.head, "alias.example.org.")
    assert [r.ttl for r in msg.answer] == [290, 50]
    assert cache.get(key, 1059.9) is not None
    assert cache.get(key, 1060.0) is None  # the A record's 60 s are up
    assert len(cache) == 0


def test_zero_ttl_and_empty_answers_are_not_kept() -> None:
    cache = WireCache(10)
    key, wire, qend = rendered(
        "www.example.org.", dns.rrset.from_text(WWW, 0, "IN", "A", "192.0.2.1")
    )
    assert not cache.put(key, wire, qend, 1000.0, (WWW,), 0)
    key, wire, qend = rendered("www.example.org.")
    assert not cache.put(key, wire, qend, 1000.0, (WWW,), 0)
    assert len(cache) == 0


def test_invalidation_by_any_name_the_answer_used() -> None:
    cache = WireCache(10)
    k1, w1, q1 = rendered("alias.example.org.", *alias_chain(300))
    k2, w2, q2 = rendered("www.example.org.", dns.rrset.from_text(WWW, 300, "IN", "A", "192.0.2.1"))
    cache.put(k1, w1, q1, 1000.0, (ALIAS, WWW), 0)
    cache.put(k2, w2, q2, 1000.0, (WWW,), 0)
    cache.invalidate(dns.name.from_text("other.example.org."))
    assert len(cache) == 2
    cache.invalidate(WWW)  # both answers contain www's A record
    assert len(cache) == 0
    cache.put(k1, w1, q1, 1000.0, (ALIAS, WWW), 0)
    cache.invalidate(None)
    assert len(cache) == 0


def test_the_bound_drops_the_oldest_and_its_index() -> None:
    cache = WireCache(2)
    names = [dns.name.from_text(f"n{i}.example.org.") for i in range(3)]
    keys = []
    for name in names:
        key, wire, qend = rendered(
            name.to_text(), dns.rrset.from_text(name, 300, "IN", "A", "192.0.2.1")
        )
        keys.append(key)
        cache.put(key, wire, qend, 1000.0, (name,), 0)
    assert len(cache) == 2
    assert cache.get(keys[0], 1000.0) is None
    assert cache.get(keys[2], 1000.0) is not None
    # The evicted entry left no trace in the name index.
    assert names[0] not in cache._by_name


def test_off_when_size_is_zero() -> None:
    cache = WireCache(0)
    key, wire, qend = rendered(
        "www.example.org.", dns.rrset.from_text(WWW, 300, "IN", "A", "192.0.2.1")
    )
    assert not cache.put(key, wire, qend, 1000.0, (WWW,), 0)


def test_the_first_hit_past_refresh_at_asks_for_one_prefetch() -> None:
    cache = WireCache(10)
    asked: list[bytes] = []
    cache.on_refresh = asked.append
    key, wire, qend = rendered("www.example.org.", alias_chain(60)[1])
    assert cache.put(key, wire, qend, 1000.0, (WWW,), 0, refresh_at=1054.5)
    q = dns.message.make_query("www.example.org.", "A").to_wire()
    seen = cache.lookup(q, q[2:], 1054.2)
    assert seen is not None and not asked
    # The fast path leaves its own check at ``until``: the refresh time, not the next second.
    assert seen.until == 1054.5
    assert cache.lookup(q, q[2:], 1054.6) is not None and asked == [key]
    assert cache.lookup(q, q[2:], 1055.7) is not None and asked == [key]  # once only
