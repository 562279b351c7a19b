"""The set of client questions being answered: a bound, and a way to drain it on shutdown.

When the table is full, a new UDP question is the one most worth answering: its stub is still
waiting, while the oldest one's may already have given up (or retried, as a new question). So
the oldest UDP question makes room if it has waited longer than ``jostle`` seconds
(``limits.jostle_timeout``, as the resolver's own table and Unbound's mesh_make_new_space);
only its wait for an answer is cancelled, since the resolution it waits on is shared
(resolver.py shields it) and still fills the cache for the stub's retry. Otherwise the new
question is dropped. TCP questions are never pushed out nor dropped: their connection waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine
from typing import Any

__all__ = ["Inflight"]

log = logging.getLogger("rootwalk.server")


class Inflight:
    def __init__(self, limit: int, stats: Counter[str] | None = None, jostle: float = 0.2) -> None:
        self.limit = limit
        self.jostle = jostle
        self.tasks: set[asyncio.Task[None]] = set()
        # The UDP (droppable) tasks by the time their question was read, oldest first.
        self._droppable: dict[asyncio.Task[None], float] = {}
        self.stats: Counter[str] = stats if stats is not None else Counter()

    def __len__(self) -> int:
        return len(self.tasks)

    def start(
        self, coro: Coroutine[Any, Any, None], *, droppable: bool, born: float = 0.0
    ) -> asyncio.Task[None] | None:
        """Run ``coro`` as a tracked task; None (and ``coro`` closed) when over the limit.

        ``born``: when a droppable question was read (loop.time() clock), to find the oldest."""
        if droppable and len(self.tasks) >= self.limit and not self._evict(born):
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        if droppable:
            self._droppable[task] = born
        task.add_done_callback(self._done)
        return task

    def _evict(self, now: float) -> bool:
        """Cancel the oldest UDP question if it has waited longer than ``jostle``."""
        for task, born in self._droppable.items():
            if task.done():
                # Answered, and only its done-callback is still scheduled: the slot is free.
                self._done(task)
                return True
            if now - born <= self.jostle:
                return False
            del self._droppable[task]
            self.tasks.discard(task)  # its slot is free now; cancellation lands later
            task.cancel()
            self.stats["dropped_evicted"] += 1
            return True
        return False

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self._droppable.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("question task failed", exc_info=task.exception())

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the tasks; cancel what is left; return its count."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        left = list(self.tasks)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=1.0)
        return len(left)
