"""Rendered answers, kept as wire bytes so a cache hit costs no dnspython at all.

The RRset and negative caches stay the source of truth; an entry here is a rendering of what
they said, derived from one slow-path answer. It is dropped when any RRset or negative entry
for a name it depends on changes (``invalidate``), when its shortest TTL runs out, or when
the server is reconfigured. Unbound keeps the same split: its message cache refers to the
RRset cache and is checked against it; Knot Resolver's packet cache is another example.

On a hit, the stored bytes are copied with the client's ID and question (its exact case, for
0x20-using clients), and the TTL fields, whose offsets were found when the entry was stored,
are rewritten to the remaining time. The rewritten copy is kept for the rest of that second,
so under load most hits are three byte-string slices and a concatenation.

Prefetch takes part at no cost to a hit: an answer's ``refresh_at`` (the last tenth of the
shortest original TTL in it) bounds ``Seen.until``, so the first hit past it leaves the fast
path's two-comparison check and comes through ``lookup``, which calls ``on_refresh(key)`` once
for that answer. The refreshed data replaces the cached data, and ``invalidate`` this answer.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from rootwalk.wire import parse_query_head, ttl_offsets

__all__ = ["Seen", "WireAnswer", "WireCache"]

_TTL = struct.Struct("!I")
_NEVER = float("inf")


@dataclass(slots=True)
class WireAnswer:
    size: int  # bytes in the whole answer
    ttls: tuple[int, ...]  # offset into ``base``, TTL at ``stored``, offset, TTL, ...
    stored: float  # wall-clock seconds
    expires: float
    deps: tuple[bytes, ...]
    tally: int  # the handler's counter slot (by question type and rcode; +1 for TCP)
    head: bytes  # bytes 2..12 of the answer (flags and counts)
    base: bytes  # everything after the question, TTLs as of ``stored``
    tail: bytes  # ``base`` with the TTLs rewritten for ``age``
    age: int = 0  # whole seconds since ``stored`` that ``tail`` reflects
    seen_as: list[bytes] = field(default_factory=list)  # its keys in WireCache.seen
    key: bytes = b""  # its key in WireCache (the question)
    refresh_at: float = _NEVER  # prefetch from then on; _NEVER once asked for

    def refresh(self, age: int) -> None:
        buf = bytearray(self.base)
        ttls = self.ttls
        for i in range(0, len(ttls), 2):
            _TTL.pack_into(buf, ttls[i], ttls[i + 1] - age)
        self.age = age
        self.tail = bytes(buf)


@dataclass(slots=True)
class Seen:
    """One distinct query (all but its ID) and its answer, in that query's letter case."""

    entry: WireAnswer
    qend: int  # offset just past the question
    udp_size: int  # the largest UDP answer the client accepts
    fits_udp: bool  # the answer fits ``udp_size``
    until: float  # ``rest`` is right until then: the TTLs' next second, or the expiry
    rest: bytes  # the answer but its first two bytes (the ID)

    def build(self, raw: bytes) -> None:
        entry = self.entry
        self.rest = entry.head + raw[10 : self.qend - 2] + entry.tail
        self.until = min(entry.expires, entry.stored + entry.age + 1, entry.refresh_at)


class WireCache:
    """A bounded map from question key (see rootwalk.wire) to rendered answer, oldest out first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[bytes, WireAnswer] = {}
        # Which entries each owner name's data went into (lists: almost always one key).
        self._by_name: dict[bytes, list[bytes]] = {}
        # Queries already seen (all but the ID) -> their answers. Always the same dict
        # object (cleared, never replaced): the handler's fast path holds its get method.
        self.seen: dict[bytes, Seen] = {}
        self.edns_payload = 1232  # what parse_query_head caps the client's UDP size at
        # Called with an answer's key the first time it is asked for past its refresh_at.
        self.on_refresh: Callable[[bytes], None] | None = None

    def configure(self, edns_payload: int) -> None:
        self.edns_payload = edns_payload
        self.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, wire: bytes, raw: bytes, now: float) -> Seen | None:
        """The answer for the query ``wire`` (``raw`` is all of it but the ID), ready to send.

        Clients repeat their queries byte for byte but for the ID, so each distinct query is
        parsed once (``parse_query_head``) and remembered in ``seen`` with its whole answer
        but the ID, in the query's own letter case. The fast path reads ``seen`` itself and
        calls this only when it has no answer there, or one past its ``until``.
        """
        seen = self.seen.get(raw)
        if seen is not None:
            entry = seen.entry
            if now < entry.expires:
                age = max(0, int(now - entry.stored))  # a clock stepped back: no older TTLs
                if age != entry.age:
                    entry.refresh(age)
                if now >= entry.refresh_at:
                    self._prefetch(entry)
                seen.build(raw)
                return seen
            self._drop_seen(raw)
        head = parse_query_head(wire, self.edns_payload)
        if head is None:
            return None
        found = self.get(head[0], now)
        if found is None:
            return None
        if now >= found.refresh_at:
            self._prefetch(found)
        if len(self.seen) >= self.max_entries:
            self.seen.clear()
            for other in self._entries.values():
                other.seen_as.clear()
        seen = Seen(found, head[1], head[2], found.size <= head[2], 0.0, b"")
        seen.build(raw)
        self.seen[raw] = seen
        found.seen_as.append(raw)
        return seen

    def _prefetch(self, entry: WireAnswer) -> None:
        entry.refresh_at = _NEVER  # once: the refresh replaces (invalidates) this answer
        if self.on_refresh is not None:
            self.on_refresh(entry.key)

    def _drop_seen(self, raw: bytes) -> None:
        seen = self.seen.pop(raw, None)
        if seen is not None and raw in seen.entry.seen_as:
            seen.entry.seen_as.remove(raw)

    def get(self, key: bytes, now: float) -> WireAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.expires:
            self._drop(key)
            return None
        age = max(0, int(now - entry.stored))
        if age != entry.age:
            entry.refresh(age)
        return entry

    def put(
        self,
        key: bytes,
        wire: bytes,
        qend: int,
        now: float,
        deps: tuple[bytes, ...],
        tally: int,
        refresh_at: float = _NEVER,
    ) -> bool:
        """Keep ``wire`` as the answer for ``key``; False when there is nothing safe to keep.

        A record with TTL 0 must not be reused (RFC 1035 §3.2.1), and an answer without any
        record has no lifetime of its own, so neither is stored.
        """
        if self.max_entries <= 0:
            return False
        ttls = ttl_offsets(wire)
        if not ttls:
            return False
        shortest = min(ttl for _, ttl in ttls)
        if shortest <= 0:
            return False
        if key in self._entries:
            self._drop(key)
        while len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))
        flat = tuple(x for offset, ttl in ttls for x in (offset - qend, ttl))
        tail = wire[qend:]
        entry = WireAnswer(
            len(wire), flat, now, now + shortest, deps, tally, wire[2:12], tail, tail
        )
        entry.key, entry.refresh_at = key, refresh_at
        self._entries[key] = entry
        for name in deps:
            keys = self._by_name.get(name)
            if keys is None:
                self._by_name[name] = [key]
            elif key not in keys:
                keys.append(key)
        return True

    def invalidate(self, name: bytes | None) -> None:
        """Forget every answer built from data owned by ``name``; None forgets everything."""
        if name is None:
            self.clear()
            return
        for key in self._by_name.pop(name, ()):
            self._drop(key)

    def clear(self) -> None:
        for entry in self._entries.values():
            entry.expires = 0.0
        self._entries.clear()
        self._by_name.clear()
        self.seen.clear()

    def _drop(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        entry.expires = 0.0
        for raw in entry.seen_as:
            self.seen.pop(raw, None)
        for name in entry.deps:
            keys = self._by_name.get(name)
            if keys is not None and key in keys:
                keys.remove(key)
                if not keys:
                    del self._by_name[name]
