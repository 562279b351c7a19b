"""The storage both data caches share: a TLRU map whose entries leave at their own expiry.

Built on cachetools.TLRUCache with the injected clock as its timer (guide §7), so entries
expire per their own TTL and the LRU bound holds. With serve-stale on, entries are kept
``cache.max_stale`` seconds past expiry (RFC 8767 §4); readers decide whether to use them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Protocol, TypeVar

import cachetools

from rootwalk.config import CacheConfig

__all__ = ["Expiring", "expiring_map"]


class Expiring(Protocol):
    @property
    def expires(self) -> float: ...


K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=Expiring)


def expiring_map(
    config: CacheConfig, timer: Callable[[], float], maxsize: int
) -> cachetools.TLRUCache[K, V]:
    grace = float(config.max_stale) if config.serve_stale else 0.0

    def ttu(_key: K, entry: V, _now: float) -> float:
        return entry.expires + grace

    return cachetools.TLRUCache(maxsize=maxsize, ttu=ttu, timer=timer)
