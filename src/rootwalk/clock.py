"""Time is passed in, never read inside logic (guide §7).

The caches count TTLs in wall-clock seconds, as Unbound does: DNSSEC signature validity (next
capability) is a wall-clock notion, and one clock for both keeps them consistent. Tests use
FakeClock and move it.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "ShiftedClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch; drives TTLs."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds; drives timeouts and RTT measurement."""
        ...


class SystemClock:
    # The C functions themselves, not wrappers: the cache-hit fast path reads the clock on
    # every query, and a Python-level call costs more than the read.
    now = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)


class FakeClock:
    """A clock that moves only when told; monotonic and wall time move together."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._wall = start
        self._mono = 1000.0

    def now(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds


class ShiftedClock:
    """Real time, with wall-clock time movable forward: for tests over real sockets that need
    TTLs to pass (timeouts and RTTs stay real)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        self.offset += seconds
