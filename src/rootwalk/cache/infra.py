"""Per-server knowledge, shared by all questions: smoothed RTT, timeouts, EDNS and lameness.

The analogue of Unbound's infrastructure cache (``services/cache/infra.c``). Entries age out
after ``HOST_TTL`` so that a server's bad day is forgotten (Unbound infra-host-ttl: 900 s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cachetools

__all__ = ["InfraCache", "ServerStats"]

HOST_TTL = 900.0


@dataclass(slots=True)
class ServerStats:
    srtt: float | None = None  # seconds; None until the first measurement
    rttvar: float = 0.0
    timeouts: int = 0  # consecutive
    backoff_until: float = 0.0  # monotonic
    no_edns: bool = False  # answered FORMERR to EDNS: query it without OPT (RFC 6891 §7)
    lame_for: dict[bytes, float] = field(default_factory=dict)  # zone -> until
    # Sent a reply with our ID that was malformed or answered another (or no) question; such
    # a server is avoided for every zone until then (monotonic).
    broken_until: float = 0.0


class InfraCache:
    def __init__(self, timer: Callable[[], float], maxsize: int = 10_000) -> None:
        self._data: cachetools.TTLCache[str, ServerStats] = cachetools.TTLCache(
            maxsize=maxsize, ttl=HOST_TTL, timer=timer
        )

    def get(self, address: str) -> ServerStats | None:
        # Read directly: cachetools' get() checks membership and then reads, consulting the
        # clock twice; selection asks this several times per upstream query.
        try:
            return self._data[address]
        except KeyError:
            return None

    def stats(self, address: str) -> ServerStats:
        s = self.get(address)
        if s is None:
            s = self._data[address] = ServerStats()
        return s

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> list[tuple[str, ServerStats]]:
        return list(self._data.items())

    def clear(self) -> None:
        self._data.clear()
