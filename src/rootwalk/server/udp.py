"""UDP: one datagram, one answer. Nothing a client sends can raise out of here.

A cache hit is answered inline in ``datagram_received`` (Handler.fast): creating a task per
datagram would cost more than the answer itself. Everything else gets a task.

Fast answers are sent with ``socket.sendto`` on a duplicate of the listening socket rather than
through the transport: uvloop's ``sendto`` converts and caches the address and checks its
write buffer on every call, and measured against a bare send it cost about 4 % more CPU per
cache hit (bench, interleaved rounds). A UDP datagram is written whole or not at all, so
both writers can share the socket; a send that would block is dropped, as Unbound does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any, cast

from rootwalk.server.acl import Action
from rootwalk.server.handler import Handler
from rootwalk.server.inflight import Inflight

__all__ = ["UdpProtocol"]

log = logging.getLogger("rootwalk.server")


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(
        self, handler: Handler, inflight: Inflight, sock: socket.socket | None = None
    ) -> None:
        self.handler = handler
        self.fast = handler.fast
        self.inflight = inflight
        self.transport: asyncio.DatagramTransport | None = None
        self.accepting = True
        self._sock: socket.socket | None = None
        if sock is not None:
            self._sock = socket.socket(sock.family, sock.type, fileno=os.dup(sock.fileno()))
            self._sock.setblocking(False)
        self._send: Callable[[bytes, Any], object] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's UDP transport does not subclass DatagramTransport; it has sendto.
        self.transport = cast(asyncio.DatagramTransport, transport)
        self._send = self._sock.sendto if self._sock is not None else self.transport.sendto

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._send = None
        if self._sock is not None:
            self._sock.close()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.accepting:
            return
        limit = self.handler.ratelimit  # None: off (server/ratelimit.py)
        if limit is not None and not limit.allow(addr[0]):
            self._over_limit(data, addr)
            return
        wire = self.fast(data, addr, False)
        if wire is not None:
            try:
                self._send(wire, addr)  # type: ignore[misc]
            except (OSError, TypeError) as exc:  # TypeError: closed under us (None)
                log.debug("UDP send to %s failed: %s", addr, exc)
            return
        try:
            # The read time stands in for the arrival time: the kernel's queue is kept short
            # (server.udp_rcvbuf), so a question cannot have waited there long unseen.
            born = time.monotonic()
            task = self.inflight.start(self._serve(data, addr, born), droppable=True, born=born)
            if task is None:
                self.handler.stats["dropped_overload"] += 1
        except Exception:  # pragma: no cover - defensive: the loop must survive anything
            log.exception("UDP receive failed")

    def _over_limit(self, data: bytes, addr: Any) -> None:
        """A question over its client's rate (server/ratelimit.py): TC=1 or nothing."""
        handler = self.handler
        limit = handler.ratelimit
        if limit is None:
            return
        # A denied client gets nothing, over its rate or not (a TC=1 would answer it).
        silent = limit.truncate and handler.acl.check(str(addr[0])) is Action.DENY
        reply = limit.refuse(data, silent=silent)
        if reply is not None and self._send is not None:
            try:
                self._send(reply, addr)
            except (OSError, TypeError) as exc:
                log.debug("UDP send to %s failed: %s", addr, exc)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier answers (client gone): nothing to do.
        log.debug("UDP socket error: %s", exc)

    async def _serve(self, data: bytes, addr: Any, born: float) -> None:
        wire = await self.handler.slow(data, addr, tcp=False, born=born)
        transport = self.transport
        if wire is not None and transport is not None and not transport.is_closing():
            try:
                transport.sendto(wire, addr)
            except OSError as exc:
                log.debug("UDP send to %s failed: %s", addr, exc)
