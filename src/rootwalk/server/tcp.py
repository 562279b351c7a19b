"""TCP (RFC 7766): 2-byte length framing, pipelined questions answered concurrently and out of
order, an idle timeout, and a bound on open connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from rootwalk.server.handler import Handler, Peer
from rootwalk.server.inflight import Inflight

__all__ = ["TcpService"]

log = logging.getLogger("rootwalk.server")


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
        self.connections: set[asyncio.StreamWriter] = set()
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

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting or len(self.connections) >= self.max_connections:
            self.handler.stats["tcp_rejected"] += 1
            writer.close()
            return
        self.connections.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:  # the loop must survive anything a client does
            log.exception("TCP connection failed")
        finally:
            self.connections.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                slots.release()

        while self.accepting and not broken.is_set():
            try:
                async with asyncio.timeout(self.idle_timeout):
                    head = await reader.readexactly(2)
            except TimeoutError:
                if any(not t.done() for t in mine):
                    continue  # RFC 7766 §6.2.3: not idle while answers are pending
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            try:
                async with asyncio.timeout(self.idle_timeout):
                    data = await reader.readexactly(int.from_bytes(head, "big"))
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                break  # half a message, then nothing: give the slot to someone else
            fast = self.handler.fast(data, peer, True)
            if fast is not None:  # a cache hit: answered in order, no task needed
                writer.write(len(fast).to_bytes(2, "big") + fast)
                await writer.drain()
                continue
            await slots.acquire()  # pipelining bound: stop reading until an answer is out
            task = self.inflight.start(answer(data), droppable=False)
            mine = {t for t in mine if not t.done()}
            if task is not None:
                mine.add(task)
        # Let pending answers go out before closing (bounded by the resolver's own timeout,
        # and cancelled by shutdown).
        pending = [t for t in mine if not t.done()]
        if pending and not broken.is_set():
            await asyncio.wait(pending)
