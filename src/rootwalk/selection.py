"""Server selection by smoothed RTT, with a closed feedback vocabulary (guide §3).

The iterator never re-sorts servers itself: it asks ``choose`` and reports what happened.
The policy follows Unbound's infrastructure cache: unknown servers get a moderate guess so they
are explored, servers within ``RTT_BAND`` of the best are picked at random (load spreading and
exploration), a timeout doubles a server's retransmission timeout and backs it off, and a
backed-off server is still used when nothing else is left, so every server of an NS set stays
reachable.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from rootwalk.cache.infra import InfraCache, ServerStats
from rootwalk.clock import Clock
from rootwalk.config import Limits

__all__ = ["Feedback", "ServerSelector", "Target"]

# Unbound UNKNOWN_SERVER_NICENESS: the RTT assumed for a server never measured.
UNKNOWN_RTT = 0.376
# Unbound RTT_BAND: servers this close to the best are equally good.
RTT_BAND = 0.400
# How long a server that refused/failed/was lame for a zone is avoided for that zone.
LAME_TTL = 300.0
MAX_BACKOFF = 120.0
# Addresses whose last (name, zone) ``choose`` remembers (the infrastructure cache's size).
_CHOSEN_MAX = 10_000


class Feedback(enum.Enum):
    """What one exchange with a server showed; ``ServerSelector.report`` acts on each."""

    OK = "ok"  # an answer came: RTT is reported separately (report_rtt)
    TIMEOUT = "timeout"  # back off the server (RFC 6298 §5.5)
    UNREACHABLE = "unreachable"  # ICMP unreachable or refused connection: as a timeout
    REFUSED = "refused"  # lame for the zone
    SERVFAIL = "servfail"  # lame for the zone, for a while
    FORMERR = "formerr"  # speak to it without EDNS (RFC 6891 §7)
    MISMATCH = "mismatch"  # our ID with no or another question: broken for every zone
    MALFORMED = "malformed"  # our ID, unparseable: broken for every zone
    TRUNCATED = "truncated"  # TC=1 over TCP too: nothing to learn about the server
    LAME = "lame"  # neither answer nor referral: lame for the zone


@dataclass(frozen=True)
class Target:
    address: str
    ns_name: bytes
    port: int | None = None  # None: the resolver's upstream_port


class ServerSelector:
    def __init__(
        self, infra: InfraCache, clock: Clock, limits: Limits, rng: random.Random | None = None
    ) -> None:
        self.infra = infra
        self.clock = clock
        self.limits = limits
        self.rng = rng or random.Random()
        # address -> (name server name, zone) of its last choice: the infrastructure cache
        # keys servers by address only, and the dashboard shows which zone a server was
        # asked for. Bounded like the infrastructure cache; one dict store per upstream query.
        self.chosen_for: dict[str, tuple[bytes, bytes | None]] = {}

    def score(self, address: str, zone: bytes | None = None) -> float:
        """Expected cost of asking ``address``: lower is better."""
        s = self.infra.get(address)
        if s is None:
            return UNKNOWN_RTT
        now = self.clock.monotonic()
        penalty = 0.0
        if (zone is not None and s.lame_for.get(zone, 0.0) > now) or s.broken_until > now:
            penalty = 2 * MAX_BACKOFF
        if s.timeouts:
            if now >= s.backoff_until:
                return UNKNOWN_RTT + penalty  # back-off over: worth one probe
            backoff: float = min(MAX_BACKOFF, self._rto_or_unknown(s) * 2.0**s.timeouts)
            return backoff + MAX_BACKOFF + penalty
        return (s.srtt if s.srtt is not None else UNKNOWN_RTT) + penalty

    def choose(self, candidates: list[Target], zone: bytes | None = None) -> Target:
        """Pick one of ``candidates`` (non-empty): random within the RTT band of the best."""
        scored = [(self.score(t.address, zone), t) for t in candidates]
        best = min(s for s, _ in scored)
        band = [t for s, t in scored if s <= best + RTT_BAND]
        chosen = band[0] if len(band) == 1 else self.rng.choice(band)
        if len(self.chosen_for) >= _CHOSEN_MAX:
            self.chosen_for.clear()
        self.chosen_for[chosen.address] = (chosen.ns_name, zone)
        return chosen

    def timeout_for(self, address: str) -> float:
        s = self.infra.get(address)
        if s is None:
            return self.limits.initial_timeout
        base = self.limits.initial_timeout if s.srtt is None else self._rto(s)
        # RFC 6298 §5.5: after a timeout, back off the timer (double it) until an answer.
        base = max(self.limits.min_timeout, base) * 2.0 ** min(s.timeouts, 6)
        return min(self.limits.max_timeout, base)

    @staticmethod
    def _rto(s: ServerStats) -> float:
        # RFC 6298 §2: RTO = SRTT + 4 * RTTVAR.
        assert s.srtt is not None
        return s.srtt + 4 * s.rttvar

    @classmethod
    def _rto_or_unknown(cls, s: ServerStats) -> float:
        return cls._rto(s) if s.srtt is not None else UNKNOWN_RTT

    def report_rtt(self, address: str, rtt: float) -> None:
        s = self.infra.stats(address)
        if s.srtt is None:
            s.srtt, s.rttvar = rtt, rtt / 2
        else:
            # RFC 6298 §2.3 with alpha = 1/8, beta = 1/4.
            s.rttvar = 0.75 * s.rttvar + 0.25 * abs(s.srtt - rtt)
            s.srtt = 0.875 * s.srtt + 0.125 * rtt
        s.timeouts = 0
        s.backoff_until = 0.0

    def report(self, address: str, feedback: Feedback, zone: bytes | None = None) -> None:
        s = self.infra.stats(address)
        now = self.clock.monotonic()
        match feedback:
            case Feedback.TIMEOUT | Feedback.UNREACHABLE:
                s.timeouts += 1
                s.backoff_until = now + min(MAX_BACKOFF, 2.0 ** min(s.timeouts, 10))
            case Feedback.FORMERR:
                s.no_edns = True
            case Feedback.REFUSED | Feedback.SERVFAIL | Feedback.LAME:
                if zone is not None:
                    s.lame_for[zone] = now + LAME_TTL
            case Feedback.MISMATCH | Feedback.MALFORMED:
                # Unbound counts such a reply as a failed exchange; remembering it keeps later
                # questions from paying for the same broken server again.
                s.broken_until = now + LAME_TTL
            case Feedback.OK | Feedback.TRUNCATED:
                pass

    def use_edns(self, address: str) -> bool:
        s = self.infra.get(address)
        return s is None or not s.no_edns
