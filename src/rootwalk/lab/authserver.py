"""An authoritative-only DNS server for the lab: UDP and TCP on one loopback address.

The lookup is the RFC 1034 §4.3.2 algorithm over the zones a server hosts (longest matching
origin; referral at a zone cut with glue; CNAME chains followed inside the zone; DNAME (RFC
6672); wildcards (RFC 4592); NXDOMAIN/NODATA with the SOA and the RFC 2308 §3 negative TTL).

Zone data is kept *relative* to its origin (``dns.zone`` with ``relativize=True``), so one set
of nodes can serve many origins (the synthetic domains share one template per server). Answers
are computed once per (name, type) with relative names in them and rendered with
``to_wire(origin=...)``, which appends the origin to every relative name.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import random
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.IN.A
import dns.rrset

from rootwalk.lab.faults import BOGUS_ADDRESS, BOGUS_ADDRESS6, Faults
from rootwalk.lab.signing import SignedZone

__all__ = ["Answer", "AuthServer", "QueryRecord", "ZoneData", "resolve"]

log = logging.getLogger(__name__)

IN = dns.rdataclass.IN
RdataType = dns.rdatatype.RdataType

#: Most CNAME/DNAME steps followed inside one zone for one answer.
MAX_CHAIN = 16
#: Payload size this server advertises in its OPT record.
OUR_PAYLOAD = 1232
#: Close a TCP connection after this many seconds without a query.
TCP_IDLE_TIMEOUT = 10.0
#: How many recent queries a server keeps (``AuthServer.queries``).
QUERY_LOG_SIZE = 10_000
#: Bound of each per-server cache (answers by name and type; responses by query bytes).
CACHE_SIZE = 20_000

_EMPTY = dns.name.empty
#: Types a DO=0 query never sees unless it asks for them by type (RFC 4035 §3.2.1).
_DNSSEC = frozenset({RdataType.RRSIG, RdataType.NSEC, RdataType.NSEC3})
# rdata constructors (untyped in dnspython)
_A: Any = dns.rdtypes.IN.A.A
_CNAME: Any = dns.rdtypes.ANY.CNAME.CNAME
_HEADER = struct.Struct("!HHHHHH")
_QR = 0x8000
_RD = 0x0100


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One query a lab server received."""

    qname: dns.name.Name
    """The question name exactly as received (case kept, to check DNS 0x20)."""
    qtype: int
    transport: str
    """``"udp"`` or ``"tcp"``."""
    edns: bool
    do: bool
    payload: int | None
    """The EDNS UDP payload size the client advertised, None without EDNS."""
    source: tuple[str, int]
    rd: bool = False
    """The RD flag of the query (an iterative resolver sends RD=0)."""
    id: int = 0
    """The message ID of the query."""


class ZoneData:
    """The nodes of one zone, relative to its origin, plus what every lookup needs.

    The origin is not stored: a server maps each origin it serves to a ZoneData, and several
    origins may share one (synthetic domains).
    """

    __slots__ = ("ents", "neg_soa", "nodes", "signed")

    def __init__(self, nodes: dict[dns.name.Name, dns.node.Node]) -> None:
        self.nodes = nodes
        #: Set when the world signs the zone (rootwalk.lab.signing); None: unsigned.
        self.signed: SignedZone | None = None
        apex = nodes.get(_EMPTY)
        soa = apex.get_rdataset(IN, RdataType.SOA) if apex is not None else None
        if soa is None or apex is None or apex.get_rdataset(IN, RdataType.NS) is None:
            raise ValueError("a zone needs an SOA and NS records at its apex")
        minimum: int = soa[0].minimum
        #: The SOA for negative answers, TTL = min(SOA TTL, MINIMUM) (RFC 2308 §3).
        self.neg_soa = _rrset(_EMPTY, soa, min(soa.ttl, minimum))
        #: Empty non-terminals: names with no node but with nodes below them.
        self.ents: set[dns.name.Name] = set()
        self.add_ents(nodes)

    def add_ents(self, names: Iterable[dns.name.Name]) -> None:
        """Record the empty non-terminals above ``names`` (call after adding nodes)."""
        nodes, ents = self.nodes, self.ents
        for name in names:
            n = name
            while len(n.labels) > 1:
                n = n.parent()
                if n in nodes or n in ents:
                    break
                ents.add(n)


@dataclass(slots=True)
class Answer:
    """A computed response body. Names in it may be relative to ``origin``."""

    origin: dns.name.Name
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    aa: bool = False
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)


def _rrset(
    owner: dns.name.Name, rds: dns.rdataset.Rdataset, ttl: int | None = None
) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(owner, rds.ttl if ttl is None else ttl, list(rds))


def resolve(
    zones: Mapping[dns.name.Name, ZoneData],
    qname: dns.name.Name,
    qtype: RdataType,
    do: bool = False,
) -> Answer:
    """The authoritative answer to ``qname``/``qtype`` from ``zones`` (origin -> data).

    With ``do`` (the query's DO bit) a signed zone's answer carries its DNSSEC records: the
    RRSIGs of every RRset, the DS (or the proof of no DS) of a referral, and the NSEC/NSEC3
    records that prove a negative or a wildcard answer (RFC 4035 §3.1).
    """
    origin = qname
    while True:
        zd = zones.get(origin)
        if zd is not None:
            break
        if len(origin.labels) <= 1:
            return Answer(dns.name.root, rcode=dns.rcode.REFUSED)
        origin = origin.parent()
    if qtype == RdataType.DS and origin == qname and origin != dns.name.root:
        # RFC 4035 §3.1.4.1: the DS lives on the parent's side of the cut; a server that also
        # serves the parent answers from it. One serving only the child answers from the child
        # (an authoritative NODATA, as NSD does).
        parent = origin.parent()
        while True:
            pzd = zones.get(parent)
            if pzd is not None:
                origin, zd = parent, pzd
                break
            if parent == dns.name.root:
                break
            parent = parent.parent()
    ans = Answer(origin, aa=True)
    sec = zd.signed if do else None
    seen = {qname}
    name = qname
    for _ in range(MAX_CHAIN):
        nxt = _step(zd, origin, name, qtype, ans, sec)
        if nxt is None or nxt in seen or not nxt.is_subdomain(origin):
            break
        seen.add(nxt)
        name = nxt
    return ans


def _add(
    zd: ZoneData,
    sec: SignedZone | None,
    section: list[dns.rrset.RRset],
    owner: dns.name.Name,
    rds: dns.rdataset.Rdataset,
    ttl: int | None = None,
    signed_as: dns.name.Name | None = None,
) -> None:
    """``rds`` at ``owner`` to a section, followed by its RRSIG when DNSSEC is wanted.

    ``signed_as``: the node the RRSIG is at, when not ``owner`` (a wildcard expansion: the
    RRSIG's labels field then shows the answer was synthesised, RFC 4035 §5.3.4)."""
    section.append(_rrset(owner, rds, ttl))
    if sec is not None:
        sig = sec.rrsig(zd.nodes, owner if signed_as is None else signed_as, rds.rdtype)
        if sig is not None:
            section.append(_rrset(owner, sig, rds.ttl if ttl is None else ttl))


def _negative(zd: ZoneData, sec: SignedZone | None, ans: Answer) -> None:
    """The SOA of a negative answer (RFC 2308 §3), and its RRSIG with DO."""
    ans.authority.append(zd.neg_soa)
    if sec is not None:
        sig = sec.rrsig(zd.nodes, _EMPTY, RdataType.SOA)
        if sig is not None:
            ans.authority.append(_rrset(_EMPTY, sig, zd.neg_soa.ttl))


def _proof(
    zd: ZoneData, sec: SignedZone | None, ans: Answer, owners: Iterable[dns.name.Name]
) -> None:
    """The NSEC/NSEC3 records at ``owners`` (and their RRSIGs) to the authority section."""
    if sec is None:
        return
    dtype = sec.denial_type
    for owner in owners:
        if any(r.name == owner and r.rdtype == dtype for r in ans.authority):
            continue  # already sent for an earlier step of the chain
        node = zd.nodes.get(owner)
        rds = node.get_rdataset(IN, dtype) if node is not None else None
        if rds is not None:
            _add(zd, sec, ans.authority, owner, rds)


def _step(
    zd: ZoneData,
    origin: dns.name.Name,
    qname: dns.name.Name,
    qtype: RdataType,
    ans: Answer,
    sec: SignedZone | None,
) -> dns.name.Name | None:
    """One lookup of RFC 1034 §4.3.2 step 3; returns a name to follow (CNAME/DNAME) or None."""
    nodes = zd.nodes
    rel = qname.relativize(origin)
    labels = rel.labels
    n = len(labels)
    node = nodes.get(_EMPTY) if n == 0 else None
    for k in range(1, n + 1):
        name_k = dns.name.Name(labels[n - k :])
        node = nodes.get(name_k)
        if node is None:
            if name_k in zd.ents:
                continue
            encloser = dns.name.Name(labels[n - k + 1 :])
            return _wildcard_or_nxdomain(zd, origin, rel, qtype, ans, encloser, sec)
        if k < n or qtype != RdataType.DS:
            ns = node.get_rdataset(IN, RdataType.NS)
            if ns is not None:
                _referral(zd, name_k, node, ns, ans, sec)
                return None
        if k < n:
            dname = node.get_rdataset(IN, RdataType.DNAME)
            if dname is not None:
                return _dname(zd, origin, qname, name_k, dname, ans, sec)
    if node is None:  # an empty non-terminal
        _negative(zd, sec, ans)
        if sec is not None:
            _proof(zd, sec, ans, sec.proof_nodata(rel))
        return None
    return _from_node(zd, origin, rel, node, qtype, ans, sec)


def _from_node(
    zd: ZoneData,
    origin: dns.name.Name,
    owner: dns.name.Name,
    node: dns.node.Node,
    qtype: RdataType,
    ans: Answer,
    sec: SignedZone | None,
    wild: tuple[dns.name.Name, dns.name.Name] | None = None,
) -> dns.name.Name | None:
    """Answer from ``node`` for ``owner`` (relative); ``wild``: (the wildcard's name, the
    closest encloser) when ``node`` is a wildcard matched by ``owner`` (RFC 4592)."""
    signed_as = wild[0] if wild is not None else None
    if qtype == RdataType.ANY:
        for r in node.rdatasets:
            if r.rdtype not in _DNSSEC:
                _add(zd, sec, ans.answer, owner, r, signed_as=signed_as)
        return None
    if qtype == RdataType.RRSIG:  # asked for as data: every RRSIG at the name
        sigs = [r for r in node.rdatasets if r.rdtype == RdataType.RRSIG]
        if sigs:
            # One RRset per covered type: dnspython keeps RRSIGs of different types apart.
            for r in sigs:
                rrset = dns.rrset.RRset(owner, IN, RdataType.RRSIG, r.covers)
                for rd in r:
                    rrset.add(rd, r.ttl)
                ans.answer.append(rrset)
            return None
    rds = node.get_rdataset(IN, qtype)
    if rds is not None:
        _add(zd, sec, ans.answer, owner, rds, signed_as=signed_as)
        if qtype == RdataType.NS:
            _add_addresses(zd, (rd.target for rd in rds), ans, sec)
        elif qtype == RdataType.MX:
            _add_addresses(zd, (rd.exchange for rd in rds), ans, sec)
        if wild is not None and sec is not None:
            _proof(zd, sec, ans, sec.proof_wildcard_answer(owner, wild[1]))
        return None
    if qtype != RdataType.CNAME:
        cname = node.get_rdataset(IN, RdataType.CNAME)
        if cname is not None:
            _add(zd, sec, ans.answer, owner, cname, signed_as=signed_as)
            if wild is not None and sec is not None:
                _proof(zd, sec, ans, sec.proof_wildcard_answer(owner, wild[1]))
            target: dns.name.Name = cname[0].target
            return target.derelativize(origin)
    _negative(zd, sec, ans)  # NODATA
    if sec is not None:
        if wild is not None:
            _proof(zd, sec, ans, sec.proof_wildcard_nodata(owner, wild[1]))
        else:
            _proof(zd, sec, ans, sec.proof_nodata(owner))
    return None


def _wildcard_or_nxdomain(
    zd: ZoneData,
    origin: dns.name.Name,
    rel: dns.name.Name,
    qtype: RdataType,
    ans: Answer,
    encloser: dns.name.Name,
    sec: SignedZone | None,
) -> dns.name.Name | None:
    wild_name = dns.name.Name((b"*", *encloser.labels))
    wild = zd.nodes.get(wild_name)
    if wild is None:
        ans.rcode = dns.rcode.NXDOMAIN
        _negative(zd, sec, ans)
        if sec is not None:
            _proof(zd, sec, ans, sec.proof_nxdomain(rel, encloser))
        return None
    # owner: the query name (RFC 4592)
    return _from_node(zd, origin, rel, wild, qtype, ans, sec, (wild_name, encloser))


def _referral(
    zd: ZoneData,
    cut: dns.name.Name,
    node: dns.node.Node,
    ns: dns.rdataset.Rdataset,
    ans: Answer,
    sec: SignedZone | None,
) -> None:
    if not ans.answer:  # a referral after an in-zone CNAME keeps AA for the CNAME part
        ans.aa = False
    ans.authority.append(_rrset(cut, ns))  # the delegation's NS is not signed (RFC 4035 §2.2)
    if sec is not None:
        # RFC 4035 §3.1.4: the DS RRset and its RRSIG, or the proof that there is no DS.
        ds = node.get_rdataset(IN, RdataType.DS)
        if ds is not None:
            _add(zd, sec, ans.authority, cut, ds)
        else:
            _proof(zd, sec, ans, sec.proof_no_ds(cut))
    _add_addresses(zd, (rd.target for rd in ns), ans, sec)


def _add_addresses(
    zd: ZoneData, targets: Iterable[dns.name.Name], ans: Answer, sec: SignedZone | None = None
) -> None:
    """A/AAAA of the in-zone names among ``targets`` (glue included) to the additional section;
    with DO, authoritative ones with their RRSIGs (glue has none)."""
    for target in targets:
        if target.is_absolute():  # relative names are the ones inside the zone
            continue
        node = zd.nodes.get(target)
        if node is None:
            continue
        for rdtype in (RdataType.A, RdataType.AAAA):
            rds = node.get_rdataset(IN, rdtype)
            if rds is not None:
                _add(zd, sec, ans.additional, target, rds)


def _dname(
    zd: ZoneData,
    origin: dns.name.Name,
    qname: dns.name.Name,
    owner: dns.name.Name,
    dname: dns.rdataset.Rdataset,
    ans: Answer,
    sec: SignedZone | None,
) -> dns.name.Name | None:
    _add(zd, sec, ans.answer, owner, dname)
    target: dns.name.Name = dname[0].target
    prefix = qname.relativize(owner.derelativize(origin))
    try:
        new = prefix.concatenate(target.derelativize(origin))
    except dns.name.NameTooLong:
        ans.rcode = dns.rcode.YXDOMAIN
        return None
    # the synthesised CNAME is not signed (RFC 6672 §5.3.1)
    cname = dns.rrset.RRset(qname, IN, RdataType.CNAME)
    cname.add(_CNAME(IN, RdataType.CNAME, new), dname.ttl)
    ans.answer.append(cname)
    return new


def _dropped(faults: Faults, rng: random.Random, to_drop: list[int]) -> bool:
    if faults.silent:
        return True
    if to_drop[0] > 0:
        to_drop[0] -= 1
        return True
    return faults.drop > 0 and rng.random() < faults.drop


def _qname_end(data: bytes) -> int:
    """Offset just past the (uncompressed) question name of a query, or -1."""
    pos, n = 12, len(data)
    while pos < n:
        length = data[pos]
        if length == 0:
            return pos + 1
        if length > 63:
            return -1
        pos += length + 1
    return -1


def _name_from_wire(wire: bytes) -> dns.name.Name:
    """The name of an uncompressed wire-format name (checked by _qname_end)."""
    labels = []
    pos = 0
    while wire[pos]:
        length = wire[pos]
        labels.append(wire[pos + 1 : pos + 1 + length])
        pos += length + 1
    labels.append(b"")
    return dns.name.Name(labels)


_NO_FAULTS = Faults()


def _matches(q: dns.rrset.RRset, only_for: tuple[str, str]) -> bool:
    name, rdtype = only_for
    return q.name == dns.name.from_text(name) and q.rdtype == dns.rdatatype.from_text(rdtype)


def _header_only(data: bytes, rcode: int) -> bytes:
    """A response made of the query's header alone (for queries too broken to parse)."""
    qid, flags = struct.unpack_from("!HH", data)
    return _HEADER.pack(qid, _QR | (flags & 0x7800) | (flags & _RD) | rcode, 0, 0, 0, 0)


def _poison_names(origin: dns.name.Name) -> list[dns.name.Name]:
    names = [
        dns.name.from_text("www.example.org."),
        dns.name.from_text("ns1.example.net."),
        dns.name.from_text("www.example.com."),
    ]
    if origin != dns.name.root:
        names = [n for n in names if not n.is_subdomain(origin)]
    return names


def _bogus_a(name: dns.name.Name) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, IN, RdataType.A)
    rrset.add(_A(IN, RdataType.A, BOGUS_ADDRESS), 86400)
    return rrset


def _forged(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    """A/AAAA data replaced by loopback addresses where nothing listens (RRSIGs untouched)."""
    if rrset.rdtype not in (RdataType.A, RdataType.AAAA):
        return rrset
    bogus = BOGUS_ADDRESS if rrset.rdtype == RdataType.A else BOGUS_ADDRESS6
    out = dns.rrset.RRset(rrset.name, IN, rrset.rdtype)
    out.add(dns.rdata.from_text(IN, rrset.rdtype, bogus), rrset.ttl)
    return out


def _wrong_ds(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    """The same DS records with every digest bit flipped: they match no key."""
    out = dns.rrset.RRset(rrset.name, IN, RdataType.DS)
    for rd in rrset:
        out.add(rd.replace(digest=bytes(b ^ 0xFF for b in rd.digest)), rrset.ttl)
    return out


_Info = tuple[dns.name.Name, int, bool, bool, "int | None", bool]


class AuthServer:
    """One lab server: an address, a host name, the zones it serves, faults and counters.

    Created by ``rootwalk.lab.Lab``; its sockets live on the lab's event loop thread.
    ``faults`` may be replaced and counters read from any thread.
    """

    def __init__(
        self,
        address: str,
        port: int,
        name: str,
        zones: Mapping[dns.name.Name, ZoneData],
        aliases: Iterable[str] = (),
    ) -> None:
        self.address = address
        self.port = port
        self.name = name
        self.aliases = tuple(aliases)
        self._zones = zones
        self._fstate: tuple[Faults, random.Random, list[int]] = (
            Faults(),
            random.Random(0),
            [0],
        )
        self._lock = threading.Lock()
        self._log: collections.deque[QueryRecord] = collections.deque(maxlen=QUERY_LOG_SIZE)
        self._counts: collections.Counter[tuple[dns.name.Name, int, str]] = collections.Counter()
        self._answers: dict[tuple[dns.name.Name, int, bool], Answer] = {}
        self._wire_cache: tuple[dict[bytes, tuple[_Info, bytes, bytes]], ...] = ({}, {})
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"AuthServer({self.address!r}, {self.name!r}, zones={len(self._zones)})"

    # -- what it serves -------------------------------------------------------------------

    @property
    def zones(self) -> list[str]:
        """The origins this server hosts, as text with the trailing dot."""
        return [z.to_text() for z in self._zones]

    def serves(self, zone: str | dns.name.Name) -> bool:
        """True if this server hosts ``zone``."""
        if isinstance(zone, str):
            zone = dns.name.from_text(zone)
        return zone in self._zones

    def answer(self, qname: str | dns.name.Name, qtype: str | int, do: bool = False) -> Answer:
        """The fault-free answer to a question (names may be relative to ``Answer.origin``);
        ``do``: as to a query with the DO bit (DNSSEC records included)."""
        if isinstance(qname, str):
            qname = dns.name.from_text(qname)
        return self._answer(qname, dns.rdatatype.RdataType.make(qtype), do)

    # -- faults ---------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._fstate[0]

    @faults.setter
    def faults(self, faults: Faults) -> None:
        # The list holds how many of ``drop_first`` are still to drop (the server thread's).
        self._fstate = (faults, random.Random(faults.seed), [faults.drop_first])

    # -- counters -------------------------------------------------------------------------

    @property
    def queries(self) -> list[QueryRecord]:
        """The recent queries (at most QUERY_LOG_SIZE), oldest first."""
        with self._lock:
            return list(self._log)

    def count(
        self,
        name: str | dns.name.Name | None = None,
        qtype: str | int | None = None,
        transport: str | None = None,
    ) -> int:
        """How many queries were received since the last reset, filtered by the arguments."""
        qname = dns.name.from_text(name) if isinstance(name, str) else name
        rdtype = None if qtype is None else dns.rdatatype.RdataType.make(qtype)
        with self._lock:
            items = list(self._counts.items())
        return sum(
            c
            for (n, t, tr), c in items
            if (qname is None or n == qname)
            and (rdtype is None or t == rdtype)
            and (transport is None or tr == transport)
        )

    def reset_counters(self) -> None:
        with self._lock:
            self._log.clear()
            self._counts.clear()

    def _record(self, info: _Info, qid: int, transport: str, source: Any) -> None:
        qname, qtype, edns, do, payload, rd = info
        rec = QueryRecord(
            qname, qtype, transport, edns, do, payload, (source[0], source[1]), rd, qid
        )
        with self._lock:
            self._log.append(rec)
            self._counts[(qname, qtype, transport)] += 1

    # -- answering ------------------------------------------------------------------------

    def _answer(self, qname: dns.name.Name, qtype: RdataType, do: bool = False) -> Answer:
        key = (qname, qtype, do)
        ans = self._answers.get(key)
        if ans is None:
            ans = resolve(self._zones, qname.canonicalize(), qtype, do)
            if len(self._answers) >= CACHE_SIZE:
                self._answers.clear()
            self._answers[key] = ans
        return ans

    def process(self, data: bytes, transport: str, source: Any) -> tuple[list[bytes], float]:
        """Handle one query message: the responses to send in order, and the delay before."""
        try:
            return self._process(data, transport, source)
        except Exception:
            log.exception("%s: failed to answer a query", self.address)
            if len(data) < 12:
                return [], 0.0
            return [_header_only(data, dns.rcode.SERVFAIL)], 0.0

    def _process(self, data: bytes, transport: str, source: Any) -> tuple[list[bytes], float]:
        faults, rng, to_drop = self._fstate
        tcp = transport == "tcp"
        cache = self._wire_cache[tcp]
        # Fast path: a response made earlier for the same query bytes, ID and the case of the
        # name aside (the name is at 12:end in the query and in the response; names in the
        # answer compressed against it take its case, as on real servers).
        end = -1 if faults.alters_response() or faults.only_for else _qname_end(data)
        key = b""
        if end > 0:
            key = data[2:12] + data[12:end].lower() + data[end:]
            hit = cache.get(key)
            if hit is not None:
                info, seen_wire, tail = hit
                qname_wire = data[12:end]
                if qname_wire != seen_wire:  # the same name in another case
                    info = (_name_from_wire(qname_wire), *info[1:])
                self._record(info, (data[0] << 8) | data[1], transport, source)
                if _dropped(faults, rng, to_drop):
                    return [], 0.0
                return [data[:2] + tail[:10] + qname_wire + tail[end - 2 :]], faults.delay
        if len(data) < 12:
            return [], 0.0
        flags = (data[2] << 8) | data[3]
        if flags & _QR:
            return [], 0.0
        if (flags >> 11) & 0xF != dns.opcode.QUERY:
            return [_header_only(data, dns.rcode.NOTIMP)], faults.delay
        try:
            query = dns.message.from_wire(data)
        except Exception:  # anything unparseable past the header
            return [_header_only(data, dns.rcode.FORMERR)], faults.delay
        if len(query.question) != 1:
            return [_header_only(data, dns.rcode.FORMERR)], faults.delay
        q = query.question[0]
        edns = query.edns >= 0
        do = bool(query.ednsflags & dns.flags.DO)
        info = (
            q.name,
            int(q.rdtype),
            edns,
            do,
            query.payload if edns else None,
            bool(query.flags & dns.flags.RD),
        )
        self._record(info, query.id, transport, source)
        if faults.only_for is not None and not _matches(q, faults.only_for):
            faults = _NO_FAULTS
        if _dropped(faults, rng, to_drop):
            return [], 0.0
        if faults.empty_question or faults.wrong_question:
            return [self._misquestioned(query, faults)], faults.delay

        response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
        if do:
            response.want_dnssec(True)
        origin = dns.name.root
        if edns and query.edns > 0:
            response.set_rcode(dns.rcode.BADVERS)
        elif faults.formerr_on_edns and edns:
            response.use_edns(False)
            response.set_rcode(dns.rcode.FORMERR)
        elif faults.rcode is not None:
            response.set_rcode(dns.rcode.Rcode.make(faults.rcode))
        elif faults.lame:
            pass
        elif q.rdclass != IN or q.rdtype in (RdataType.AXFR, RdataType.IXFR):
            response.set_rcode(dns.rcode.REFUSED)
        else:
            ans = self._answer(q.name, q.rdtype, do)
            origin = ans.origin
            response.set_rcode(ans.rcode)
            if ans.aa and not faults.no_aa:
                response.flags |= dns.flags.AA
            response.answer = list(ans.answer)
            response.authority = list(ans.authority)
            response.additional = list(ans.additional)
            if faults.dnssec():
                self._dnssec_faults(faults, ans, q, do, response)
            if faults.poison_additional:
                response.additional.extend(_bogus_a(n) for n in _poison_names(origin))

        if tcp:
            limit = 65535
        elif edns:
            limit = min(max(512, query.payload), 65535)
        else:
            limit = 512
        if faults.truncate and not tcp:
            wire = self._truncated(response, origin, limit)
        else:
            try:
                wire = response.to_wire(origin=origin, max_size=limit)
            except dns.exception.TooBig:
                wire = self._truncated(response, origin, limit)
        out = [wire]
        if not tcp and (faults.spoof_id or faults.spoof_question):
            forged = self._forgeries(query, faults)
            out = forged if faults.spoof_only else [*forged, wire]
        if key:
            if len(cache) >= CACHE_SIZE:
                cache.clear()
            cache[key] = (info, data[12:end], wire[2:])
        return out, faults.delay

    def _dnssec_faults(
        self,
        faults: Faults,
        ans: Answer,
        q: dns.rrset.RRset,
        do: bool,
        response: dns.message.Message,
    ) -> None:
        """Make a signed answer bogus in the ways ``faults`` asks (see faults.py)."""
        zd = self._zones.get(ans.origin)
        sz = zd.signed if zd is not None else None
        if zd is None or sz is None:
            return  # an unsigned zone: nothing to break
        sections = [list(response.answer), list(response.authority), list(response.additional)]
        if faults.strip_dnskey and q.rdtype == RdataType.DNSKEY and q.name == ans.origin:
            response.set_rcode(dns.rcode.NOERROR)
            sections = [[], [], []]
            _negative(zd, sz if do else None, Answer(ans.origin, authority=sections[1]))
        if faults.forge_answer:
            sections[0] = [_forged(r) for r in sections[0]]
        if faults.ds_mismatch:
            for sec in sections[:2]:
                for i, r in enumerate(sec):
                    if r.rdtype == RdataType.DS and len(r.name) > 0:
                        sec[i] = _wrong_ds(r)
                        self._resign(sz, sec, sec[i])
        if faults.nsec_not_covering:
            dtype = sz.denial_type
            sent = [r.name for r in sections[1] if r.rdtype == dtype]
            others = [o for o in sz.chain if o not in sent][: len(sent)]
            kept = [r for r in sections[1] if r.rdtype != dtype and r.covers != dtype]
            for owner in others:
                rds = zd.nodes[owner].get_rdataset(IN, dtype)
                assert rds is not None
                _add(zd, sz, kept, owner, rds)
            sections[1] = kept
        if faults.wildcard_no_proof and any(
            r.rdtype == RdataType.RRSIG and r[0].labels < len(r.name.derelativize(ans.origin)) - 1
            for r in sections[0]
        ):
            dtypes = (RdataType.NSEC, RdataType.NSEC3)
            sections[1] = [
                r for r in sections[1] if r.rdtype not in dtypes and r.covers not in dtypes
            ]
        if faults.sig_expired or faults.sig_not_yet_valid:
            now = int(time.time())
            day = 86400
            if faults.sig_expired:
                inception, expiration = now - 40 * day, now - 10 * day
            else:
                inception, expiration = now + 200 * day, now + 400 * day
            for sec in sections:
                for r in [x for x in sec if x.rdtype != RdataType.RRSIG]:
                    self._resign(sz, sec, r, inception, expiration)
        if faults.strip_rrsigs:
            sections = [[r for r in sec if r.rdtype != RdataType.RRSIG] for sec in sections]
        response.answer, response.authority, response.additional = sections

    @staticmethod
    def _resign(
        sz: SignedZone,
        section: list[dns.rrset.RRset],
        rrset: dns.rrset.RRset,
        inception: int | None = None,
        expiration: int | None = None,
    ) -> None:
        """Replace the RRSIG over ``rrset`` in ``section`` by a new one (if it had one)."""
        for i, sig in enumerate(section):
            if not (sig.rdtype == RdataType.RRSIG and sig.covers == rrset.rdtype):
                continue
            if sig.name != rrset.name:
                continue
            old = sig[0]
            owner = rrset.name.derelativize(sz.origin)
            if old.labels < len(owner) - 1:  # a wildcard expansion: sign as the wildcard
                owner = dns.name.Name((b"*", *owner.labels[-(old.labels + 1) :]))
            rds = dns.rdataset.Rdataset(IN, rrset.rdtype)
            for rd in rrset:
                rds.add(rd, old.original_ttl)
            new = sz.sign(owner.relativize(sz.origin), rds, inception, expiration)
            section[i] = _rrset(rrset.name, new, sig.ttl)
            return

    @staticmethod
    def _truncated(response: dns.message.Message, origin: dns.name.Name, limit: int) -> bytes:
        response.answer = []
        response.authority = []
        response.additional = []
        response.flags |= dns.flags.TC
        return response.to_wire(origin=origin, max_size=limit)

    @staticmethod
    def _misquestioned(query: dns.message.Message, faults: Faults) -> bytes:
        """A reply with the query's ID but no question, or another question (same source)."""
        reply = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
        reply.flags |= dns.flags.AA
        if faults.empty_question:
            reply.question = []
        else:
            other = dns.name.from_text("wrong-question.invalid.")
            reply.question = [dns.rrset.RRset(other, IN, query.question[0].rdtype)]
        return reply.to_wire()

    @staticmethod
    def _forgeries(query: dns.message.Message, faults: Faults) -> list[bytes]:
        qname = query.question[0].name
        out = []
        if faults.spoof_id:
            forged = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
            forged.id = query.id ^ 0xA5A5
            forged.flags |= dns.flags.AA
            forged.answer = [_bogus_a(qname)]
            out.append(forged.to_wire())
        if faults.spoof_question:
            try:
                other = dns.name.Name((b"spoofed", *qname.labels))
            except dns.name.NameTooLong:
                other = dns.name.from_text("spoofed.invalid.")
            forged = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
            forged.question = [dns.rrset.RRset(other, IN, query.question[0].rdtype)]
            forged.flags |= dns.flags.AA
            forged.answer = [_bogus_a(other)]
            out.append(forged.to_wire())
        return out

    # -- sockets (called on the lab's event loop) ------------------------------------------

    async def start(self) -> None:
        """Bind UDP and TCP on (address, port). Raises OSError naming the address on failure."""
        loop = asyncio.get_running_loop()
        try:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UDPProtocol(self), local_addr=(self.address, self.port)
            )
        except OSError as e:
            raise self._bind_error(e, "udp") from e
        try:
            self._tcp = await asyncio.start_server(
                self._serve_tcp, host=self.address, port=self.port, reuse_address=True
            )
        except OSError as e:
            raise self._bind_error(e, "tcp") from e

    def _bind_error(self, e: OSError, proto: str) -> OSError:
        """The same errno, with a ``strerror`` a person can read without knowing errno 98."""
        where = f"{self.address}:{self.port}"
        if e.errno == errno.EADDRINUSE:
            why = f"address {where} is already in use ({proto})"
        elif e.errno in (errno.EACCES, errno.EPERM):
            why = f"no permission to listen on {where} ({proto})"
        elif e.errno == errno.EADDRNOTAVAIL:
            why = f"{self.address} is not an address of this machine ({proto})"
        else:
            why = f"cannot listen on {where} ({proto}): {e.strerror or e}"
        return OSError(e.errno, why)

    async def close(self) -> None:
        """Close the sockets and every open TCP connection."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._tcp_tasks):
            task.cancel()
        if self._tcp_tasks:
            await asyncio.gather(*self._tcp_tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tcp_tasks.add(task)
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    header = await reader.readexactly(2)
                    data = await reader.readexactly(int.from_bytes(header, "big"))
                out, delay = self.process(data, "tcp", peer)
                if out and delay > 0:
                    await asyncio.sleep(delay)
                for wire in out:
                    writer.write(len(wire).to_bytes(2, "big") + wire)
                if out:
                    await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            self._tcp_tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: AuthServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        out, delay = self.server.process(data, "udp", addr)
        if not out or self.transport is None:
            return
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._send, out, addr)
        else:
            self._send(out, addr)

    def _send(self, out: list[bytes], addr: Any) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for wire in out:
            transport.sendto(wire, addr)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        log.debug("%s: UDP error %s", self.server.address, exc)
