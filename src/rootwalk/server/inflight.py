"""The set of client questions being answered: a bound, and a way to drain it on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["Inflight"]

log = logging.getLogger("rootwalk.server")


class Inflight:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self.tasks)

    def start(
        self, coro: Coroutine[Any, Any, None], *, droppable: bool
    ) -> asyncio.Task[None] | None:
        """Run ``coro`` as a tracked task; None (and ``coro`` closed) when over the limit."""
        if droppable and len(self.tasks) >= self.limit:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
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
