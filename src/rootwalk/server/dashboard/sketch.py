"""Bounded top-N sketches for the dashboard: Space-Saving, and a sliding window of them.

Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent and Top-k
Elements in Data Streams", ICDT 2005) keeps at most ``capacity`` counters. A new key, when all
counters are taken, replaces the key with the smallest count and inherits that count as its
possible over-estimate (``error``). Any key seen more than N/capacity times in a stream of N is
guaranteed to be kept, and its count is over-estimated by at most ``error`` <= N/capacity.

The counters sit in a "stream summary": buckets of keys by count, with the smallest count
known, so that adding one is O(1) whatever the capacity (no scan for the minimum). The
dashboard adds in batches (``add(key, weight)``, once per distinct key per second), which the
same structure takes in O(1) too: a key moves from its bucket to the bucket of its new count.

``WindowedTop`` keeps one sketch per time slot (a minute) in a ring; the top keys of the last
W slots are the merge of their sketches (counts and errors summed, the usual merge of
Space-Saving summaries), computed only when a page asks.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

__all__ = ["SpaceSaving", "TopItem", "WindowedTop", "merge"]


@dataclass(frozen=True, slots=True)
class TopItem:
    key: Hashable
    count: int  # an upper bound of the true count
    error: int  # how much of ``count`` may be over-estimate (count - error <= true count)


class SpaceSaving:
    """At most ``capacity`` counters; O(1) per ``add``."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.total = 0  # the stream's length (sum of weights), exact
        self._count: dict[Hashable, int] = {}
        self._error: dict[Hashable, int] = {}
        # count -> the keys with exactly that count; the smallest count is kept in _min.
        self._buckets: dict[int, set[Hashable]] = {}
        self._min = 0

    def __len__(self) -> int:
        return len(self._count)

    def add(self, key: Hashable, weight: int = 1) -> None:
        if weight <= 0:
            return
        self.total += weight
        old = self._count.get(key)
        if old is not None:
            self._move(key, old, old + weight)
            return
        if len(self._count) < self.capacity:
            self._count[key] = weight
            self._error[key] = 0
            self._buckets.setdefault(weight, set()).add(key)
            if len(self._count) == 1 or weight < self._min:
                self._min = weight
            return
        # Full: the new key takes over a counter of the smallest count (any of them) and
        # inherits it as its possible over-estimate.
        low = self._min
        victim = self._buckets[low].pop()
        if not self._buckets[low]:
            del self._buckets[low]
        del self._count[victim], self._error[victim]
        self._count[key] = low + weight
        self._error[key] = low
        self._buckets.setdefault(low + weight, set()).add(key)
        if low not in self._buckets:
            self._min = self._next_min(low)

    def _move(self, key: Hashable, old: int, new: int) -> None:
        bucket = self._buckets[old]
        bucket.discard(key)
        if not bucket:
            del self._buckets[old]
        self._count[key] = new
        self._buckets.setdefault(new, set()).add(key)
        if old == self._min and old not in self._buckets:
            self._min = self._next_min(old)

    def _next_min(self, gone: int) -> int:
        """The smallest count left after bucket ``gone`` (the old minimum) emptied.

        With weight 1 that is always gone + 1 (O(1)); with batch weights the key jumped
        further, and the smallest bucket is searched among those left. The buckets are at most
        ``capacity`` and this runs only when the minimum bucket empties."""
        if not self._buckets:
            return 0
        if gone + 1 in self._buckets:
            return gone + 1
        return min(self._buckets)

    def items(self) -> list[TopItem]:
        return [TopItem(k, c, self._error[k]) for k, c in self._count.items()]

    def top(self, n: int) -> list[TopItem]:
        """The ``n`` largest counts, largest first (ties by key text, for stable output)."""
        return sorted(self.items(), key=lambda t: (-t.count, str(t.key)))[:n]


def merge(sketches: Iterable[SpaceSaving], n: int) -> tuple[list[TopItem], int]:
    """The top ``n`` of several sketches' union, and the union's total.

    A key missing from one sketch may still have been seen there up to that sketch's smallest
    count; adding that to its error keeps ``count - error`` a lower bound (the merge of
    Agarwal et al., "Mergeable Summaries", PODS 2012, in its simple form)."""
    counts: dict[Hashable, int] = {}
    errors: dict[Hashable, int] = {}
    total = 0
    for sketch in sketches:
        total += sketch.total
        for key, count in sketch._count.items():
            counts[key] = counts.get(key, 0) + count
            errors[key] = errors.get(key, 0) + sketch._error[key]
    items = [TopItem(k, c, errors[k]) for k, c in counts.items()]
    return sorted(items, key=lambda t: (-t.count, str(t.key)))[:n], total


class WindowedTop:
    """One ``SpaceSaving`` per ``slot`` seconds, the last ``slots`` of them kept."""

    def __init__(self, capacity: int, slot: float = 60.0, slots: int = 60) -> None:
        self.capacity = capacity
        self.slot = slot
        self.slots = slots
        self._ring: list[tuple[int, SpaceSaving]] = []  # (slot number, sketch), oldest first

    def _current(self, now: float) -> SpaceSaving:
        number = int(now // self.slot)
        if not self._ring or self._ring[-1][0] != number:
            self._ring.append((number, SpaceSaving(self.capacity)))
            if len(self._ring) > self.slots:
                del self._ring[0]
        return self._ring[-1][1]

    def add_counts(self, counts: Iterable[tuple[Hashable, int]], now: float) -> None:
        sketch = self._current(now)
        for key, weight in counts:
            sketch.add(key, weight)

    def top(self, n: int, window: float, now: float) -> tuple[list[TopItem], int]:
        """The top ``n`` over the last ``window`` seconds (whole slots, the current one
        included), and how many were counted in them."""
        newest = int(now // self.slot)
        oldest = newest - max(1, int(-(-window // self.slot))) + 1
        return merge((s for number, s in self._ring if oldest <= number <= newest), n)
