"""Client rate limiting over UDP: a token bucket per client prefix (Unbound's ip-ratelimit).

Each client prefix (the address itself by default, ``server.client_rate_prefix_v4/v6``) has a
bucket of ``server.client_rate_burst`` tokens refilled at ``server.client_rate_limit`` per
second; a question takes one. A question that finds the bucket empty is not answered at all
(``drop``, the default, as Unbound) or answered with an empty TC=1 answer (``truncate``: a real
client retries over TCP, RFC 7766 §6.2.2 / BIND RRL's "slip"). Why these choices:

* Only UDP is limited: a TCP question comes from an address that completed a handshake, so it
  cannot be spoofed, and TCP has its own bounds (server.max_tcp_connections, pipeline).
* The check runs in UdpProtocol.datagram_received before anything else, the cache-hit fast
  path included, so a flood of cache hits is limited as much as a flood of misses. Off (rate
  0), it costs one attribute test per datagram.
* Questions are counted on arrival, as Unbound's ip-ratelimit, not answers as BIND's RRL:
  the check then needs nothing from the answer, and a client over its rate costs the server
  only this check (drop) or a header-sized reply (truncate).
* The table of buckets is bounded (``max_clients``). When it is full, buckets that have
  refilled completely are forgotten first (a new bucket starts full, so forgetting them
  changes nothing); if that frees too little (a flood from many spoofed sources), the least
  recently seen go. Memory stays bounded at about 200 bytes a tracked prefix.
* With ``server.workers`` > 1 each worker limits on its own (the kernel spreads a client's
  source ports over the workers), so a client may get up to ``workers`` times the rate.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections import Counter
from typing import Any

from rootwalk.wire.query import qname_end

__all__ = ["ClientRateLimit", "MAX_CLIENTS", "truncated_reply"]

#: Client prefixes tracked at once (about 13 MB at most).
MAX_CLIENTS = 65_536

_QR = 0x8000
_TC = 0x0200
_RA = 0x0080
_KEEP = 0x0100 | 0x0010  # RD and CD are copied from the question (RFC 1035 §4.1.1)
_HEADER = struct.Struct("!HHHHHH")


def truncated_reply(wire: bytes, edns_payload: int) -> bytes | None:
    """An empty TC=1 answer to the question ``wire``, or None: nothing to answer.

    The question is echoed (stub resolvers match it before retrying over TCP), and an OPT
    record is included when the question had one (RFC 6891 §7: a responder to a request with
    OPT includes one). Anything but a one-question standard query gets no answer at all."""
    n = len(wire)
    if n < 17 or wire[2] & 0xF8 or wire[4:6] != b"\x00\x01":  # QR=1, opcode, QDCOUNT
        return None
    i = qname_end(wire)
    if i < 0:
        return None
    end = i + 5
    if end > n:
        return None
    flags = _QR | _TC | _RA | (((wire[2] << 8) | wire[3]) & _KEEP)
    opt = b""
    if wire[10:12] != b"\x00\x00" and wire[end : end + 3] == b"\x00\x00\x29":
        opt = b"\x00\x00\x29" + edns_payload.to_bytes(2) + b"\x00" * 6
    return (
        _HEADER.pack((wire[0] << 8) | wire[1], flags, 1, 0, 0, 1 if opt else 0) + wire[12:end] + opt
    )


class ClientRateLimit:
    """Token buckets by client prefix (see the module docstring)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        prefix_v4: int,
        prefix_v6: int,
        *,
        truncate: bool,
        stats: Counter[str],
        edns_payload: int,
        max_clients: int = MAX_CLIENTS,
        clock: Any = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = float(burst) if burst else max(1.0, 2.0 * rate)
        self.shift4 = 32 - prefix_v4
        self.shift6 = 128 - prefix_v6
        # Per address: the address text is the key, no arithmetic per datagram.
        self.exact = prefix_v4 == 32 and prefix_v6 == 128
        self.truncate = truncate
        self.stats = stats
        self.edns_payload = edns_payload
        self.max_clients = max_clients
        self.clock = clock
        self.buckets: dict[Any, list[float]] = {}  # key: [tokens, last refill]
        self._keys: dict[str, Any] = {}  # address text -> prefix key (a cache)
        self.settings = (rate, burst, prefix_v4, prefix_v6, truncate)

    def _key(self, host: str) -> Any:
        key = self._keys.get(host)
        if key is None:
            if len(self._keys) >= self.max_clients:
                self._keys.clear()
            ip = ipaddress.ip_address(host.partition("%")[0])
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            if mapped is not None:  # a dual-stack socket's IPv4 client: the IPv4 rule
                ip = mapped
            shift = self.shift4 if ip.version == 4 else self.shift6
            key = (ip.version, int(ip) >> shift)
            self._keys[host] = key
        return key

    def allow(self, host: str) -> bool:
        """Whether a question from ``host`` is within its prefix's rate (takes a token)."""
        now = self.clock()
        bucket = self.buckets.get(host if self.exact else self._key(host))
        if bucket is None:
            key = host if self.exact else self._key(host)
            if len(self.buckets) >= self.max_clients:
                self._evict(now)
            self.buckets[key] = [self.burst - 1.0, now]
            return True
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens
        return False

    def refuse(self, wire: bytes, *, silent: bool = False) -> bytes | None:
        """What to send for a question over the limit (counted), or None: nothing.
        ``silent``: drop whatever the action (a client the ACL denies)."""
        stats = self.stats
        stats["queries_udp"] += 1
        if self.truncate and not silent:
            reply = truncated_reply(wire, self.edns_payload)
            if reply is not None:
                stats["truncated_ratelimit"] += 1
                stats["rcode_NOERROR"] += 1
                return reply
        stats["dropped_ratelimit"] += 1
        return None

    def _evict(self, now: float) -> None:
        """Make room: forget refilled buckets, then (if too few) the least recently seen."""
        rate, burst, buckets = self.rate, self.burst, self.buckets
        full = [k for k, (tokens, last) in buckets.items() if tokens + (now - last) * rate >= burst]
        for key in full:
            del buckets[key]
        target = self.max_clients - max(1, self.max_clients // 8)
        if len(buckets) > target:
            by_age = sorted(buckets.items(), key=lambda item: item[1][1])
            for key, _ in by_age[: len(buckets) - target]:
                del buckets[key]
