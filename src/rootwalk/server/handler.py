"""One client message in, one answer out: request checks, policy and rendering (no sockets).

``Handler.handle(wire, peer, tcp=...)`` is the whole protocol front end; the UDP and TCP loops
only move bytes. It has two halves:

* ``fast`` (synchronous, no dnspython): a plain recursive question whose answer was rendered
  before is answered from ``WireCache`` bytes (server/wirecache.py). The transports call it
  first, inline, so a hit costs no task either.
* ``slow`` (a coroutine): everything else, fully parsed and validated with dnspython. Answers
  it gives from the cache to plain questions are stored for ``fast``.

Choices, with the RFC or the resolver they follow (docs/nameserver.md repeats them):

* Shorter than a header, or QR=1: no answer at all (answering responses makes loops).
* Opcode other than QUERY: NOTIMP. TSIG-signed: NOTAUTH (rootwalk holds no keys).
* Unparseable, QDCOUNT != 1, or records in the answer/authority sections: FORMERR (Unbound
  ``worker_check_request``).
* EDNS (RFC 6891): OPT in the answer only when the query had one; we advertise
  ``server.edns_payload`` (1232); the client's size is honoured (at least 512); version > 0
  gets BADVERS. Extended DNS Errors (RFC 8914) go into the OPT when the client sent one.
* A UDP answer that does not fit: TC=1 with the answer, authority and additional sections
  emptied (RFC 1035 §4.2.1, RFC 7766 §5), so the client retries over TCP.
* Class other than IN: REFUSED with EDE 21 (Not Supported). AXFR/IXFR: REFUSED (a resolver
  has no zones to transfer; Unbound does the same). MAILA/MAILB: NOTIMP. OPT/TSIG/TKEY as a
  question type: FORMERR.
* ANY (RFC 8482): one RRset, the address records of the name or the CNAME it owns; when there
  is none, the synthesized ``HINFO "RFC8482" ""`` of RFC 8482 §4.2.
* RD=0 (RFC 1034 §4.3.1): answered from the cache only; never starts a resolution. Refused for
  clients whose access is ``allow`` (not ``allow_snoop``), as Unbound refuses cache snooping.
  When the answer is not cached, a referral to the closest cached zone cut (its NS set in the
  authority section, the servers' cached addresses in the additional section), as Unbound's
  answer_norec_from_cache; with no cut cached at all, SERVFAIL with EDE 0 "not in cache".
* ``rootwalk.arpa`` is local-only, never sent upstream: ``NAME.explain.rootwalk.arpa`` TXT
  (``NAME._TYPE.explain.rootwalk.arpa`` for another type than A) answers the explanation of
  NAME TYPE (server/explain.py), one TXT record a line, to clients whose access is
  ``allow_snoop``; REFUSED with EDE 18 to others (it tells what others have looked up, as RD=0
  questions do). Other names below rootwalk.arpa: NXDOMAIN; other types: NODATA.
* Any unexpected exception: SERVFAIL, logged with its traceback; never raised to the loop.
"""

from __future__ import annotations

import dataclasses
import logging
import struct
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdatatype import RdataType
from dns.rdtypes.ANY.TXT import TXT

from rootwalk.cache import CacheView
from rootwalk.clock import Clock
from rootwalk.config import Config
from rootwalk.dnssec.verify import Security
from rootwalk.errors import EDE
from rootwalk.resolution import Result
from rootwalk.server.acl import AccessControl, Action
from rootwalk.server.blocklist import Blocklist
from rootwalk.server.local import LocalPolicy
from rootwalk.server.ratelimit import ClientRateLimit
from rootwalk.server.rebind import PrivateFilter
from rootwalk.server.wirecache import WireCache
from rootwalk.wire import QueryHead, parse_query_head
from rootwalk.wire.convert import to_dns_rrset
from rootwalk.wire.message import CNAME, SOA, RRset
from rootwalk.wire.names import from_dns, from_text, is_subdomain, parent, to_dns, to_text
from rootwalk.wire.render import edns_ede, render_message

__all__ = ["Handler", "Peer", "ResolverLike", "header_reply"]

log = logging.getLogger("rootwalk.server")
qlog = logging.getLogger("rootwalk.query")

Peer = tuple[Any, ...]

_QR = 0x8000
_TC = 0x0200
_RD = 0x0100
_RA = 0x0080
_CD = 0x0010
_AD = 0x0020
_HEADER = struct.Struct("!HHHHHH")

# Question types that are not data (RFC 6895 §3.1) and how they are answered.
_FORMERR_TYPES = frozenset({dns.rdatatype.OPT, dns.rdatatype.TSIG, dns.rdatatype.TKEY})
_REFUSED_TYPES = frozenset({dns.rdatatype.AXFR, dns.rdatatype.IXFR})
_NOTIMP_TYPES = frozenset({dns.rdatatype.MAILA, dns.rdatatype.MAILB})
# Question types the wire path leaves to the full path (their answers are special).
_SPECIAL_TYPES = frozenset(
    int(t) for t in (*_FORMERR_TYPES, *_REFUSED_TYPES, *_NOTIMP_TYPES, dns.rdatatype.ANY)
)
_RCODE_STAT = {int(r): f"rcode_{dns.rcode.to_text(r)}" for r in dns.rcode.Rcode}
_RCODE_TEXT = {int(r): dns.rcode.to_text(r) for r in dns.rcode.Rcode}

#: Upper bounds (seconds) of the answer latency histogram (/metrics), from a fast-path hit
#: (microseconds: always the first bucket) to a resolution near limits.total_timeout.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Their names in the stats keys ``latency_<cache>_le_<bound>`` (per-bucket counts, not
#: cumulative, so that the supervisor can sum workers key by key); the last is +Inf.
LATENCY_LABELS = (*(f"{b:g}" for b in LATENCY_BUCKETS), "inf")


def qtype_label(qtype: int) -> str:
    """The question type as a metrics label: its mnemonic when dnspython knows it, else
    "other" (a client picks the type: 65,536 labels would swamp /metrics)."""
    try:
        return RdataType(qtype).name
    except ValueError:
        return "other"


class _NotPlain:
    """The wire path's "not mine": the question goes to the full (dnspython) path."""


_NOT_PLAIN = _NotPlain()

# RFC 8482 §4.2 and Cloudflare use a TTL in this range for the synthesized HINFO.
_HINFO_TTL = 3600
# Client addresses whose access decision the fast path remembers (then it starts over).
_ACL_SEEN_MAX = 4096
_EDE_TEXT_MAX = 200
_RFC8482_HINFO = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.HINFO, '"RFC8482" ""')
# The local-only zone of rootwalk's own names (RFC 6761 §3-like "never leaves this resolver";
# .arpa is the infrastructure domain, and nobody else may be delegated rootwalk.arpa).
ROOTWALK_ARPA = dns.name.from_text("rootwalk.arpa.")
EXPLAIN_ZONE = dns.name.from_text("explain.rootwalk.arpa.")
_ROOTWALK_ARPA_WIRE = b"\x08rootwalk\x04arpa\x00"
_EXPLAIN_HELP = (
    "ask TXT NAME.explain.rootwalk.arpa (type A) or NAME._TYPE.explain.rootwalk.arpa "
    "(e.g. www.example.com._aaaa.explain.rootwalk.arpa); docs/explain.md"
)


class ResolverLike(Protocol):
    """What the handler needs of rootwalk.resolver.Resolver (tests pass stand-ins)."""

    config: Config
    cache: CacheView
    clock: Clock

    async def resolve(
        self, name: bytes, rdtype: int, rdclass: int = 1, *, do: bool = False, cd: bool = False
    ) -> Result: ...

    def prefetch(self, name: bytes, rdtype: int, rdclass: int = 1) -> bool: ...


def header_reply(wire: bytes, rcode: int) -> bytes:
    """A header-only reply to ``wire`` (at least 12 bytes): same ID, opcode and RD; QR and RA."""
    qid, flags = struct.unpack_from("!HH", wire)
    out_flags = _QR | _RA | (flags & (0x7800 | _RD | _CD)) | (rcode & 0xF)
    return _HEADER.pack(qid, out_flags, 0, 0, 0, 0)


@dataclass
class Reply:
    """What to answer, before rendering."""

    rcode: int
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    ede: list[tuple[int, str]] = field(default_factory=list)
    cache: str = "-"  # hit, miss, stale, local, referral, or - (no lookup)
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    shed: bool = False  # dropped by the resolver's load shedding: send nothing
    refresh_at: float = float("inf")  # a cache answer's prefetch time (Result.refresh_at)
    secure: bool = False  # every RRset validated (DNSSEC): AD for a client that asks


class Handler:
    """Turns a client's message into the bytes to send back (or None: stay silent)."""

    def __init__(
        self, resolver: ResolverLike, config: Config, blocklist: Blocklist | None = None
    ) -> None:
        self.resolver = resolver
        self.stats: Counter[str] = Counter()
        # Answers given by ``fast``: two counters (UDP, TCP) per (question type, rcode) pair;
        # a rendered answer's ``tally`` is the index of its UDP counter (``_slot``).
        self.fast_tally: list[int] = []
        self._slots: dict[tuple[str, str], int] = {}
        self.wire = WireCache(config.cache.wire_answers)
        resolver.cache.subscribe(self.wire.invalidate)
        self.wire.on_refresh = self._prefetch
        self._seen = self.wire.seen.get
        self._now = resolver.clock.now
        self.ratelimit: ClientRateLimit | None = None
        # NAME, TYPE -> the explanation's lines (server/explain.py), set by the server;
        # None: explain.rootwalk.arpa says it is not available.
        self.explainer: Callable[[str, str], Awaitable[list[str]]] | None = None
        # The dashboard's feed (server/dashboard/feed.py): None when the dashboard is off.
        # Each answer appends one tuple here, O(1) and bounded (the deque's maxlen); the feed
        # swaps the deque out once a second and does the counting there, off the query path.
        # Fast path: (key, client, rcode); other paths: (name, qtype, client, rcode,
        # seconds, how).
        self.tap: deque[tuple[Any, ...]] | None = None
        self.configure(config, blocklist=blocklist)

    def configure(
        self, config: Config, source: str = "config", blocklist: Blocklist | None = None
    ) -> None:
        """Apply (or re-apply, on reload) the server settings; ConfigError changes nothing.

        ``blocklist``: ``server.blocklists`` loaded aside (server/blocklist.py); None reads
        them here, blocking the caller for as long as that takes."""
        local = LocalPolicy(config.server, source, blocklist)  # first: may raise ConfigError
        self.local = local if local else None
        self.hosts = local.hosts  # server.hosts_file as read (server/hosts.py)
        self.blocklist = local.blocklist  # what a reload may reuse when no file changed
        self.config = config
        self.acl = AccessControl(config.server.access_control)
        self._acl_seen: dict[Any, bool] = {}
        self.edns_payload = config.server.edns_payload
        self.query_log = config.server.query_log
        self.client_deadline = config.server.client_deadline
        self.private = _private_filter(config)
        self.ratelimit = _rate_limit(config, self.stats, self.ratelimit)
        # Rendered answers depend on local data, the advertised payload, the ACL and the
        # private-address filter.
        self.wire.configure(self.edns_payload)

    # -- entry point ------------------------------------------------------------------------

    async def handle(self, wire: bytes, peer: Peer, *, tcp: bool) -> bytes | None:
        """Answer one message. Never raises (except CancelledError)."""
        out = self.fast(wire, peer, tcp)
        if out is not None:
            return out
        return await self.slow(wire, peer, tcp=tcp)

    def fast(self, wire: bytes, peer: Peer, tcp: bool) -> bytes | None:
        """The answer from rendered bytes, or None: then ``slow`` must answer. Never raises.

        Every statement here costs a measurable share of a cache hit (docs/performance.md), so
        counting is one list increment, folded into the named counters by ``counters()``.
        """
        try:
            now = self._now()
            raw = wire[2:]
            seen = self._seen(raw)
            if seen is None or now >= seen.until:
                seen = self.wire.lookup(wire, raw, now)
                if seen is None:
                    return None
            if not (seen.fits_udp or tcp):
                return None
            allowed = self._acl_seen.get(peer[0])
            if allowed is None:
                allowed = self._acl_first(peer[0])
            if not allowed:
                return None
            out = wire[:2] + seen.rest
        except Exception:  # the slow path answers whatever this one cannot
            log.exception("fast path failed for %s", _client(peer))
            return None
        # One increment counts the answer by transport, type and rcode, and as a cache hit
        # in the lowest latency bucket: a fast answer takes microseconds (docs/performance.md),
        # far below the first bound (0.5 ms), so timing it would only cost time.
        self.fast_tally[seen.entry.tally + tcp] += 1
        tap = self.tap
        if tap is not None:
            tap.append((seen.entry.key, peer[0], out[3] & 0xF))
        if self.query_log:
            self._log_fast(wire, peer, out[3] & 0xF, tcp)
        return out

    def _prefetch(self, key: bytes) -> None:
        """A rendered answer was asked for in the last tenth of its TTL (see wirecache)."""
        self.resolver.prefetch(key[:-3] + b"\x00", (key[-3] << 8) | key[-2])

    def _slot(self, qtype: int, rcode: int) -> int:
        """The ``fast_tally`` index (UDP; +1 for TCP) of answers of this type and rcode."""
        key = (qtype_label(qtype), _RCODE_TEXT.get(rcode) or str(rcode))
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = len(self.fast_tally)
            self.fast_tally += (0, 0)
        return slot

    def _observe(self, cache: str, qtype: int | None, rcode: int, started: float) -> None:
        """Count one answer of the slow paths: latency by cache result, and type and rcode."""
        elapsed = time.monotonic() - started
        stats = self.stats
        label = "none" if cache == "-" else cache
        stats[f"latency_{label}_le_{LATENCY_LABELS[bisect_left(LATENCY_BUCKETS, elapsed)]}"] += 1
        stats[f"latency_{label}_sum_us"] += int(elapsed * 1e6)
        qlabel = "none" if qtype is None else qtype_label(qtype)
        stats[f"answers_type_{qlabel}_{_RCODE_TEXT.get(rcode) or rcode}"] += 1

    def _acl_first(self, address: Any) -> bool:
        """Whether ``address`` may have recursive answers, remembered for the fast path."""
        if len(self._acl_seen) >= _ACL_SEEN_MAX:
            self._acl_seen.clear()
        allowed = self.acl.check(str(address)) in (Action.ALLOW, Action.ALLOW_SNOOP)
        self._acl_seen[address] = allowed
        return allowed

    def counters(self) -> Counter[str]:
        """Every counter, the fast path's included (for ctl stats and /metrics)."""
        out = Counter(self.stats)
        tally = self.fast_tally
        for (qlabel, rcode), slot in self._slots.items():
            udp, tcp = tally[slot], tally[slot + 1]
            n = udp + tcp
            if not n:
                continue
            out["queries_udp"] += udp
            out["queries_tcp"] += tcp
            out[f"rcode_{rcode}"] += n
            out["cache_hit"] += n
            out["answers_fast"] += n
            out[f"answers_type_{qlabel}_{rcode}"] += n
            out[f"latency_hit_le_{LATENCY_LABELS[0]}"] += n  # see ``fast``; adds 0 to the sum
        return out

    async def slow(
        self, wire: bytes, peer: Peer, *, tcp: bool, born: float | None = None
    ) -> bytes | None:
        """Answer one message through dnspython. Never raises (except CancelledError).

        ``born``: when a UDP message was read from its socket (time.monotonic()); past
        ``server.client_deadline`` from then, its stub has given up, so no work is started
        for it and no answer sent (counted as dropped_late_start, dropped_late_answer)."""
        started = time.monotonic() if born is None else born
        try:
            return await self._handle(wire, peer, tcp, started)
        except Exception:
            # Last resort: a bug must cost one answer, never the server.
            self.stats["internal_errors"] += 1
            log.exception("internal error answering %s", _client(peer))
            if len(wire) < 12 or wire[2] & 0x80:
                return None
            return header_reply(wire, dns.rcode.SERVFAIL)

    async def _handle(self, wire: bytes, peer: Peer, tcp: bool, started: float) -> bytes | None:
        stats = self.stats
        stats["queries_tcp" if tcp else "queries_udp"] += 1
        if not tcp and time.monotonic() - started > self.client_deadline:
            stats["dropped_late_start"] += 1  # waited in the loop's queue: nobody to answer
            return None
        if len(wire) < 12 or wire[2] & 0x80:  # no header, or a response: never answer
            stats["dropped_malformed"] += 1
            return None
        action = self.acl.check(str(peer[0]))
        if action is Action.DENY:
            stats["dropped_acl"] += 1
            return None
        opcode = (wire[2] >> 3) & 0xF
        if opcode != dns.opcode.QUERY:
            stats["rcode_NOTIMP"] += 1
            return header_reply(wire, dns.rcode.NOTIMP)
        if action is not Action.REFUSE:
            head = parse_query_head(wire, self.edns_payload)
            if head is not None:
                plain = await self._answer_plain(wire, head, peer, tcp, started)
                if not isinstance(plain, _NotPlain):
                    return plain
        try:
            query = dns.message.from_wire(wire)
        except dns.message.UnknownTSIGKey:
            stats["rcode_NOTAUTH"] += 1
            return header_reply(wire, dns.rcode.NOTAUTH)
        except Exception:
            stats["rcode_FORMERR"] += 1
            return header_reply(wire, dns.rcode.FORMERR)
        return await self._answer(query, wire, peer, action, tcp, started)

    async def _answer(
        self,
        query: dns.message.Message,
        qwire: bytes,
        peer: Peer,
        action: Action,
        tcp: bool,
        started: float,
    ) -> bytes | None:
        response = dns.message.Message(id=query.id)
        response.flags = dns.flags.QR | dns.flags.RA | (query.flags & (dns.flags.RD | dns.flags.CD))
        dnssec_ok = query.edns >= 0 and bool(query.ednsflags & dns.flags.DO)
        response.question = list(query.question[:1])
        client_edns = query.edns >= 0
        if client_edns:
            ednsflags = query.ednsflags & dns.flags.DO
            response.use_edns(0, ednsflags, self.edns_payload)
        if tcp:
            max_size = 65535
        elif client_edns:
            max_size = min(max(512, query.payload), self.edns_payload)
        else:
            max_size = 512

        reply = await self._decide(query, action)
        if self._late_answer(started, tcp):
            return None
        if reply.shed:
            self.stats["dropped_shed"] += 1
            return None  # as Unbound: a dropped question is retried; a SERVFAIL is believed
        response.set_rcode(dns.rcode.Rcode.make(reply.rcode))
        if reply.secure and (dnssec_ok or query.flags & dns.flags.AD):
            response.flags |= dns.flags.AD  # RFC 6840 §5.7-5.8
        response.answer = reply.answer
        response.authority = reply.authority
        response.additional = reply.additional
        if client_edns and reply.ede:
            response.use_edns(
                0,
                response.ednsflags,
                self.edns_payload,
                options=[
                    dns.edns.EDEOption(dns.edns.EDECode.make(code), text[:_EDE_TEXT_MAX])
                    for code, text in reply.ede
                ],
            )
        wire = self._render(response, max_size, tcp)
        stat = f"rcode_{dns.rcode.to_text(dns.rcode.Rcode.make(reply.rcode))}"
        self.stats[stat] += 1
        # "-" (no cache lookup, e.g. REFUSED) reads well in the query log, not as a key.
        self.stats["cache_none" if reply.cache == "-" else f"cache_{reply.cache}"] += 1
        qtype = query.question[0].rdtype if query.question else None
        self._observe(reply.cache, qtype, reply.rcode, started)
        blocked = any(code == EDE.BLOCKED for code, _ in reply.ede)
        if blocked:
            self.stats["blocked"] += 1  # the dashboard's "blocked queries" and /metrics
        tap = self.tap
        if tap is not None and query.question:
            how = "blocked" if blocked else "walk" if reply.cache == "miss" else reply.cache
            name = from_dns(query.question[0].name)
            elapsed = time.monotonic() - started
            tap.append((name, qtype, peer[0], reply.rcode, elapsed, how))
        if reply.cache == "hit" and not reply.ede and action in (Action.ALLOW, Action.ALLOW_SNOOP):
            self._keep(qwire, wire, reply)
        if self.query_log:
            self._log_query(query, peer, reply, tcp, started)
        return wire

    def _late_answer(self, started: float, tcp: bool) -> bool:
        """Unbound discard-timeout: past server.client_deadline the stub has given up, and the
        cache has the answer for its retry. TCP answers still go out: the connection is the
        client's patience."""
        if tcp or time.monotonic() - started <= self.client_deadline:
            return False
        self.stats["dropped_late_answer"] += 1
        return True

    async def _answer_plain(
        self, qwire: bytes, head: QueryHead, peer: Peer, tcp: bool, started: float
    ) -> bytes | None | _NotPlain:
        """A plain recursive IN question (rootwalk.wire.parse_query_head), answered from the
        engine's compact records and rendered without dnspython: the cold path of a client
        question. ``_NOT_PLAIN`` when the question needs the full path after all (a special
        type, or local data or a blocklist that has a say on the name)."""
        key, qend, udp_size = head
        qtype = (key[-3] << 8) | key[-2]
        if qtype in _SPECIAL_TYPES:
            return _NOT_PLAIN
        name = key[:-3] + b"\x00"
        if name.endswith(_ROOTWALK_ARPA_WIRE):
            return _NOT_PLAIN  # rootwalk's own names: answered by _decide, never walked
        local = self.local
        if (
            local is not None
            and local.speaks_for(name)
            and local.answer(to_dns(name), RdataType.make(qtype))
        ):
            return _NOT_PLAIN
        variant = key[-1]  # rootwalk.wire.query: bit 0 EDNS, 1 DO, 2 CD, 3 AD
        result = await self.resolver.resolve(
            name, qtype, do=bool(variant & 2), cd=bool(variant & 4)
        )
        stats = self.stats
        if self._late_answer(started, tcp):
            return None
        if result.shed:
            stats["dropped_shed"] += 1
            return None  # as Unbound: a dropped question is retried; a SERVFAIL is believed
        if self.private is not None:
            result = self._filter_private(result)
        client_edns = bool(variant & 1)
        flags = _QR | _RA | (((qwire[2] << 8) | qwire[3]) & (_RD | _CD))
        # RFC 6840 §5.7-5.8: AD only for data that validated, and only to a client that
        # showed it understands it (DO=1, or AD=1 in the question).
        if result.security is Security.SECURE and variant & 0x0A:
            flags |= _AD
        opt = None
        if client_edns:
            options = b"".join(edns_ede(code, text[:_EDE_TEXT_MAX]) for code, text in result.ede)
            opt = (self.edns_payload, 0x8000 if variant & 2 else 0, options)
        qid = (qwire[0] << 8) | qwire[1]
        qname = qwire[12 : 12 + len(name)]  # the client's spelling (0x20 case kept)
        sections = (result.answer, result.authority, ())
        out = render_message(qid, flags | result.rcode, qname, qtype, sections, opt=opt)
        max_size = 65535 if tcp else udp_size
        if len(out) > max_size:
            if tcp:  # larger than a DNS message can be: nothing sensible but a failure
                stats["too_big"] += 1
                flags |= dns.rcode.SERVFAIL
            else:
                stats["truncated"] += 1
                flags |= _TC | result.rcode
            out = render_message(qid, flags, qname, qtype, ((), (), ()), opt=opt)
        cache = "stale" if result.stale else "hit" if result.from_cache else "miss"
        stats[_RCODE_STAT.get(result.rcode) or f"rcode_{result.rcode}"] += 1
        stats[f"cache_{cache}"] += 1
        self._observe(cache, qtype, result.rcode, started)
        if cache == "hit" and not result.ede and result.rcode in (0, 3) and not out[2] & 0x02:
            tally = self._slot(qtype, result.rcode)
            deps = _wire_dependencies(name, result.answer, result.authority)
            self.wire.put(key, out, qend, self._now(), deps, tally, result.refresh_at)
        tap = self.tap
        if tap is not None:
            how = "walk" if cache == "miss" else cache
            tap.append((name, qtype, peer[0], result.rcode, time.monotonic() - started, how))
        if self.query_log:
            ms = (time.monotonic() - started) * 1000.0
            qlog.info(
                "query %s %s %s %s %s %.1fms cache=%s",
                _client(peer),
                "tcp" if tcp else "udp",
                to_text(name),
                dns.rdatatype.to_text(RdataType.make(qtype)),
                dns.rcode.to_text(dns.rcode.Rcode.make(result.rcode)),
                ms,
                cache,
            )
        return out

    def _keep(self, qwire: bytes, wire: bytes, reply: Reply) -> None:
        """Store a rendered cache hit for ``fast`` when the question is one it can key."""
        if reply.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or wire[2] & 0x02:
            return  # failures are not cached here; a TC=1 answer is not the answer
        head = parse_query_head(qwire, self.edns_payload)
        if head is None or qwire[head[1] - 4 : head[1] - 2] == b"\x00\xff":
            return  # not a plain question, or ANY (answered by RFC 8482 synthesis)
        deps = _dependencies(dns.name.from_wire(qwire, 12)[0], reply)
        qtype = (head[0][-3] << 8) | head[0][-2]
        tally = self._slot(qtype, reply.rcode)
        self.wire.put(head[0], wire, head[1], self._now(), deps, tally, reply.refresh_at)

    # -- policy -----------------------------------------------------------------------------

    async def _decide(self, query: dns.message.Message, action: Action) -> Reply:
        if len(query.question) != 1 or query.answer or query.authority:
            return Reply(dns.rcode.FORMERR)
        if query.edns > 0:
            return Reply(dns.rcode.BADVERS)
        q = query.question[0]
        qname, qtype = q.name, RdataType(q.rdtype)
        if qtype in _FORMERR_TYPES:
            return Reply(dns.rcode.FORMERR)
        if action is Action.REFUSE:
            return Reply(dns.rcode.REFUSED, ede=[(EDE.PROHIBITED, "access refused")])
        if q.rdclass != dns.rdataclass.IN:
            return Reply(dns.rcode.REFUSED, ede=[(EDE.NOT_SUPPORTED, "only class IN is served")])
        if qtype in _REFUSED_TYPES:
            return Reply(
                dns.rcode.REFUSED, ede=[(EDE.NOT_SUPPORTED, "zone transfers are not served")]
            )
        if qtype in _NOTIMP_TYPES:
            return Reply(dns.rcode.NOTIMP)
        if qname.is_subdomain(ROOTWALK_ARPA):
            return await self._rootwalk_arpa(qname, qtype, action)
        any_query = qtype == dns.rdatatype.ANY
        ask = dns.rdatatype.A if any_query else qtype
        local = self.local.answer(qname, ask) if self.local is not None else None
        if local is not None:
            reply = Reply(local.rcode, local.answer, local.authority, local.ede, cache="local")
            return _minimal_any(qname, reply) if any_query else reply
        if not query.flags & dns.flags.RD:
            if action is not Action.ALLOW_SNOOP:
                return Reply(
                    dns.rcode.REFUSED,
                    ede=[(EDE.PROHIBITED, "non-recursive (RD=0) questions are not allowed")],
                )
            reply = self._from_cache(qname, ask)
        else:
            do = query.edns >= 0 and bool(query.ednsflags & dns.flags.DO)
            cd = bool(query.flags & dns.flags.CD)
            result = await self.resolver.resolve(from_dns(qname), ask, do=do, cd=cd)
            if self.private is not None:
                result = self._filter_private(result)
            cache = "stale" if result.stale else "hit" if result.from_cache else "miss"
            reply = Reply(
                result.rcode, _dns(result.answer), _dns(result.authority), result.ede, cache
            )
            reply.shed = result.shed
            reply.refresh_at = result.refresh_at
            reply.secure = result.security is Security.SECURE
        if any_query:
            reply = _minimal_any(qname, reply)
        return reply

    async def _rootwalk_arpa(self, qname: dns.name.Name, qtype: RdataType, action: Action) -> Reply:
        """rootwalk.arpa: local-only, never resolved (see the module docstring)."""
        if action is not Action.ALLOW_SNOOP:
            why = "explain.rootwalk.arpa answers only clients allowed to snoop (allow_snoop)"
            return Reply(dns.rcode.REFUSED, ede=[(EDE.PROHIBITED, why)], cache="local")
        if not qname.is_subdomain(EXPLAIN_ZONE):
            return Reply(dns.rcode.NXDOMAIN, cache="local")
        if qtype != dns.rdatatype.TXT:
            return Reply(dns.rcode.NOERROR, cache="local")
        if qname == EXPLAIN_ZONE:
            lines = [_EXPLAIN_HELP]
        elif self.explainer is None:
            lines = ["explanations are not available in this server"]
        else:
            labels = list(qname.relativize(EXPLAIN_ZONE).labels)
            rdtype = "A"
            # A TLD never starts with "_", so a last label "_aaaa" can only be a type.
            if len(labels) > 1 and labels[-1].startswith(b"_"):
                rdtype = labels.pop().decode("ascii", "replace")[1:]
            name = dns.name.Name([*labels, b""]).to_text()
            try:
                lines = await self.explainer(name, rdtype)
            except ValueError as exc:
                lines = [f"error: {exc}"]
        rdatas = [
            TXT(dns.rdataclass.IN, dns.rdatatype.TXT, _txt_strings(f"{i:02d} {line}"))
            for i, line in enumerate(lines, start=1)
        ]
        rrset = dns.rrset.from_rdata_list(qname, 0, rdatas)  # TTL 0: never kept by anyone
        return Reply(dns.rcode.NOERROR, [rrset], cache="local")

    def _filter_private(self, result: Result) -> Result:
        """``result`` without the private addresses of public names (server/rebind.py)."""
        answer = self._filter_list(result.answer)
        if answer is result.answer:
            return result
        return dataclasses.replace(result, answer=answer)

    def _filter_list(self, rrsets: list[RRset]) -> list[RRset]:
        assert self.private is not None
        kept = self.private.filter(rrsets)
        if kept is None:
            return rrsets
        self.stats["private_address_removed"] += 1
        return kept

    def _from_cache(self, qname: dns.name.Name, qtype: RdataType) -> Reply:
        r = self.resolver
        now = r.clock.now()
        key = from_dns(qname)
        hit = r.cache.lookup(key, qtype, now, max_chain=r.config.limits.max_cname_chain)
        if hit is None or not hit.complete:
            cut = r.cache.referral(key, now)
            if cut is not None:
                ns, glue = cut
                if self.private is not None:
                    glue = self._filter_list(glue)
                return Reply(
                    dns.rcode.NOERROR, [], _dns([ns]), cache="referral", additional=_dns(glue)
                )
            return Reply(
                dns.rcode.SERVFAIL,
                ede=[(EDE.OTHER, "not in cache and recursion not desired (RD=0)")],
                cache="miss",
            )
        rcode, answer, authority = hit.sections()
        if self.private is not None:
            answer = self._filter_list(answer)
        return Reply(rcode, _dns(answer), _dns(authority), cache="hit")

    # -- rendering --------------------------------------------------------------------------

    def _render(self, response: dns.message.Message, max_size: int, tcp: bool) -> bytes:
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            pass
        response.answer = []
        response.authority = []
        response.additional = []
        if tcp:  # larger than a DNS message can be: nothing sensible to send but a failure
            response.set_rcode(dns.rcode.SERVFAIL)
            self.stats["too_big"] += 1
        else:
            response.flags |= dns.flags.TC
            self.stats["truncated"] += 1
        return response.to_wire(max_size=max_size)

    def _log_fast(self, wire: bytes, peer: Peer, rcode: int, tcp: bool) -> None:
        q = dns.message.from_wire(wire, question_only=True).question[0]
        qlog.info(
            "query %s %s %s %s %s %.1fms cache=hit",
            _client(peer),
            "tcp" if tcp else "udp",
            q.name.to_text(),
            dns.rdatatype.to_text(q.rdtype),
            _RCODE_TEXT.get(rcode) or str(rcode),
            0.0,
        )

    def _log_query(
        self, query: dns.message.Message, peer: Peer, reply: Reply, tcp: bool, started: float
    ) -> None:
        ms = (time.monotonic() - started) * 1000.0
        if query.question:
            q = query.question[0]
            name, qtype = q.name.to_text(), dns.rdatatype.to_text(q.rdtype)
        else:
            name, qtype = "-", "-"
        qlog.info(
            "query %s %s %s %s %s %.1fms cache=%s",
            _client(peer),
            "tcp" if tcp else "udp",
            name,
            qtype,
            dns.rcode.to_text(dns.rcode.Rcode.make(reply.rcode)),
            ms,
            reply.cache,
        )


def _private_filter(config: Config) -> PrivateFilter | None:
    """server.private_addresses as a filter (None: off); the forward zones below the root
    count as private domains (server/rebind.py says why)."""
    s = config.server
    if not s.private_addresses:
        return None
    domains = [from_text(name) for name in s.private_domains]
    domains += [from_text(fz.name) for fz in config.resolver.forward_zones]
    return PrivateFilter(s.private_addresses, [d for d in domains if d != b"\x00"])


def _rate_limit(
    config: Config, stats: Counter[str], old: ClientRateLimit | None
) -> ClientRateLimit | None:
    """server.client_rate_limit as a limiter (None: off). A reload that changes none of its
    settings keeps the buckets, so a client cannot reset its bucket by waiting for one."""
    s = config.server
    if not s.client_rate_limit:
        return None
    truncate = s.client_rate_action == "truncate"
    settings = (
        s.client_rate_limit,
        s.client_rate_burst,
        s.client_rate_prefix_v4,
        s.client_rate_prefix_v6,
        truncate,
    )
    if old is not None and old.settings == settings and old.edns_payload == s.edns_payload:
        return old
    return ClientRateLimit(
        s.client_rate_limit,
        s.client_rate_burst,
        s.client_rate_prefix_v4,
        s.client_rate_prefix_v6,
        truncate=truncate,
        stats=stats,
        edns_payload=s.edns_payload,
    )


def _dependencies(qname: dns.name.Name, reply: Reply) -> tuple[bytes, ...]:
    """Every name whose cached data went into ``reply``: a change to any of them voids it.

    That is the owners of its records, the question's name (data stored for it later must
    replace the answer), the end of a CNAME chain (a negative answer is cached under the
    target's name), and for a negative answer every name from the target up to the zone,
    since an NXDOMAIN cached for an ancestor covers the names below it (RFC 8020 §2).
    """
    names = {rrset.name for rrset in (*reply.answer, *reply.authority)}
    names.add(qname)
    target = qname
    for rrset in reply.answer:
        if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == target:
            target = rrset[0].target
            names.add(target)
    soa = [r.name for r in reply.authority if r.rdtype == dns.rdatatype.SOA]
    if soa and target.is_subdomain(soa[0]):
        name = target
        while name != soa[0]:
            names.add(name)
            name = name.parent()
    return tuple(from_dns(name) for name in names)


def _wire_dependencies(
    qname: bytes, answer: list[RRset], authority: list[RRset]
) -> tuple[bytes, ...]:
    """``_dependencies`` for compact records (wire names)."""
    names = {r.owner for r in answer}
    names.update(r.owner for r in authority)
    names.add(qname)
    target = qname
    for rrset in answer:
        if rrset.rtype == CNAME and rrset.owner == target:
            target = rrset.rdatas[0]
            names.add(target)
    soa = [r.owner for r in authority if r.rtype == SOA]
    if soa and is_subdomain(target, soa[0]):
        name = target
        while name != soa[0]:
            names.add(name)
            name = parent(name)
    return tuple(names)


def _dns(rrsets: list[RRset]) -> list[dns.rrset.RRset]:
    """Engine records as dnspython RRsets, for the dnspython renderer of the slow path."""
    return [to_dns_rrset(r) for r in rrsets]


def _minimal_any(qname: dns.name.Name, reply: Reply) -> Reply:
    """RFC 8482 §4.1/4.2: answer ANY with one RRset owned by the name, or a synthesized HINFO."""
    if reply.rcode != dns.rcode.NOERROR:
        return reply
    own = [r for r in reply.answer if r.name == qname][:1]
    if own:
        return Reply(reply.rcode, own, [], reply.ede, reply.cache)
    hinfo = _RFC8482_HINFO
    ttl = _HINFO_TTL
    for rrset in reply.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            ttl = min(ttl, rrset.ttl)
    return Reply(reply.rcode, [dns.rrset.from_rdata(qname, ttl, hinfo)], [], reply.ede, reply.cache)


def _txt_strings(line: str) -> list[bytes]:
    """A line as TXT character-strings of at most 255 bytes each (RFC 1035 §3.3.14)."""
    data = line.encode("utf-8", "replace")
    return [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]


def _client(peer: Sequence[Any]) -> str:
    try:
        host, port = peer[0], peer[1]
    except (IndexError, TypeError):
        return str(peer)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
