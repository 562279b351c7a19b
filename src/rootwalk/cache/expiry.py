"""The storage both data caches share: a TLRU map whose entries leave at their own expiry.

Built on cachetools.TLRUCache with the injected clock as its timer (guide §7), so entries
expire per their own TTL and the LRU bound holds. With serve-stale on, entries are kept
``cache.max_stale`` seconds past expiry (RFC 8767 §4); readers decide whether to use them.
Keys are (owner name, type); every store or removal is reported to ``on_change`` with the
owner name, so that derived caches (the front end's rendered answers) can follow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import cachetools

from rootwalk.config import CacheConfig
from rootwalk.wire.names import is_subdomain

__all__ = ["Expiring", "ExpiringStore"]

Key = tuple[bytes, int]  # (wire owner name, type)


class Expiring(Protocol):
    @property
    def expires(self) -> float: ...


V = TypeVar("V", bound=Expiring)


class ExpiringStore(Generic[V]):
    def __init__(self, config: CacheConfig, timer: Callable[[], float], maxsize: int) -> None:
        self._config = config
        grace = float(config.max_stale) if config.serve_stale else 0.0

        def ttu(_key: Key, entry: V, _now: float) -> float:
            return entry.expires + grace

        self._data: cachetools.TLRUCache[Key, V] = cachetools.TLRUCache(
            maxsize=maxsize, ttu=ttu, timer=timer
        )
        # Called with the owner name whenever an entry is stored or removed (see Cache.watch).
        self.on_change: Callable[[bytes], None] | None = None

    def __len__(self) -> int:
        return len(self._data)

    def _get(self, key: Key) -> V | None:
        """The entry, or None. A miss (the common case when walking up a name) costs one
        membership test; cachetools' own ``get`` does more work for it."""
        data = self._data
        if key not in data:
            return None
        try:
            return data[key]
        except KeyError:  # expired between the two reads
            return None

    def _store(self, key: Key, entry: V) -> None:
        self._data[key] = entry
        if self.on_change is not None:
            self.on_change(key[0])

    def remove(self, name: bytes, rdtype: int | None = None) -> int:
        """Drop the entries owned by ``name`` (of type ``rdtype`` only, if given)."""
        keys = [k for k in list(self._data.keys()) if k[0] == name and rdtype in (None, k[1])]
        for k in keys:
            self._data.pop(k, None)
        if keys and self.on_change is not None:
            self.on_change(name)
        return len(keys)

    def remove_below(self, zone: bytes) -> int:
        """Drop every entry owned by ``zone`` or a name below it (``ctl flush-zone``)."""
        keys = [k for k in list(self._data.keys()) if is_subdomain(k[0], zone)]
        for k in keys:
            self._data.pop(k, None)
        if self.on_change is not None:
            for name in {k[0] for k in keys}:
                self.on_change(name)
        return len(keys)

    def clear(self) -> None:
        self._data.clear()

    def items(self) -> list[tuple[Key, V]]:
        return list(self._data.items())
