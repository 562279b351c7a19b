"""Upstream transport: the only module that opens sockets towards authoritative servers.

UDP first with a fresh socket per query (so the OS picks a random source port) and dnspython's
random 16-bit ID; a response counts only if it comes from the address and port queried and
carries the same ID and question (dnspython ``ignore_unexpected``/``ignore_errors``: forgeries
are skipped, not fatal). TC=1 moves the query to TCP (RFC 7766 §5). Foreign exceptions are mapped to
``rootwalk.errors.Upstream*`` here and nowhere else (guide §11).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message

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
            response = await dns.asyncquery.udp(
                request,
                address,
                timeout=timeout,
                port=port,
                # Forgeries (wrong source, ID or question) and garbage are skipped while we
                # keep waiting for the genuine answer, so a spoofer cannot end the exchange.
                ignore_unexpected=True,
                ignore_errors=True,
            )
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
