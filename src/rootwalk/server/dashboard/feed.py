"""What the dashboard shows, gathered once a second off the query path.

The handler appends one tuple per answer to ``Handler.tap`` (a bounded deque, O(1)); the
``Feed`` swaps that deque out once a second (``tick``) and does the counting there:

* top names, top clients and top blocked names: one ``collections.Counter`` of the second's
  tuples (C code), then one Space-Saving update per distinct key (sketch.py), in per-minute
  sketches kept for an hour, so any window from one minute to an hour can be asked for;
* the time chart: the handler's counters are read (as ``ctl stats`` does) and the second's
  differences kept in a ring of 600 one-second points and one of 360 ten-second points (the
  last hour);
* the live tail: only while a page streams (``subscribers``), the last ``TAIL_PER_TICK``
  answers of the second become rows; nobody streaming, nothing is formatted.

Latency percentiles come from the handler's histogram (``latency_<cache>_le_<bound>``, the
one /metrics exports), interpolated within a bucket as Prometheus' histogram_quantile does.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from rootwalk.server.dashboard.sketch import WindowedTop
from rootwalk.server.dashboard.walk import rdtype_text
from rootwalk.server.handler import LATENCY_BUCKETS, LATENCY_LABELS
from rootwalk.wire.names import to_text

__all__ = ["TAP_MAX", "Feed", "percentiles"]

#: Answers the handler may leave in the tap between two ticks; more are dropped (oldest
#: first), which only makes the top lists more approximate under a flood.
TAP_MAX = 200_000
#: Tail rows taken from one second of answers: a person reads a few a second at most.
TAIL_PER_TICK = 50
TAIL_KEEP = 500
SKETCH_CAPACITY = 256
WINDOWS = (60, 300, 900, 3600)
_RCODES = ("NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED")
_RCODE_TEXT = dict(enumerate(("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED")))


def _rcode(value: int) -> str:
    return _RCODE_TEXT.get(value) or str(value)


def percentiles(
    buckets: Mapping[str, int], qs: tuple[float, ...] = (0.5, 0.9, 0.99)
) -> dict[str, float | None]:
    """Latency quantiles (ms) from per-bucket counts keyed by ``LATENCY_LABELS``: linear
    within the bucket that holds the quantile; the open last bucket reports its lower bound.
    None for each when nothing was counted."""
    counts = [buckets.get(label, 0) for label in LATENCY_LABELS]
    total = sum(counts)
    out: dict[str, float | None] = {}
    for q in qs:
        key = f"p{q * 100:g}"
        if not total:
            out[key] = None
            continue
        rank = q * total
        seen = 0
        lower = 0.0
        value = LATENCY_BUCKETS[-1]
        for i, n in enumerate(counts):
            upper = LATENCY_BUCKETS[i] if i < len(LATENCY_BUCKETS) else None
            if n and seen + n >= rank:
                value = lower if upper is None else lower + (upper - lower) * (rank - seen) / n
                break
            seen += n
            if upper is not None:
                lower = upper
        out[key] = round(value * 1000, 3)
    return out


def _latency_of(stats: Mapping[str, int], cache: str) -> dict[str, int]:
    prefix = f"latency_{cache}_le_"
    return {label: stats.get(prefix + label, 0) for label in LATENCY_LABELS}


class Feed:
    """The dashboard's numbers; ``tick()`` once a second (DashboardService runs it)."""

    def __init__(
        self,
        tap_owner: Any,
        stats: Callable[[], Mapping[str, int]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.owner = tap_owner  # the Handler: its ``tap`` attribute is swapped each tick
        self.stats = stats
        self.clock = clock
        self.names = WindowedTop(SKETCH_CAPACITY)
        self.clients = WindowedTop(SKETCH_CAPACITY)
        self.blocked = WindowedTop(SKETCH_CAPACITY)
        self.second: deque[dict[str, Any]] = deque(maxlen=600)
        self.ten: deque[dict[str, Any]] = deque(maxlen=360)
        self._pending_ten: list[dict[str, Any]] = []
        self.tail: deque[dict[str, Any]] = deque(maxlen=TAIL_KEEP)
        self._ids = itertools.count(1)
        self.subscribers = 0  # pages streaming: the tail is filled only while > 0
        self._last: Mapping[str, int] | None = None
        # (time, hit buckets, miss buckets) a second apart, for the last minute's percentiles.
        self._lat: deque[tuple[float, dict[str, int], dict[str, int]]] = deque(maxlen=61)
        self.latest: dict[str, Any] = {}

    def attach(self) -> None:
        self.owner.tap = deque(maxlen=TAP_MAX)
        self._last = self.stats()

    def detach(self) -> None:
        self.owner.tap = None

    # -- once a second ----------------------------------------------------------------------

    def tick(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Take the second's answers and counters; returns (the point, new tail rows)."""
        now = self.clock()
        batch = self.owner.tap
        if batch is None:
            batch = deque()
        else:
            self.owner.tap = deque(maxlen=TAP_MAX)
        rows = self._count(batch, now)
        stats = self.stats()
        point = self._point(stats, now)
        self.second.append(point)
        self._pending_ten.append(point)
        if len(self._pending_ten) >= 10:
            self.ten.append(_sum_points(self._pending_ten))
            self._pending_ten = []
        self._lat.append((now, _latency_of(stats, "hit"), _latency_of(stats, "miss")))
        self.latest = self._summary(stats, point)
        return point, rows

    def _count(self, batch: deque[tuple[Any, ...]], now: float) -> list[dict[str, Any]]:
        # One Counter over the whole second (C code), then one sketch update per distinct key.
        names: Counter[bytes] = Counter()
        clients: Counter[str] = Counter()
        blocked: Counter[bytes] = Counter()
        keys = Counter(t[0] if len(t) == 3 else (t[0], t[1]) for t in batch)
        for key, n in keys.items():
            # A fast-path key is the question's name (less its root label), type, variant.
            names[key[0] if isinstance(key, tuple) else key[:-3] + b"\x00"] += n
        clients.update(t[1] if len(t) == 3 else t[2] for t in batch)
        blocked.update(t[0] for t in batch if len(t) == 6 and t[5] == "blocked")
        self.names.add_counts(names.items(), now)
        self.clients.add_counts(clients.items(), now)
        self.blocked.add_counts(blocked.items(), now)
        if not self.subscribers:
            return []
        last = itertools.islice(batch, max(0, len(batch) - TAIL_PER_TICK), None)
        rows = [self._row(t, now) for t in last]
        self.tail.extend(rows)
        return rows

    def _row(self, t: tuple[Any, ...], now: float) -> dict[str, Any]:
        if len(t) == 3:
            key, client, rcode = t
            name, qtype, ms, how = key[:-3] + b"\x00", (key[-3] << 8) | key[-2], 0.0, "cache"
        else:
            name, qtype, client, rcode, seconds, how = t
            ms = seconds * 1000.0
        return {
            "id": next(self._ids),
            "t": now,
            "client": str(client),
            "name": to_text(name),
            "type": rdtype_text(qtype) if qtype is not None else "-",
            "rcode": _rcode(rcode),
            "ms": round(ms, 2),
            "how": how,
        }

    def _point(self, stats: Mapping[str, int], now: float) -> dict[str, Any]:
        last = self._last or {}
        self._last = stats

        def d(key: str) -> int:
            return max(0, stats.get(key, 0) - last.get(key, 0))

        return {
            "t": round(now, 3),
            "queries": d("queries_udp") + d("queries_tcp"),
            "hit": d("cache_hit") + d("cache_stale"),
            "miss": d("cache_miss"),
            "blocked": d("blocked"),
            "nxdomain": d("rcode_NXDOMAIN"),
            "servfail": d("rcode_SERVFAIL"),
            "upstream": d("upstream_queries"),
            "seconds": 1,
        }

    def _summary(self, stats: Mapping[str, int], point: dict[str, Any]) -> dict[str, Any]:
        hits = stats.get("cache_hit", 0) + stats.get("cache_stale", 0)
        misses = stats.get("cache_miss", 0)
        rcodes = {k[6:]: v for k, v in stats.items() if k.startswith("rcode_") and v}
        for r in _RCODES:
            rcodes.setdefault(r, 0)
        types: Counter[str] = Counter()
        for k, v in stats.items():
            if k.startswith("answers_type_") and v:
                types[k[13:].rpartition("_")[0]] += v
        minute_ago = self._lat[0]
        newest = self._lat[-1]
        return {
            "t": point["t"],
            "qps": point["queries"],
            "queries": stats.get("queries_udp", 0) + stats.get("queries_tcp", 0),
            "hits": hits,
            "misses": misses,
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
            "blocked": stats.get("blocked", 0),
            "rcodes": dict(sorted(rcodes.items(), key=lambda kv: -kv[1])),
            "types": dict(types.most_common(12)),
            "cache_entries": stats.get("cache_entries", 0),
            "upstream_queries": stats.get("upstream_queries", 0),
            "uptime": stats.get("uptime_seconds", 0),
            "latency": {
                "hit": percentiles(_latency_of(stats, "hit")),
                "miss": percentiles(_latency_of(stats, "miss")),
                "hit_minute": percentiles(_diff(newest[1], minute_ago[1])),
                "miss_minute": percentiles(_diff(newest[2], minute_ago[2])),
            },
        }

    # -- on request -------------------------------------------------------------------------

    def top(self, window: float, n: int = 20) -> dict[str, Any]:
        now = self.clock()
        out: dict[str, Any] = {"window": window}
        for label, sketch, text in (
            ("names", self.names, True),
            ("clients", self.clients, False),
            ("blocked", self.blocked, True),
        ):
            items, total = sketch.top(n, window, now)
            out[label] = {
                "total": total,
                "items": [
                    {
                        "key": to_text(i.key) if text else str(i.key),  # type: ignore[arg-type]
                        "count": i.count,
                        "error": i.error,
                    }
                    for i in items
                ],
            }
        return out

    def history(self) -> dict[str, Any]:
        return {"second": list(self.second), "ten": list(self.ten)}


def _diff(new: Mapping[str, int], old: Mapping[str, int]) -> dict[str, int]:
    return {k: max(0, v - old.get(k, 0)) for k, v in new.items()}


def _sum_points(points: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"t": points[-1]["t"]}
    for key in ("queries", "hit", "miss", "blocked", "nxdomain", "servfail", "upstream"):
        out[key] = sum(p[key] for p in points)
    out["seconds"] = len(points)
    return out
