"""One explanation of any answer: why NAME TYPE gets the answer it gets (issue #14).

``explain(server, name, type)`` asks the question the way a client's plain recursive question
is answered (server/handler.py ``_decide``), and says at each step what decided:

1. **local data** (``server.local_data``: which entry; the hosts file: which line), a
   **local zone** (which ``server.local_zone`` entry), or a **blocklist** (which list, which
   line; an allowlist line that lets it through is shown too);
2. otherwise the **cache**, entry by entry: TTL left of the TTL stored, trust rank (RFC 2181
   §5.4.1), and the walk that fetched it when the walk log still has it;
3. otherwise a **walk**: the question is resolved now and its trace shown hop by hop; a
   **forward zone** that covers the name is named (its servers are asked instead of the root);
4. for SERVFAIL, the reason chain: every Extended DNS Error (RFC 8914) with its text, and the
   steps that failed (timeouts, lame or broken servers, servers not asked).

``rootwalk ctl explain``, ``GET /api/explain`` (server/api.py) and the ``explain.rootwalk.arpa``
TXT name (server/handler.py) all show this one ``Explanation``: ``to_json`` for programs,
``to_text`` for people. docs/explain.md has examples.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from rootwalk.cache import Cache
from rootwalk.errors import EDE
from rootwalk.resolution import Question, Result, TraceEvent, type_text
from rootwalk.server.blocklist import find_entries
from rootwalk.server.blocklist_fetch import is_url
from rootwalk.server.local import Result as LocalResult
from rootwalk.server.local import blocklist_spec
from rootwalk.server.walks import Walk, WalkLog, ede_name, event_json, rcode_text
from rootwalk.wire.convert import rrset_lines
from rootwalk.wire.message import RRset
from rootwalk.wire.names import from_dns, is_subdomain, to_text

if TYPE_CHECKING:
    from rootwalk.server.app import Server

__all__ = [
    "CacheEntry",
    "Explanation",
    "Origin",
    "explain",
    "explain_text",
    "parse_question",
]

#: Steps of a walk that are a failure of some kind (the SERVFAIL reason chain shows them).
FAILED_KINDS = frozenset(
    {"timeout", "unreachable", "lame", "error", "mismatch", "malformed", "skipped", "no-cut"}
)
_TYPE_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$|^TYPE\d+$", re.IGNORECASE)


@dataclass
class Origin:
    """Where a local answer comes from: a configuration entry, or a line of a file."""

    kind: str  # local_data, local_zone, hosts_file, blocklist, allowlist
    where: str  # "server.local_data[2]", a file's path, "server.blocklists[0] PATH"
    text: str  # the entry or the line
    line: int | None = None  # 1-based line of a file


@dataclass
class CacheEntry:
    """One cached RRset or negative verdict that went into the answer."""

    name: str
    type: str
    ttl: int  # seconds left
    original_ttl: int | None  # as stored (after cache.min_ttl/max_ttl); None if unknown
    trust: str | None  # RFC 2181 §5.4.1 rank (rootwalk.cache.Trust), None if unknown
    negative: str | None  # "nxdomain" or "nodata" for a negative verdict
    records: list[str]
    walk: int | None = None  # id of the walk (walk log) that last fetched it, if kept
    walk_started: float | None = None


@dataclass
class Explanation:
    """Why NAME TYPE gets the answer it gets. Plain data: ``to_json``, ``to_text``."""

    name: str
    type: str
    decided_by: str  # local, local_zone, hosts_file, blocklist, cache, stale, walk, refused
    rcode: str
    summary: str  # one line
    answer: list[str] = field(default_factory=list)
    authority: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    ede: list[dict[str, Any]] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    forward_zone: dict[str, Any] | None = None
    cache: list[CacheEntry] = field(default_factory=list)
    walk: dict[str, Any] | None = None
    failed_steps: list[dict[str, Any]] = field(default_factory=list)
    # What DNSSEC validation found (secure, insecure, bogus, indeterminate); None when off.
    dnssec: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_text(self) -> str:
        return "\n".join(self.lines()) + "\n"

    def lines(self) -> list[str]:
        """The text form, a line each (the dig surface sends one TXT string a line)."""
        out = [f"{self.name} {self.type}: {self.rcode}, {self.summary}"]
        out += [f"  {line}" for line in self.answer + self.authority]
        for reason in self.reasons:
            out.append(f"why: {reason}")
        for e in self.ede:
            out.append(f"EDE {e['code']} ({e['name']}): {e['text']}")
        for o in self.origins:
            at = f"{o.where}:{o.line}" if o.line is not None else o.where
            out.append(f"{o.kind}: {at}: {o.text}")
        if self.forward_zone is not None:
            fz = self.forward_zone
            out.append(f"forward zone {fz['zone']}: asked {', '.join(fz['addresses'])}")
        if self.cache:
            out.append("cache:")
            for c in self.cache:
                what = c.negative.upper() if c.negative else f"{len(c.records)} record(s)"
                ttl = f"TTL {c.ttl}" + (f"/{c.original_ttl}" if c.original_ttl else "")
                trust = f", trust {c.trust}" if c.trust else ""
                came = (
                    f", fetched by walk #{c.walk} at {_clock(c.walk_started)}"
                    if c.walk is not None and c.walk_started is not None
                    else ", no recorded walk (walk log off, forgotten, or loaded from a file)"
                )
                out.append(f"  {c.name} {c.type}: {what}, {ttl}{trust}{came}")
        if self.walk is not None:
            w = self.walk
            out.append(
                f"walk #{w['id']} at {_clock(w['started'])}: {w['name']} {w['type']}, "
                f"{w['rcode']}, {_queries(w['upstream_queries'])}, "
                f"{w['duration_ms']:.1f} ms"
            )
            out += [f"  {step_text(s)}" for s in w["steps"]]
        if self.failed_steps:
            out.append("failed steps:")
            out += [f"  {step_text(s)}" for s in self.failed_steps]
        return out


def _queries(n: int) -> str:
    return f"{n} upstream quer{'y' if n == 1 else 'ies'}"


def _clock(when: float | None) -> str:
    if when is None:
        return "?"
    return time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when % 1 * 1000):03d}"


def step_text(step: dict[str, Any]) -> str:
    """One walk step (``event_json``) as a line: who was asked, what came back."""
    pad = "  " * step["depth"]
    q = f"{step['qname']} {step['qtype']}"
    kind = step["kind"]
    if kind == "start":
        return f"{pad}{q}: start at zone cut {step['zone']}"
    if kind == "cache":
        return f"{pad}cache: {q} -> {step['detail']}"
    if kind == "subquery":
        return f"{pad}glueless {step['zone']}: {step['detail']}, resolved first"
    rtt = f"{step['rtt_ms']:.1f} ms" if step["rtt_ms"] is not None else "-"
    server = f"{step['server'] or '-'} [{step['address']}]"
    tcp = " over TCP" if step["tcp"] else ""
    if kind == "skipped":
        return f"{pad}{step['zone']} {server}: not asked: {step['detail']}"
    return f"{pad}{step['zone']} {server} asked {q}{tcp}, {rtt}: {kind}: {step['detail']}"


def parse_question(name: str, rdtype: str = "A") -> tuple[dns.name.Name, int]:
    """A question from text; ValueError with a line to show when it is not one."""
    try:
        qname = dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise ValueError(f"bad name {name!r}: {exc}") from None
    if not _TYPE_WORD.match(rdtype):
        raise ValueError(f"bad type {rdtype!r}")
    try:
        qtype = int(dns.rdatatype.from_text(rdtype))
    except dns.exception.DNSException:
        raise ValueError(f"unknown type {rdtype!r}") from None
    if dns.rdatatype.is_metatype(dns.rdatatype.RdataType.make(qtype)) or qtype == dns.rdatatype.ANY:
        raise ValueError(f"{rdtype.upper()} is not a data type: ask for A, AAAA, MX, ...")
    return qname, qtype


def _dns_lines(rrsets: list[dns.rrset.RRset]) -> list[str]:
    return [line for r in rrsets for line in r.to_text().splitlines()]


def _rr_lines(rrsets: list[RRset]) -> list[str]:
    return [line for r in rrsets for line in rrset_lines(r)]


def _ede(pairs: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return [{"code": int(c), "name": ede_name(int(c)), "text": t} for c, t in pairs]


async def explain(
    server: Server, name: str, rdtype: str = "A", *, walk: bool = True
) -> Explanation:
    """Explain NAME TYPE on ``server``; ``walk``: resolve it now when the cache cannot
    answer (else say so). ValueError for a bad question."""
    qname, qtype = parse_question(name, rdtype)
    text_name, text_type = qname.to_text(), type_text(qtype)
    handler = server.handler
    local = handler.local
    if local is not None:
        answer = local.answer(qname, dns.rdatatype.RdataType.make(qtype))
        if answer is not None:
            return await _explain_local(server, qname, qtype, answer)
    wire = from_dns(qname)
    resolver = server.resolver
    fwd = _forward_zone(server, wire)
    now = resolver.clock.now()
    hit = resolver.cache.lookup(wire, qtype, now, max_chain=resolver.config.limits.max_cname_chain)
    if hit is not None and hit.complete:
        rcode, answer_rr, auth_rr = hit.sections()
        result = Result(rcode, answer_rr, auth_rr, from_cache=True)
        return _explain_result(server, wire, qtype, result, None, fwd)
    if not walk:
        ex = Explanation(text_name, text_type, "cache", "-", "not in the cache")
        ex.reasons.append("nothing cached answers it; asking it would start a walk")
        ex.forward_zone = fwd
        return ex
    events: list[TraceEvent] = []
    began, t0 = resolver.clock.now(), resolver.clock.monotonic()
    # A traced resolution of its own (never coalesced): the explanation gets every step even
    # when the walk log is off; when it is on, the walk is recorded there too.
    result = await resolver.resolve(wire, qtype, trace=events.append)
    log = walk_log(server)
    recorded = log.latest(wire, qtype) if log is not None else None
    if recorded is None or recorded.started < began:
        recorded = Walk(
            0,
            Question(wire, qtype),
            began,
            resolver.clock.monotonic() - t0,
            tuple(events),
            result.rcode,
            tuple(result.ede),
            result.stale,
        )
    return _explain_result(server, wire, qtype, result, recorded, fwd)


def walk_log(server: Server) -> WalkLog | None:
    """The server's walk log, if it records walks (server.record_walks)."""
    walks = server.resolver.walks
    return walks if isinstance(walks, WalkLog) else None


def _forward_zone(server: Server, wire: bytes) -> dict[str, Any] | None:
    for zone, addresses in server.resolver.config.resolver.forwards:
        if is_subdomain(wire, zone):
            return {
                "zone": to_text(zone),
                "addresses": [f"{a}@{p}" if p != 53 else a for a, p in addresses],
            }
    return None


def _explain_result(
    server: Server,
    wire: bytes,
    qtype: int,
    result: Result,
    walk: Walk | None,
    fwd: dict[str, Any] | None,
) -> Explanation:
    text_name, text_type = to_text(wire), type_text(qtype)
    rcode = rcode_text(result.rcode)
    if result.from_cache:
        decided, summary = "cache", "answered from the cache"
    elif result.stale:
        decided, summary = "stale", "answered with expired data from the cache (serve-stale)"
    else:
        n = walk.upstream_queries if walk is not None else 0
        decided, summary = "walk", f"resolved now by a walk ({_queries(n)})"
    ex = Explanation(text_name, text_type, decided, rcode, summary)
    ex.answer = _rr_lines(result.answer)
    ex.authority = _rr_lines(result.authority)
    ex.ede = _ede(result.ede)
    if server.resolver.validator is not None and result.rcode in (0, 3):
        ex.dnssec = result.security.value
        ex.reasons.append(_DNSSEC_REASON[result.security.value])
    ex.forward_zone = fwd
    if fwd is not None:
        ex.reasons.append(
            f"{text_name} is in the forward zone {fwd['zone']}: its servers are asked, "
            "not the root (resolver.forward_zones)"
        )
    if result.from_cache or result.stale:
        ex.cache = _cache_entries(server, wire, qtype, result)
        if result.from_cache:
            ex.reasons.append(_cache_reason(ex.cache))
        log = walk_log(server)
        fetched = next((c.walk for c in reversed(ex.cache) if c.walk is not None), None)
        if walk is None and log is not None and fetched is not None:
            walk = log.get(fetched)  # the walk that fetched the answer: the page draws it
    if walk is not None:
        ex.walk = walk.to_json()
        ex.failed_steps = [event_json(ev) for ev in walk.events if ev.kind in FAILED_KINDS]
    if result.rcode == dns.rcode.SERVFAIL:
        ex.reasons.append(
            "the resolution failed: the Extended DNS Errors say why, the failed steps where"
        )
        if not ex.failed_steps and walk is not None and walk.events:
            ex.reasons.append("no step failed outright: a limit or the time budget ended it")
    elif result.stale:
        ex.reasons += [f"{t} (EDE {c}, {ede_name(c)})" for c, t in result.ede]
    elif result.rcode == dns.rcode.NXDOMAIN:
        ex.reasons.append(_negative_reason(result, "the name does not exist (NXDOMAIN)"))
    elif not result.answer:
        ex.reasons.append(_negative_reason(result, f"the name has no {text_type} records (NODATA)"))
    private = server.handler.private
    if private is not None and result.answer and private.filter(result.answer) is not None:
        ex.reasons.append(
            "rebinding protection (server.private_addresses) removes private addresses from "
            "this answer before it is sent"
        )
    return ex


_DNSSEC_REASON = {
    "secure": "DNSSEC: secure, every record validated from the trust anchor down (AD for "
    "clients that ask with DO or AD)",
    "insecure": "DNSSEC: insecure, the zone is not signed (or below a negative trust anchor): "
    "no AD",
    "bogus": "DNSSEC: bogus, answered only to a client that set CD",
    "indeterminate": "DNSSEC: indeterminate, no trust anchor covers the name: no AD",
}


def _negative_reason(result: Result, what: str) -> str:
    soa = [r for r in result.authority if r.rtype == 6]
    if soa:
        return f"{what}; the zone's SOA {to_text(soa[0].owner)} says so"
    return what


def _cache_reason(entries: list[CacheEntry]) -> str:
    if not entries:
        return "the cache holds the answer"
    last = entries[-1]
    if last.negative:
        return (
            f"the cache holds a negative answer ({last.negative}) for {last.name}, TTL {last.ttl}"
        )
    return f"the cache holds {last.name} {last.type}, TTL {last.ttl} left"


def _cache_entries(server: Server, wire: bytes, qtype: int, result: Result) -> list[CacheEntry]:
    """The cached items behind a cache answer, with their trust and the walk that fetched
    them (the in-process Cache tells trust and stored TTL; another CacheView only TTLs)."""
    resolver = server.resolver
    cache = resolver.cache
    now = resolver.clock.now()
    walks = walk_log(server)
    stale = result.stale

    def walk_of(name: bytes, rtype: int) -> Walk | None:
        if walks is None:
            return None
        return walks.latest(name, rtype) or walks.latest(wire, qtype)

    out: list[CacheEntry] = []
    for rrset in result.answer:
        trust: str | None = None
        original: int | None = None
        ttl = rrset.ttl
        if isinstance(cache, Cache):
            entry = cache.rrsets.get(rrset.owner, rrset.rtype, now, stale=stale)
            if entry is not None:
                trust, original, ttl = entry.trust.name.lower(), entry.original, entry.ttl(now)
        w = walk_of(rrset.owner, rrset.rtype)
        out.append(
            CacheEntry(
                to_text(rrset.owner),
                type_text(rrset.rtype),
                ttl,
                original,
                trust,
                None,
                rrset_lines(rrset),
                w.id if w is not None else None,
                w.started if w is not None else None,
            )
        )
    if not result.answer or result.answer[-1].rtype not in (qtype, 39):
        # A negative verdict: for the end of the chain (the question's name without one).
        target = wire
        for rrset in result.answer:
            if rrset.rtype == 5 and rrset.owner == target:
                target = rrset.rdatas[0]
        soa = next((r for r in result.authority if r.rtype == 6), None)
        if soa is not None:
            original = None
            ttl = soa.ttl
            kind = "nxdomain" if result.rcode == dns.rcode.NXDOMAIN else "nodata"
            if isinstance(cache, Cache):
                neg = cache.negative.get(target, qtype, now, stale=stale)
                if neg is not None:
                    original, ttl = neg.original, neg.ttl(now)
                    target = neg.owner
            w = walk_of(target, qtype)
            out.append(
                CacheEntry(
                    to_text(target),
                    type_text(qtype),
                    ttl,
                    original,
                    None,
                    kind,
                    rrset_lines(soa),
                    w.id if w is not None else None,
                    w.started if w is not None else None,
                )
            )
    return out


# -- local answers -------------------------------------------------------------------------


async def _explain_local(
    server: Server, qname: dns.name.Name, qtype: int, answer: LocalResult
) -> Explanation:
    config = server.handler.config.server
    text_name, text_type = qname.to_text(), type_text(qtype)
    rcode = dns.rcode.to_text(dns.rcode.Rcode.make(answer.rcode))
    blocked = any(code == EDE.BLOCKED for code, _ in answer.ede)
    if blocked:
        ex = Explanation(text_name, text_type, "blocklist", rcode, "blocked by a blocklist")
        ex.origins = await _block_origins(server, qname)
        if not ex.origins:
            ex.reasons.append("no list line names it any more: the lists changed since loading")
        action = config.blocklist_action
        ex.reasons.append(
            f"server.blocklist_action is {action!r}: "
            + ("NXDOMAIN" if action == "nxdomain" else "0.0.0.0 / :: for A / AAAA, else NODATA")
        )
    else:
        origins = _local_origins(server, qname, qtype)
        kind = origins[0].kind if origins else "local_data"
        summary = {
            "local_data": "answered from local data (server.local_data)",
            "hosts_file": "answered from the hosts file",
            "local_zone": "answered by a local zone (server.local_zone)",
        }[kind]
        ex = Explanation(text_name, text_type, kind, rcode, summary)
        ex.origins = origins
        ex.reasons.append("local answers never leave the machine: nothing is asked upstream")
    ex.answer = _dns_lines(answer.answer)
    ex.authority = _dns_lines(answer.authority)
    ex.ede = _ede(answer.ede)
    return ex


def _local_origins(server: Server, qname: dns.name.Name, qtype: int) -> list[Origin]:
    """Which server.local_data entries, hosts file lines or local zone decided."""
    config = server.handler.config.server
    out: list[Origin] = []
    wanted = {qtype, int(dns.rdatatype.CNAME)}
    for i, text in enumerate(config.local_data):
        words = text.split()
        try:
            owner = dns.name.from_text(words[0])
        except (IndexError, dns.exception.DNSException):
            continue
        types = [w for w in words[1:4] if _is_type(w)]
        if owner == qname and types and int(dns.rdatatype.from_text(types[0])) in wanted:
            out.append(Origin("local_data", f"server.local_data[{i}]", text))
    if not out:
        path = server.handler.hosts.path
        if path is not None:
            out += _hosts_lines(path, qname)
    if not out:
        best: tuple[int, int, str] | None = None
        for i, text in enumerate(config.local_zone):
            words = text.split()
            try:
                zone = dns.name.from_text(words[0])
            except (IndexError, dns.exception.DNSException):
                continue
            if qname.is_subdomain(zone) and (best is None or len(zone) > best[0]):
                best = (len(zone), i, text)
        if best is not None:
            out.append(Origin("local_zone", f"server.local_zone[{best[1]}]", best[2]))
        else:  # other types of a name with local data: an implicit transparent zone
            for i, text in enumerate(config.local_data):
                words = text.split()
                if words and _same_name(words[0], qname):
                    out.append(Origin("local_data", f"server.local_data[{i}]", text))
    return out


def _same_name(text: str, qname: dns.name.Name) -> bool:
    try:
        return bool(dns.name.from_text(text) == qname)
    except dns.exception.DNSException:
        return False


def _is_type(word: str) -> bool:
    if not _TYPE_WORD.match(word) or word.upper() == "IN":
        return False
    try:
        dns.rdatatype.from_text(word)
    except dns.exception.DNSException:
        return False
    return True


def _hosts_lines(path: Path, qname: dns.name.Name) -> list[Origin]:
    want = qname.to_text(omit_final_dot=True).lower()
    out: list[Origin] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and want in (w.rstrip(".").lower() for w in words[1:]):
            out.append(Origin("hosts_file", str(path), line.strip(), number))
    return out


async def _block_origins(server: Server, qname: dns.name.Name) -> list[Origin]:
    spec = blocklist_spec(server.handler.config.server)
    lists = [(key, i, src, spec.local_path(src)) for key, i, src in spec.sources()]
    name = qname.to_text(omit_final_dot=True).lower()
    labels = tuple(label.lower() for label in qname.labels)
    block = server.handler.blocklist.block
    # Parse pattern lines only when no exact or wildcard entry explains the block.
    patterns = not block.suffix(labels, 1)
    found = await asyncio.to_thread(find_entries, lists, name, patterns=patterns)
    out = []
    for e in found:
        kind = "allowlist" if e.allows else "blocklist"
        where = f"{e.key}[{e.index}] {e.source}" + (f" (copy {e.path})" if is_url(e.source) else "")
        out.append(Origin(kind, where, e.text, e.line))
    return out


async def explain_text(server: Server, words: list[str]) -> str:
    """The control command ``explain NAME [TYPE] [json]``: the reply to send."""
    import json

    as_json = bool(words) and words[-1].lower() in ("json", "--json")
    if as_json:
        words = words[:-1]
    if not 1 <= len(words) <= 2:
        return "error: usage: explain NAME [TYPE] [json]\n"
    try:
        ex = await explain(server, words[0], words[1] if len(words) > 1 else "A")
    except ValueError as exc:
        return f"error: {exc}\n"
    if as_json:
        return "ok\n" + json.dumps(ex.to_json(), indent=2) + "\n"
    return "ok\n" + ex.to_text()
