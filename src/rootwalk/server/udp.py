"""UDP: one datagram, one answer. Nothing a client sends can raise out of here.

A cache hit is answered inline in ``datagram_received`` (Handler.fast): creating a task per
datagram would cost more than the answer itself. Everything else gets a task.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from rootwalk.server.handler import Handler
from rootwalk.server.inflight import Inflight

__all__ = ["UdpProtocol"]

log = logging.getLogger("rootwalk.server")


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler, inflight: Inflight) -> None:
        self.handler = handler
        self.fast = handler.fast
        self.inflight = inflight
        self.transport: asyncio.DatagramTransport | None = None
        self.accepting = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's UDP transport does not subclass DatagramTransport; it has sendto.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.accepting:
            return
        wire = self.fast(data, addr, False)
        if wire is not None:
            try:
                self.transport.sendto(wire, addr)  # type: ignore[union-attr]
            except (OSError, AttributeError) as exc:  # AttributeError: closed under us
                log.debug("UDP send to %s failed: %s", addr, exc)
            return
        try:
            if self.inflight.start(self._serve(data, addr), droppable=True) is None:
                self.handler.stats["dropped_overload"] += 1
        except Exception:  # pragma: no cover - defensive: the loop must survive anything
            log.exception("UDP receive failed")

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier answers (client gone): nothing to do.
        log.debug("UDP socket error: %s", exc)

    async def _serve(self, data: bytes, addr: Any) -> None:
        wire = await self.handler.slow(data, addr, tcp=False)
        transport = self.transport
        if wire is not None and transport is not None and not transport.is_closing():
            try:
                transport.sendto(wire, addr)
            except OSError as exc:
                log.debug("UDP send to %s failed: %s", addr, exc)
