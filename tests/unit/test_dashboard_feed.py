"""The dashboard's pure parts: Space-Saving sketches, latency percentiles, walk JSON, and the
once-a-second feed (driven by hand with a stand-in handler: no sockets, no clock)."""

from __future__ import annotations

import random
from collections import Counter, deque
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rootwalk.resolution import TraceEvent, TraceKind
from rootwalk.server.dashboard.feed import TAIL_PER_TICK, Feed, percentiles
from rootwalk.server.dashboard.sketch import SpaceSaving, WindowedTop, merge
from rootwalk.server.dashboard.walk import walk_json
from rootwalk.server.handler import LATENCY_LABELS
from rootwalk.wire.names import from_text

# -- Space-Saving ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 40), max_size=400),
    st.integers(1, 12),
    st.lists(st.integers(1, 5), min_size=1, max_size=4),
)
def test_space_saving_bounds(stream: list[int], capacity: int, weights: list[int]) -> None:
    """The guarantees of Metwally et al.: count - error <= true <= count for kept keys, every
    key more frequent than N/capacity is kept, error <= N/capacity; with weights too."""
    sketch = SpaceSaving(capacity)
    exact: Counter[int] = Counter()
    for i, key in enumerate(stream):
        w = weights[i % len(weights)]
        sketch.add(key, w)
        exact[key] += w
    n = sum(exact.values())
    assert sketch.total == n
    assert len(sketch) <= capacity
    kept = {i.key: i for i in sketch.items()}
    for item in kept.values():
        assert item.count - item.error <= exact[item.key] <= item.count  # type: ignore[index]
        assert item.error <= n / capacity
    for key, count in exact.items():
        if count > n / capacity:
            assert key in kept, (key, count, n, capacity)
    # The smallest-count bucket the sketch tracks is the true minimum (what O(1) relies on).
    if kept:
        assert sketch._min == min(i.count for i in kept.values())


def test_space_saving_top_finds_heavy_hitters() -> None:
    rng = random.Random(7)
    sketch = SpaceSaving(20)
    stream = ["hot"] * 500 + ["warm"] * 200 + [f"cold{rng.randrange(5000)}" for _ in range(3000)]
    rng.shuffle(stream)
    for key in stream:
        sketch.add(key)
    top = sketch.top(2)
    assert [t.key for t in top] == ["hot", "warm"]
    assert top[0].count - top[0].error <= 500 <= top[0].count


def test_merge_and_window() -> None:
    a, b = SpaceSaving(4), SpaceSaving(4)
    for k in "aaab":
        a.add(k)
    for k in "aabc":
        b.add(k)
    items, total = merge([a, b], 2)
    assert total == 8
    assert [(i.key, i.count) for i in items] == [("a", 5), ("b", 2)]

    w = WindowedTop(capacity=8, slot=60, slots=3)
    w.add_counts([("x", 5)], now=0)
    w.add_counts([("y", 7)], now=65)
    w.add_counts([("x", 4)], now=130)
    items, total = w.top(5, 60, now=130)  # the current minute only
    assert [(i.key, i.count) for i in items] == [("x", 4)] and total == 4
    items, total = w.top(5, 180, now=130)
    assert [(i.key, i.count) for i in items] == [("x", 9), ("y", 7)] and total == 16
    w.add_counts([("z", 1)], now=200)  # a fourth minute: the first falls out of the ring
    items, _ = w.top(5, 3600, now=200)
    assert {i.key: i.count for i in items} == {"x": 4, "y": 7, "z": 1}


# -- percentiles ----------------------------------------------------------------------------


def test_percentiles_interpolate_within_buckets() -> None:
    assert percentiles({}) == {"p50": None, "p90": None, "p99": None}
    # 100 answers: 50 under 0.5 ms, 50 between 5 and 10 ms.
    buckets = {LATENCY_LABELS[0]: 50, "0.01": 50}
    p = percentiles(buckets, (0.5, 0.75, 1.0))
    assert p["p50"] == 0.5  # the top of the first bucket
    assert p["p75"] == 7.5  # halfway into 5..10 ms
    assert p["p100"] == 10.0
    # The open last bucket (> 5 s) reports its lower bound.
    assert percentiles({"inf": 3}, (0.5,))["p50"] == 5000.0


# -- walk JSON ------------------------------------------------------------------------------


def test_walk_json_marks_exchanges() -> None:
    ev = [
        TraceEvent(0, TraceKind.START, from_text("www.example.com"), 1, zone=from_text(".")),
        TraceEvent(
            0,
            TraceKind.REFERRAL,
            from_text("com"),
            1,
            zone=from_text("."),
            server=from_text("a.root-servers.net"),
            address="127.1.0.2",
            rtt=0.0012,
            detail="to com.",
        ),
        TraceEvent(0, TraceKind.TIMEOUT, from_text("example.com"), 1, zone=from_text("com")),
        TraceEvent(0, TraceKind.CACHE, from_text("www.example.com"), 28, detail="NODATA"),
    ]
    hops = walk_json(ev)
    assert [h["asked"] for h in hops] == [False, True, True, False]
    assert hops[1] == {
        "kind": "referral",
        "depth": 0,
        "qname": "com.",
        "qtype": "A",
        "zone": ".",
        "server": "a.root-servers.net.",
        "address": "127.1.0.2",
        "rtt_ms": 1.2,
        "tcp": False,
        "detail": "to com.",
        "asked": True,
        "dnssec": None,
    }
    assert hops[2]["rtt_ms"] is None and hops[3]["qtype"] == "AAAA"


# -- the feed -------------------------------------------------------------------------------


class _Handler:
    tap: deque[tuple[Any, ...]] | None = None


def _feed() -> tuple[Feed, _Handler, dict[str, int], list[float]]:
    handler = _Handler()
    stats: dict[str, int] = {}
    now = [1000.0]
    feed = Feed(handler, lambda: dict(stats), clock=lambda: now[0])
    feed.attach()
    return feed, handler, stats, now


def _key(name: str, qtype: int) -> bytes:
    """A fast-path key as rootwalk.wire.query builds it: the name less its root label,
    the type, the variant byte."""
    return from_text(name)[:-1] + qtype.to_bytes(2, "big") + b"\x00"


def test_feed_counts_tops_from_both_paths() -> None:
    feed, handler, stats, now = _feed()
    assert handler.tap is not None
    for _ in range(3):
        handler.tap.append((_key("www.example.com", 1), "127.0.0.5", 0))  # fast path
    handler.tap.append((from_text("www.example.com"), 28, "127.0.0.6", 0, 0.004, "walk"))
    handler.tap.append((from_text("ads.example"), 1, "127.0.0.6", 3, 0.001, "blocked"))
    stats.update(queries_udp=5, cache_hit=3, cache_miss=1, blocked=1)
    point, rows = feed.tick()
    assert rows == []  # nobody streaming: no tail rows are made
    assert point["queries"] == 5 and point["hit"] == 3 and point["blocked"] == 1
    top = feed.top(60)
    assert top["names"]["items"][0] == {"key": "www.example.com.", "count": 4, "error": 0}
    assert {i["key"]: i["count"] for i in top["clients"]["items"]} == {
        "127.0.0.5": 3,
        "127.0.0.6": 2,
    }
    assert [i["key"] for i in top["blocked"]["items"]] == ["ads.example."]
    assert feed.latest["hit_ratio"] == 0.75
    # The next second's point is a difference, not the running total.
    stats.update(queries_udp=7)
    now[0] += 1
    point, _ = feed.tick()
    assert point["queries"] == 2 and point["hit"] == 0


def test_feed_tail_only_while_streaming_and_bounded() -> None:
    feed, handler, _stats, _now = _feed()
    assert handler.tap is not None
    feed.subscribers = 1
    for i in range(TAIL_PER_TICK + 30):
        handler.tap.append((from_text(f"n{i}.example"), 1, "::1", 0, 0.0021, "walk"))
    handler.tap.append((_key("www.example.com", 28), "127.0.0.9", 3))
    _point, rows = feed.tick()
    assert len(rows) == TAIL_PER_TICK  # the last of the second
    assert rows[-1] == {
        "id": rows[-1]["id"],
        "t": 1000.0,
        "client": "127.0.0.9",
        "name": "www.example.com.",
        "type": "AAAA",
        "rcode": "NXDOMAIN",
        "ms": 0.0,
        "how": "cache",
    }
    assert rows[-2]["ms"] == 2.1 and rows[-2]["how"] == "walk"
    assert list(feed.tail)[-1] == rows[-1]
    feed.detach()
    assert handler.tap is None
