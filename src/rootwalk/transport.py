"""Upstream transport: the only module that opens sockets towards authoritative servers.

UDP first, on a fresh socket connected to the server (so the OS picks a random source port,
RFC 5452 §9.2, and the kernel drops datagrams from any other address and port) with dnspython's
random 16-bit ID. What comes back is judged as Unbound's ``outside_network.c`` and
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rdatatype

from rootwalk.clock import Clock
from rootwalk.config import ResolverConfig
from rootwalk.errors import (
    UpstreamError,
    UpstreamMalformed,
    UpstreamMismatch,
    UpstreamTimeout,
    UpstreamUnreachable,
)

__all__ = ["DnsTransport", "Exchange", "Transport"]


@dataclass(frozen=True)
class Exchange:
    response: dns.message.Message
    rtt: float  # seconds, first send to accepted answer
    tcp: bool  # the answer came over TCP


class Transport(Protocol):
    async def exchange(
        self, request: dns.message.Message, address: str, port: int, timeout: float
    ) -> Exchange:
        """Send ``request`` to address:port; raise an UpstreamError subclass on failure."""
        ...


@contextmanager
def map_exceptions() -> Iterator[None]:
    try:
        yield
    except UpstreamError:
        raise
    except (dns.exception.Timeout, TimeoutError) as exc:
        raise UpstreamTimeout(str(exc) or "timed out") from exc
    except dns.message.Truncated as exc:
        raise UpstreamMalformed("truncated message") from exc
    except dns.exception.FormError as exc:
        raise UpstreamMalformed(str(exc)) from exc
    except (EOFError, ConnectionError) as exc:
        raise UpstreamUnreachable(str(exc) or type(exc).__name__) from exc
    except OSError as exc:
        raise UpstreamUnreachable(exc.strerror or str(exc)) from exc
    except dns.exception.DNSException as exc:
        raise UpstreamMalformed(str(exc)) from exc


class DnsTransport:
    def __init__(self, config: ResolverConfig, clock: Clock) -> None:
        self.clock = clock
        self._allowed = config.allowed_networks()
        self.case_sensitive = config.use_0x20

    def allowed(self, address: str) -> bool:
        if not self._allowed:
            return True
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self._allowed)

    async def exchange(
        self, request: dns.message.Message, address: str, port: int, timeout: float
    ) -> Exchange:
        if not self.allowed(address):
            # Defence in depth: the engine filters addresses first; this must never send.
            raise UpstreamUnreachable(f"{address} is outside resolver.upstream_allow")
        start = self.clock.monotonic()
        deadline = start + timeout
        tcp = False
        with map_exceptions():
            wire = await _udp_exchange(request.to_wire(), address, port, timeout)
            response = _parse_reply(request, wire)
            if response.flags & dns.flags.TC:
                tcp = True
                left = max(0.05, deadline - self.clock.monotonic())
                response = await dns.asyncquery.tcp(request, address, timeout=left, port=port)
                if not request.is_response(response):
                    raise UpstreamMismatch("TCP response does not match the query")
        # DNS 0x20: the echoed question must keep our random letter case exactly.
        if (
            self.case_sensitive
            and response.question
            and response.question[0].name.to_wire() != request.question[0].name.to_wire()
        ):
            raise UpstreamMismatch("0x20 case mismatch in echoed question")
        return Exchange(response, self.clock.monotonic() - start, tcp)


def _parse_reply(request: dns.message.Message, wire: bytes) -> dns.message.Message:
    """The reply with our ID, or why it is no answer to ``request``."""
    try:
        response = dns.message.from_wire(wire, raise_on_truncation=True)
    except dns.message.Truncated as exc:
        # TC=1: the header and question are enough to "ask again over TCP" (RFC 7766 §5).
        response = exc.message()  # type: ignore[no-untyped-call]
    except dns.exception.DNSException as exc:
        raise UpstreamMalformed(f"unparseable reply: {exc}") from exc
    # dnspython accepts an error rcode (FORMERR, SERVFAIL, NOTIMP, REFUSED) without a question,
    # as old servers send them; it is still the server's verdict (FORMERR: retry without EDNS).
    if request.is_response(response):
        return response
    if not response.question:
        raise UpstreamMismatch("reply carries no question")
    q = response.question[0]
    raise UpstreamMismatch(
        f"reply is for another question ({q.name} {dns.rdatatype.to_text(q.rdtype)})"
    )


class _OneReply(asyncio.DatagramProtocol):
    """Waits for the first datagram carrying ``qid`` on a connected UDP socket."""

    def __init__(self, qid: bytes, done: asyncio.Future[bytes]) -> None:
        self.qid = qid
        self.done = done

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # Another ID: a forgery or a stale answer; keep waiting for ours.
        if data[:2] == self.qid and not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port/host unreachable, reported on a connected socket: no point waiting.
        if not self.done.done():
            self.done.set_exception(exc)


async def _udp_exchange(wire: bytes, address: str, port: int, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _OneReply(wire[:2], done), remote_addr=(address, port)
    )
    try:
        transport.sendto(wire)
        async with asyncio.timeout(timeout):
            return await done
    finally:
        transport.close()
