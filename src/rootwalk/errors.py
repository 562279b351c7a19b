"""The exception hierarchy (guide §11).

NXDOMAIN and NODATA are *results*, never exceptions. Exceptions describe failures: an upstream
exchange that went wrong (UpstreamError, raised only by the transport) or a client question that
cannot be answered (ResolverError, turned into SERVFAIL + Extended DNS Error in exactly one
place, the resolver facade).
"""

from __future__ import annotations

import enum

__all__ = [
    "BudgetExhausted",
    "ConfigError",
    "EDE",
    "NoReachableServers",
    "ResolutionFailed",
    "ResolverError",
    "UpstreamError",
    "UpstreamMalformed",
    "UpstreamMismatch",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]


class EDE(enum.IntEnum):
    """Extended DNS Error codes used by rootwalk (RFC 8914 §4)."""

    OTHER = 0
    UNSUPPORTED_DNSKEY_ALGORITHM = 1
    UNSUPPORTED_DS_DIGEST_TYPE = 2
    STALE_ANSWER = 3
    DNSSEC_BOGUS = 6
    SIGNATURE_EXPIRED = 7
    SIGNATURE_NOT_YET_VALID = 8
    DNSKEY_MISSING = 9
    RRSIGS_MISSING = 10
    NSEC_MISSING = 12
    NOT_READY = 14
    BLOCKED = 15
    PROHIBITED = 18
    STALE_NXDOMAIN = 19
    NOT_SUPPORTED = 21
    NO_REACHABLE_AUTHORITY = 22
    NETWORK_ERROR = 23
    INVALID_DATA = 24


class ConfigError(Exception):
    """A configuration problem, described in one line that names the key."""


class ResolverError(Exception):
    """A client question could not be answered; becomes SERVFAIL with an EDE."""

    ede: EDE = EDE.OTHER

    def __init__(self, reason: str, ede: EDE | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if ede is not None:
            self.ede = ede


class ResolutionFailed(ResolverError):
    """Generic failure with a reason trail (Unbound's errinf)."""


class BudgetExhausted(ResolverError):
    """A named limit from config.Limits was reached (loops, amplification, slow servers)."""

    ede = EDE.OTHER

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"limit {kind} reached" + (f": {detail}" if detail else ""))
        self.kind = kind


class NoReachableServers(ResolverError):
    """Every server of a delegation failed (timeouts, REFUSED, lame...)."""

    ede = EDE.NO_REACHABLE_AUTHORITY


class UpstreamError(Exception):
    """One upstream exchange failed. Raised only by rootwalk.transport."""


class UpstreamTimeout(UpstreamError):
    """No acceptable answer within the timeout."""


class UpstreamUnreachable(UpstreamError):
    """The network refused (ICMP unreachable, connection refused, not allowed by policy)."""


class UpstreamMalformed(UpstreamError):
    """The response could not be parsed."""


class UpstreamMismatch(UpstreamError):
    """The response did not match the query (ID, question, source)."""
