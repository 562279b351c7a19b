"""Upstream transport: the only module that opens sockets towards authoritative servers.

UDP first, on a fresh socket connected to the server (so the OS picks a random source port,
RFC 5452 §9.2, and the kernel drops datagrams from any other address and port) and a random
16-bit ID chosen by the engine. What comes back is judged as Unbound's ``outside_network.c`` and
``iter_scrub.c`` do:

* a datagram with another ID is a forgery or a late answer to an earlier query: skipped, and
  we keep waiting (a spoofer must not be able to end the exchange);
* a datagram with our ID from the server's address and port is *the* reply. If it cannot be
  parsed, or carries no question or another question, the exchange has failed at once
  (``UpstreamMalformed`` / ``UpstreamMismatch``): waiting for the timeout would only burn the
  client's patience, and the resolver moves on to the next server and remembers this one.

TC=1 moves the query to TCP (RFC 7766 §5). Foreign exceptions are mapped to
``rootwalk.errors.Upstream*`` here and nowhere else (guide §11).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from rootwalk.clock import Clock
from rootwalk.config import ResolverConfig
from rootwalk.errors import (
    UpstreamError,
    UpstreamMalformed,
    UpstreamMismatch,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from rootwalk.wire.message import Response, WireError, parse_response
from rootwalk.wire.names import lower, to_text

__all__ = ["DnsTransport", "Exchange", "OutQuery", "Transport"]

_TC = 0x0200
_QR = 0x8000
_LEN = struct.Struct("!H")


@dataclass(frozen=True, slots=True)
class OutQuery:
    """An upstream query, rendered: the bytes, and what its reply must echo."""

    wire: bytes
    qname: bytes  # as sent, 0x20 letter case included
    qtype: int

    @property
    def id(self) -> int:
        return (self.wire[0] << 8) | self.wire[1]

    @property
    def rd(self) -> bool:
        return bool(self.wire[2] & 0x01)


@dataclass(frozen=True, slots=True)
class Exchange:
    response: Response
    rtt: float  # seconds, first send to accepted answer
    tcp: bool  # the answer came over TCP


class Transport(Protocol):
    async def exchange(self, query: OutQuery, address: str, port: int, timeout: float) -> Exchange:
        """Send ``query`` to address:port; raise an UpstreamError subclass on failure."""
        ...


@contextmanager
def map_exceptions() -> Iterator[None]:
    try:
        yield
    except UpstreamError:
        raise
    except TimeoutError as exc:
        raise UpstreamTimeout(str(exc) or "timed out") from exc
    except (EOFError, ConnectionError, asyncio.IncompleteReadError) as exc:
        raise UpstreamUnreachable(str(exc) or type(exc).__name__) from exc
    except OSError as exc:
        raise UpstreamUnreachable(exc.strerror or str(exc)) from exc


def check_reply(query: OutQuery, wire: bytes, *, case_sensitive: bool) -> Response:
    """The reply with our ID, parsed; or why it is no answer to ``query``."""
    try:
        response = parse_response(wire)
    except WireError as exc:
        raise UpstreamMalformed(f"unparseable reply: {exc}") from exc
    if not response.flags & _QR:
        raise UpstreamMalformed("reply is not a response (QR=0)")
    q = response.question
    if q is None:
        # An error rcode without a question (old servers' FORMERR, SERVFAIL, NOTIMP, REFUSED)
        # is still the server's verdict, as dnspython's is_response allows.
        if response.rcode in (1, 2, 4, 5):
            return response
        raise UpstreamMismatch("reply carries no question")
    if q.qname != lower(query.qname) or q.qtype != query.qtype or q.qclass != 1:
        raise UpstreamMismatch(f"reply is for another question ({to_text(q.qname)} {q.qtype})")
    # DNS 0x20: the echoed question must keep our random letter case exactly. The question
    # name is the first in the message and cannot be compressed.
    if case_sensitive and wire[12 : 12 + len(query.qname)] != query.qname:
        raise UpstreamMismatch("0x20 case mismatch in echoed question")
    return response


def _expire(done: asyncio.Future[bytes]) -> None:
    if not done.done():
        done.set_exception(TimeoutError("timed out"))


async def _udp_exchange(
    loop: asyncio.AbstractEventLoop, wire: bytes, address: str, port: int, timeout: float
) -> bytes:
    """Send on a fresh connected UDP socket; the first datagram with our ID is the reply.

    A bare non-blocking socket with a reader callback and one timer costs far less per query
    than an asyncio datagram endpoint or ``sock_recv`` under ``asyncio.timeout``; connecting
    it makes the kernel drop datagrams from any other address or port, and report ICMP
    unreachable as ConnectionRefusedError."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    fd = sock.fileno()
    done: asyncio.Future[bytes] = loop.create_future()
    qid = wire[:2]

    def readable() -> None:
        while not done.done():
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            except OSError as exc:
                done.set_exception(exc)
                return
            # Another ID: a forgery or a stale answer; keep waiting for ours.
            if data[:2] == qid:
                done.set_result(data)

    timer = None
    try:
        sock.setblocking(False)
        sock.connect((address, port))
        sock.send(wire)
        loop.add_reader(fd, readable)
        timer = loop.call_later(timeout, _expire, done)
        return await done
    finally:
        if timer is not None:
            timer.cancel()
            loop.remove_reader(fd)
        sock.close()


async def _tcp_exchange(wire: bytes, address: str, port: int, timeout: float) -> bytes:
    """One query over a fresh TCP connection (RFC 7766 §5: after TC=1 over UDP)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(address, port)
        try:
            writer.write(_LEN.pack(len(wire)) + wire)
            await writer.drain()
            while True:
                size = _LEN.unpack(await reader.readexactly(2))[0]
                data = await reader.readexactly(size)
                if data[:2] == wire[:2]:
                    return data
        finally:
            writer.close()


class DnsTransport:
    def __init__(self, config: ResolverConfig, clock: Clock) -> None:
        self.clock = clock
        self._allowed = config.allowed_networks()
        self._checked: dict[str, bool] = {}  # address -> allowed, parsed once
        # The loop of the first exchange (asking asyncio for it costs a getpid each time).
        self._loop: asyncio.AbstractEventLoop | None = None
        self.case_sensitive = config.use_0x20

    def allowed(self, address: str) -> bool:
        if not self._allowed:
            return True
        known = self._checked.get(address)
        if known is None:
            ip = ipaddress.ip_address(address)
            known = any(ip in net for net in self._allowed)
            if len(self._checked) > 4096:
                self._checked.clear()
            self._checked[address] = known
        return known

    async def exchange(self, query: OutQuery, address: str, port: int, timeout: float) -> Exchange:
        if not self.allowed(address):
            # Defence in depth: the engine filters addresses first; this must never send.
            raise UpstreamUnreachable(f"{address} is outside resolver.upstream_allow")
        start = self.clock.monotonic()
        deadline = start + timeout
        tcp = False
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        with map_exceptions():
            wire = await _udp_exchange(loop, query.wire, address, port, timeout)
            # TC=1 (read from the header: a truncated body need not parse): ask again over
            # TCP, which is the answer that counts (RFC 7766 §5).
            if len(wire) >= 12 and wire[2] & (_TC >> 8):
                tcp = True
                left = max(0.05, deadline - self.clock.monotonic())
                wire = await _tcp_exchange(query.wire, address, port, left)
            response = check_reply(query, wire, case_sensitive=self.case_sensitive)
        return Exchange(response, self.clock.monotonic() - start, tcp)
