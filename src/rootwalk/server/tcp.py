"""TCP (RFC 7766): 2-byte length framing, pipelined questions answered concurrently and out of
order, an idle timeout, and a bound on open connections.

Under connection pressure the idlest connections give way (RFC 7766 §6.2.3: "servers MAY
close idle connections ... under high load"), so that a flood of idle or half-sent
connections cannot lock new clients out:

* when the table is more than half full, the idle timeout of each new wait shrinks with the
  free room (as Unbound does with tcp-idle-timeout), down to ``_MIN_IDLE`` near full;
* when it is full, a new connection evicts the connection idle the longest (no answer pending;
  a half-received message counts as idle), counted as ``tcp_evicted``. Only when every
  connection has answers pending is the new one closed at once (``tcp_rejected``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass

from rootwalk.server.handler import Handler, Peer
from rootwalk.server.inflight import Inflight

__all__ = ["TcpService"]

log = logging.getLogger("rootwalk.server")

# The shortest idle timeout under pressure: a client that has just connected still gets time
# for its first question (a LAN round trip is well under this).
_MIN_IDLE = 0.5


@dataclass
class _Conn:
    last: float  # monotonic time of the last message read or answer written
    pending: int = 0  # answers being worked on: not idle while any is


class TcpService:
    """Accepts connections on any number of listening sockets (one shared connection limit)."""

    def __init__(
        self,
        handler: Handler,
        inflight: Inflight,
        *,
        idle_timeout: float,
        max_connections: int,
        max_pipeline: int,
    ) -> None:
        self.handler = handler
        self.inflight = inflight
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_pipeline = max_pipeline
        self.servers: list[asyncio.Server] = []
        self.connections: dict[asyncio.StreamWriter, _Conn] = {}
        self.accepting = True

    async def start(self, sock: socket.socket) -> None:
        server = await asyncio.start_server(self._connection, sock=sock)
        self.servers.append(server)

    def stop_accepting(self) -> None:
        self.accepting = False
        for server in self.servers:
            server.close()

    def close_connections(self) -> None:
        for writer in list(self.connections):
            writer.close()

    def _timeout(self) -> float:
        """The idle timeout for a wait starting now: shorter when the table is over half full."""
        room = self.max_connections - len(self.connections)
        half = self.max_connections / 2
        if room >= half:
            return self.idle_timeout
        return max(min(_MIN_IDLE, self.idle_timeout), self.idle_timeout * room / half)

    def _evict_idlest(self) -> bool:
        """Close the connection idle the longest to make room; False if all are busy."""
        idle = [
            (c.last, i, w) for i, (w, c) in enumerate(self.connections.items()) if not c.pending
        ]
        if not idle:
            return False
        _last, _i, victim = min(idle)
        del self.connections[victim]
        victim.close()  # its reader sees EOF and the connection's task ends
        self.handler.stats["tcp_evicted"] += 1
        return True

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting or (
            len(self.connections) >= self.max_connections and not self._evict_idlest()
        ):
            self.handler.stats["tcp_rejected"] += 1
            writer.close()
            return
        conn = _Conn(time.monotonic())
        self.connections[writer] = conn
        try:
            await self._serve(reader, writer, conn)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:  # the loop must survive anything a client does
            log.exception("TCP connection failed")
        finally:
            self.connections.pop(writer, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Conn
    ) -> None:
        peer: Peer = tuple(writer.get_extra_info("peername") or ("?", 0))
        slots = asyncio.Semaphore(self.max_pipeline)
        mine: set[asyncio.Task[None]] = set()
        broken = asyncio.Event()  # set when an answer says to close (unparseable message)

        async def answer(data: bytes) -> None:
            try:
                wire = await self.handler.slow(data, peer, tcp=True)
                if wire is None:  # unparseable: the framing cannot be trusted any more
                    broken.set()
                    writer.close()
                elif not writer.is_closing():
                    writer.write(len(wire).to_bytes(2, "big") + wire)
                    await writer.drain()
            except ConnectionError:
                broken.set()
            finally:
                conn.pending -= 1
                conn.last = time.monotonic()
                slots.release()

        while self.accepting and not broken.is_set():
            try:
                async with asyncio.timeout(self._timeout()):
                    head = await reader.readexactly(2)
            except TimeoutError:
                if any(not t.done() for t in mine):
                    continue  # RFC 7766 §6.2.3: not idle while answers are pending
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            try:
                async with asyncio.timeout(self._timeout()):
                    data = await reader.readexactly(int.from_bytes(head, "big"))
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                break  # half a message, then nothing: give the slot to someone else
            conn.last = time.monotonic()
            fast = self.handler.fast(data, peer, True)
            if fast is not None:  # a cache hit: answered in order, no task needed
                writer.write(len(fast).to_bytes(2, "big") + fast)
                await writer.drain()
                continue
            await slots.acquire()  # pipelining bound: stop reading until an answer is out
            conn.pending += 1
            task = self.inflight.start(answer(data), droppable=False)
            mine = {t for t in mine if not t.done()}
            if task is not None:
                mine.add(task)
            else:  # not started: answer() will not run to count it down
                conn.pending -= 1
                slots.release()
        # Let pending answers go out before closing (bounded by the resolver's own timeout,
        # and cancelled by shutdown).
        pending = [t for t in mine if not t.done()]
        if pending and not broken.is_set():
            await asyncio.wait(pending)
