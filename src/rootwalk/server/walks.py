"""The walk log: the last walks the resolver took, step by step (``server.record_walks``).

Every resolution that walked (sent at least one question upstream, or failed trying; not a
pure cache hit) is kept with its question, start time, duration, rcode, Extended DNS Errors
(RFC 8914) and the trace events of every step (rootwalk.resolution.TraceEvent): the server
asked, what came back, the round-trip time. ``rootwalk ctl explain``, ``GET /api/explain`` and
the dashboard show a walk from here.

The store is bounded twice: the last ``size`` walks in order, and the latest walk of each
question (at most ``4 * size`` questions, oldest forgotten first), so that a question asked
once an hour still has its walk after thousands of others have walked since.

Recording happens in ``Resolver._resolve`` (rootwalk/resolver.py), once per resolution, so a
walk shared by coalesced clients is recorded once. The resolver knows only the ``record``
method (its ``WalkRecorder`` protocol): this module sits above it.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dns.edns

from rootwalk.resolution import Question, Result, TraceEvent, TraceKind, type_text
from rootwalk.wire.names import to_text

__all__ = ["ASKED", "Walk", "WalkLog", "ede_name", "event_json", "rcode_text", "walk_json"]

log = logging.getLogger("rootwalk.server")

_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def rcode_text(rcode: int) -> str:
    return _RCODES.get(rcode, str(rcode))


def ede_name(code: int) -> str:
    """The RFC 8914 §5.2 name of an EDE code (dnspython's spelling), or the number."""
    try:
        return dns.edns.EDECode(code).name
    except ValueError:
        return str(code)


#: Kinds that record one exchange with a server (a question sent, something or nothing back).
ASKED = frozenset(TraceKind) - {
    TraceKind.START,
    TraceKind.CACHE,
    TraceKind.SUBQUERY,
    TraceKind.SKIPPED,
    TraceKind.DNSSEC,
}
_STATUSES = ("secure", "insecure", "bogus", "indeterminate")


def event_json(ev: TraceEvent) -> dict[str, Any]:
    """One trace step as plain JSON values (names in presentation form, RTT in ms). ``asked``:
    an exchange with a server; ``dnssec``: what validation found of its response (set by
    ``walk_json``), None for steps nothing was validated for."""
    return {
        "depth": ev.depth,
        "kind": str(ev.kind),
        "qname": to_text(ev.qname),
        "qtype": type_text(ev.qtype),
        "zone": to_text(ev.zone) if ev.zone is not None else None,
        "server": to_text(ev.server) if ev.server is not None else None,
        "address": ev.address,
        "rtt_ms": round(ev.rtt * 1000, 3) if ev.rtt is not None else None,
        "tcp": ev.tcp,
        "detail": ev.detail,
        "asked": ev.kind in ASKED,
        "dnssec": None,
    }


def walk_json(events: Iterable[TraceEvent]) -> list[dict[str, Any]]:
    """The steps of a walk, each exchange carrying the DNSSEC status of its response: the
    validator's verdict comes as a ``dnssec`` step just before the exchange it is about."""
    out = []
    pending: dict[tuple[int, bytes, int], str] = {}
    for ev in events:
        step = event_json(ev)
        key = (ev.depth, ev.qname, ev.qtype)
        if ev.kind is TraceKind.DNSSEC and ev.detail.split(":", 1)[0] in _STATUSES:
            pending[key] = ev.detail.split(":", 1)[0]
        elif step["asked"]:
            step["dnssec"] = pending.pop(key, None)
        out.append(step)
    return out


@dataclass(frozen=True, slots=True)
class Walk:
    """One recorded resolution: what was asked, every step, and how it ended."""

    id: int
    question: Question
    started: float  # wall clock (the TTL clock), seconds since the epoch
    duration: float  # seconds
    events: tuple[TraceEvent, ...]
    rcode: int
    ede: tuple[tuple[int, str], ...]
    stale: bool = False
    refresh: bool = False  # a prefetch (cache.prefetch), not a client's question

    @property
    def upstream_queries(self) -> int:
        """Steps that asked a server (answered or not)."""
        return sum(1 for ev in self.events if ev.server is not None or ev.address is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": to_text(self.question.name),
            "type": type_text(self.question.rdtype),
            "started": round(self.started, 3),
            "duration_ms": round(self.duration * 1000, 3),
            "rcode": rcode_text(self.rcode),
            "ede": [{"code": c, "name": ede_name(c), "text": t} for c, t in self.ede],
            "stale": self.stale,
            "refresh": self.refresh,
            "upstream_queries": self.upstream_queries,
            "steps": walk_json(self.events),
        }


class WalkLog:
    """The bounded store of recent walks (see the module docstring)."""

    def __init__(self, size: int, now: Callable[[], float] | None = None) -> None:
        if size < 1:
            raise ValueError("a walk log keeps at least one walk")
        self.size = size
        self._recent: deque[Walk] = deque(maxlen=size)
        self._latest: OrderedDict[tuple[bytes, int], Walk] = OrderedDict()
        self._ids = itertools.count(1)
        self.recorded = 0
        # Called with each new walk (the dashboard's live stream); a failing listener is
        # logged and never reaches the resolver.
        self.listeners: list[Callable[[Walk], None]] = []

    def __len__(self) -> int:
        return len(self._recent)

    def record(
        self,
        question: Question,
        started: float,
        duration: float,
        events: Sequence[TraceEvent],
        result: Result,
        *,
        refresh: bool = False,
    ) -> None:
        """Keep one walk (the resolver's ``WalkRecorder`` protocol)."""
        walk = Walk(
            next(self._ids),
            question,
            started,
            duration,
            tuple(events),
            result.rcode,
            tuple(result.ede),
            result.stale,
            refresh,
        )
        self.recorded += 1
        self._recent.append(walk)
        key = (question.name, question.rdtype)
        latest = self._latest
        latest.pop(key, None)
        latest[key] = walk
        if len(latest) > 4 * self.size:
            latest.popitem(last=False)
        for listener in self.listeners:
            try:
                listener(walk)
            except Exception:
                log.exception("walk listener failed")

    def recent(self, limit: int | None = None) -> list[Walk]:
        """The last walks, newest first."""
        out = list(reversed(self._recent))
        return out if limit is None else out[:limit]

    def latest(self, name: bytes, rdtype: int) -> Walk | None:
        """The latest walk of this question (wire name, type), if still kept."""
        return self._latest.get((name, rdtype))

    def get(self, walk_id: int) -> Walk | None:
        """A walk by id, while it is among the last ``size`` (or some question's latest)."""
        for walk in self._recent:
            if walk.id == walk_id:
                return walk
        for walk in self._latest.values():
            if walk.id == walk_id:
                return walk
        return None
