"""The validator: a chain of trust from a trust anchor down to each response (RFC 4035 §5).

Sans-I/O like the resolution core. ``Validator.check`` is a generator run inside a
resolution's validation step, between classification and the cache: it yields a
``KeyQuestion`` when it needs a zone's DS or DNSKEY set, and is sent back the result of the
sub-resolution that answered it. That sub-resolution validates its own answer the same way, so
the chain builds itself by recursion on signer names, as far up as a trust anchor:

* an RRset signed by zone Z needs Z's validated DNSKEY set (``key_for(Z)``);
* Z's DNSKEY set needs the DS set for Z from Z's parent (RFC 4035 §5.2), or a trust anchor;
* that DS set is an RRset signed by the parent, which needs the parent's DNSKEY set, ...

A DS query is answered from the parent side of the cut (resolution.py sends it there), and a
proof that no DS exists at a delegation makes Z insecure (RFC 4035 §5.2, RFC 5155 §8.6). A
referral's own DS or no-DS proof is used as it passes, so a signed delegation costs no extra
query for its DS, and an unsigned one none at all (Unbound does the same).

Validated keys, and zones found insecure or bogus, are kept in a small key cache of their own
(Unbound's key cache): a bogus zone is remembered for ``dnssec.bogus_ttl`` seconds, so that a
broken zone is not validated again on every question.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from rootwalk.classify import Classified, ResponseKind
from rootwalk.clock import Clock
from rootwalk.config import DnssecConfig
from rootwalk.dnssec.aggressive import DenialCache, Synthesised
from rootwalk.dnssec.anchors import Anchor, load_anchors
from rootwalk.dnssec.canonical import parse_rrsig
from rootwalk.dnssec.crypto import ds_digest, key_tag
from rootwalk.dnssec.denial import (
    Denial,
    Proof,
    nsec3_denial,
    nsec_denial,
    wildcard_expansion_proof,
)
from rootwalk.dnssec.verify import Security, Verdict, verify_dnskeys, verify_rrset
from rootwalk.errors import EDE
from rootwalk.wire.message import CNAME, DNAME, DNSKEY, DS, NSEC, NSEC3, RRSIG, RRset
from rootwalk.wire.names import ROOT, is_subdomain, label_count, parent, to_text

__all__ = [
    "KeyEntry",
    "Synthesised",
    "KeyQuestion",
    "Outcome",
    "Security",
    "Validator",
    "worst",
]

NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3
# Worst first: a response is as secure as its least secure RRset.
_RANK = {
    Security.BOGUS: 0,
    Security.INDETERMINATE: 1,
    Security.INSECURE: 2,
    Security.SECURE: 3,
}
_DNSSEC_EDE = frozenset(
    {
        EDE.UNSUPPORTED_DNSKEY_ALGORITHM,
        EDE.UNSUPPORTED_DS_DIGEST_TYPE,
        EDE.DNSSEC_BOGUS,
        EDE.SIGNATURE_EXPIRED,
        EDE.SIGNATURE_NOT_YET_VALID,
        EDE.DNSKEY_MISSING,
        EDE.RRSIGS_MISSING,
        EDE.NSEC_MISSING,
    }
)
# How long a zone proven unsigned, or a key set, is believed at most (the key cache's own
# ceiling; the records' TTLs usually decide first).
_MAX_KEY_TTL = 86_400
# Entries the key cache holds before it starts again (bounded memory under a flood of zones).
_MAX_KEYS = 20_000
_DS_HEAD = struct.Struct("!HBB")
# Names between the zone asked and an unsigned answer whose DS is asked at most (Unbound walks
# the same way, one label at a time).
_MAX_CUT_STEPS = 8

Note = Callable[[str], None]


def worst(a: Security, b: Security) -> Security:
    return a if _RANK[a] <= _RANK[b] else b


class KeyQuestion(NamedTuple):
    """A DS or DNSKEY set the validator needs: the resolution asks it as a sub-question."""

    name: bytes
    rdtype: int


class SubResult(Protocol):
    """What the validator reads of a sub-resolution's result (resolution.Result)."""

    rcode: int
    answer: list[RRset]
    authority: list[RRset]
    ede: list[tuple[int, str]]
    security: Security


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """What is known of one zone's keys: validated (with the DNSKEY set), proven unsigned,
    or bogus (with the reason), until ``expires`` (wall clock)."""

    zone: bytes
    status: Security
    reason: str
    expires: float
    dnskeys: RRset | None = None
    ede: EDE | None = None


class Step(enum.StrEnum):
    """Kinds of validation notes (the trace shows them)."""

    KEY = "key"
    DS = "ds"
    RRSET = "rrset"
    DENIAL = "denial"


@dataclass
class Outcome:
    """The validation of one response: its status (the worst of its RRsets), why, the Extended
    DNS Error a client gets for it, and the TTL each secure RRset may be kept for."""

    status: Security = Security.SECURE
    reason: str = ""
    ede: EDE | None = None
    ttls: dict[tuple[bytes, int], int] = field(default_factory=dict)

    @property
    def why(self) -> tuple[int, str]:
        """The Extended DNS Error code and text a client gets for it when bogus."""
        return int(self.ede or EDE.DNSSEC_BOGUS), self.reason

    def add(self, v: Verdict, rrset: RRset | None = None) -> None:
        if _RANK[v.status] < _RANK[self.status] or (v.status is self.status and not self.reason):
            self.status, self.reason, self.ede = v.status, v.reason, v.ede
        elif v.status is Security.INSECURE and self.ede is None and v.ede is not None:
            self.ede = v.ede  # keep "unsupported algorithm" (EDE 1/2) for the client
        if rrset is not None and v.status is Security.SECURE and v.ttl is not None:
            self.ttls[(rrset.owner, rrset.rtype)] = v.ttl


def _signer(sigs: RRset | None, rrset: RRset) -> bytes | None:
    """The signer name of the first RRSIG over ``rrset`` that could be its zone's."""
    if sigs is None:
        return None
    for rdata in sigs.rdatas:
        sig = parse_rrsig(rdata)
        if (
            sig is not None
            and sig.type_covered == rrset.rtype
            and is_subdomain(rrset.owner, sig.signer)
        ):
            return sig.signer
    return None


def _wildcard_labels(sigs: RRset | None, rrset: RRset, tag: int | None) -> int | None:
    """The labels field of the signature that validated ``rrset`` when it is fewer than the
    owner's labels: the RRset was expanded from a wildcard (RFC 4035 §5.3.4)."""
    if sigs is None:
        return None
    owner_labels = label_count(rrset.owner)
    for rdata in sigs.rdatas:
        sig = parse_rrsig(rdata)
        if sig is not None and sig.type_covered == rrset.rtype and sig.key_tag == tag:
            return sig.labels if sig.labels < owner_labels else None
    return None


def _ds_from_dnskeys(dnskeys: RRset) -> RRset:
    """A DNSKEY trust anchor as DS records (SHA-256), so one code path checks both kinds."""
    rdatas = []
    for rdata in dnskeys.rdatas:
        digest = ds_digest(dnskeys.owner, rdata, 2)
        if digest is not None and len(rdata) >= 4:
            rdatas.append(_DS_HEAD.pack(key_tag(rdata), rdata[3], 2) + digest)
    return RRset(dnskeys.owner, DS, 1, dnskeys.ttl, tuple(rdatas))


def _sub_failure(r: SubResult, what: str) -> tuple[EDE, str]:
    """The EDE and words for a DS/DNSKEY sub-question that failed."""
    for code, text in r.ede:
        if code in _DNSSEC_EDE:
            return EDE(code), text
    why = "; ".join(text for _c, text in r.ede) or f"rcode {r.rcode}"
    return EDE.DNSKEY_MISSING if "DNSKEY" in what else EDE.DNSSEC_BOGUS, f"{what}: {why}"


class Validator:
    """The trust anchors, negative trust anchors and key cache of one resolver, and the
    validation of responses against them. Shared by every resolution of that resolver."""

    def __init__(self, config: DnssecConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.anchors: dict[bytes, Anchor] = load_anchors(config.anchor_path)
        self._anchor_ds: dict[bytes, RRset] = {}
        for zone, anchor in self.anchors.items():
            ds = anchor.ds
            if anchor.dnskey is not None:
                extra = _ds_from_dnskeys(anchor.dnskey)
                ds = extra if ds is None else RRset(zone, DS, 1, ds.ttl, ds.rdatas + extra.rdatas)
            if ds is not None:
                self._anchor_ds[zone] = ds
        self.negative_anchors = config.negative_anchors
        self.keys: dict[bytes, KeyEntry] = {}
        # DS sets validated on the way (a referral's, or a DS sub-question's), waiting for the
        # child's DNSKEY set: (DS RRset, expiry).
        self._ds: dict[bytes, tuple[RRset, float]] = {}
        # Counters for operators (/metrics) and tests.
        self.stats: dict[str, int] = {s.value: 0 for s in Security}
        # RFC 8198: validated NSEC/NSEC3 records, to answer other names without asking.
        self.denials = DenialCache()

    # -- where validation applies ---------------------------------------------------------

    def anchor_above(self, name: bytes) -> bytes | None:
        """The closest trust anchor at or above ``name``."""
        probe = name
        while True:
            if probe in self._anchor_ds:
                return probe
            if probe == ROOT:
                return None
            probe = parent(probe)

    def negative_anchor_above(self, name: bytes) -> bytes | None:
        """The negative trust anchor at or above ``name`` (RFC 7646), if any."""
        for nta in self.negative_anchors:
            if is_subdomain(name, nta):
                return nta
        return None

    def flush(self, zone: bytes | None = None) -> int:
        """Forget validated keys, DS sets and NSEC/NSEC3 records at or below ``zone`` (all of
        them for None): ``ctl flush-zone`` and ``flush-all``, as Unbound flushes its key
        cache with them. Returns how many zones' keys went."""
        if zone is None:
            n = len(self.keys)
            self.keys.clear()
            self._ds.clear()
            self.denials.clear()
            return n
        gone = [z for z in self.keys if is_subdomain(z, zone)]
        for z in gone:
            del self.keys[z]
        for z in [z for z in self._ds if is_subdomain(z, zone)]:
            del self._ds[z]
        self.denials.flush(zone)
        return len(gone)

    def synthesise(self, qname: bytes, qtype: int) -> Synthesised | None:
        """A negative answer from validated NSEC/NSEC3 records (RFC 8198), or None."""
        if not self.config.aggressive_nsec or self.negative_anchor_above(qname) is not None:
            return None
        return self.denials.synthesise(qname, qtype, self.clock.now())

    def _unanchored(self, name: bytes) -> Verdict | None:
        nta = self.negative_anchor_above(name)
        if nta is not None:
            return Verdict(
                Security.INSECURE,
                f"{to_text(name)} is below the negative trust anchor {to_text(nta)}",
            )
        if self.anchor_above(name) is None:
            return Verdict(Security.INDETERMINATE, f"no trust anchor at or above {to_text(name)}")
        return None

    # -- one response ---------------------------------------------------------------------

    def check(
        self, c: Classified, asked: bytes, note: Note | None = None
    ) -> Generator[KeyQuestion, SubResult, Outcome]:
        """Validate a classified response from a server of zone ``asked``."""
        if c.kind is ResponseKind.REFERRAL:
            yield from self._referral(c, asked, note)
            return Outcome(Security.INSECURE, "a referral is not validated")
        name = c.target if c.kind in (ResponseKind.NXDOMAIN, ResponseKind.NODATA) else c.qname
        out = Outcome()
        outside = self._unanchored(name)
        if outside is not None:
            out.add(outside)
            return out
        if not c.sigs and c.qname != asked and is_subdomain(c.qname, asked):
            cut = yield from self._unsigned_cut(asked, c.qname, note)
            if cut is not None:
                out.add(cut)
                self.stats[out.status.value] += 1
                return out
        after_dname = False
        for rrset in c.chain + c.answer:
            # The CNAME after a DNAME is our own synthesis (classify.py, RFC 6672 §3.1): the
            # DNAME's signature covers it.
            if after_dname and rrset.rtype == CNAME:
                after_dname = False
                continue
            after_dname = rrset.rtype == DNAME
            v = yield from self._rrset(rrset, c, asked, note)
            out.add(v, rrset)
        if c.kind in (ResponseKind.NXDOMAIN, ResponseKind.NODATA):
            yield from self._negative(c, asked, out, note)
        self.stats[out.status.value] += 1
        return out

    def _rrset(
        self, rrset: RRset, c: Classified, asked: bytes, note: Note | None
    ) -> Generator[KeyQuestion, SubResult, Verdict]:
        sigs = c.sigs.get((rrset.owner, rrset.rtype))
        zone = _signer(sigs, rrset)
        if zone is None:
            zone = asked if is_subdomain(rrset.owner, asked) else rrset.owner
        outside = self._unanchored(zone)
        if outside is not None:
            return outside
        if rrset.rtype == DNSKEY and rrset.owner == zone:
            return (yield from self._apex(rrset, sigs, note))
        key = yield from self.key_for(zone, note)
        if key.status is not Security.SECURE or key.dnskeys is None:
            return Verdict(key.status, key.reason, key.ede)
        v = verify_rrset(rrset, sigs, key.dnskeys, zone, self.clock.now())
        if note is not None and len(c.chain) + len(c.answer) > 1:
            note(f"{Step.RRSET}: {v.status.value}: {v.reason}")  # one of several RRsets
        if v.status is not Security.SECURE:
            return v
        labels = _wildcard_labels(sigs, rrset, v.key_tag)
        if labels is not None:
            proof = yield from self._checked_proof(c, zone, key.dnskeys, note)
            if isinstance(proof, Verdict):
                return proof
            p = wildcard_expansion_proof(rrset.owner, labels, proof, zone)
            if note is not None:
                note(f"{Step.DENIAL}: wildcard answer: {p.reason}")
            if p.insecure:
                return Verdict(Security.INSECURE, p.reason)
            if not p.ok:
                return Verdict(Security.BOGUS, p.reason, EDE.NSEC_MISSING)
        return v

    def _checked_proof(
        self, c: Classified, zone: bytes, dnskeys: RRset, note: Note | None
    ) -> Generator[KeyQuestion, SubResult, list[RRset] | Verdict]:
        """The NSEC/NSEC3 RRsets of ``c`` signed by ``zone``'s keys, or why not."""
        now = self.clock.now()
        good = []
        for rrset in c.proof:
            if not is_subdomain(rrset.owner, zone):
                continue
            v = verify_rrset(rrset, c.sigs.get((rrset.owner, rrset.rtype)), dnskeys, zone, now)
            if v.status is not Security.SECURE:
                return v
            good.append(rrset)
        return good
        yield  # pragma: no cover - a generator like its callers

    def _negative(
        self, c: Classified, asked: bytes, out: Outcome, note: Note | None
    ) -> Generator[KeyQuestion, SubResult, None]:
        """NXDOMAIN or NODATA: the SOA and the NSEC/NSEC3 proof (RFC 4035 §5.4, RFC 5155 §8)."""
        soa = c.soa
        if c.qtype == DNSKEY and c.target == asked:
            # A zone without keys cannot prove that with its keys. If a validated DS (or an
            # anchor) says it has some, the empty answer is bogus: so marked, it is cached for
            # bogus_ttl only, and the keys are asked again after it (not after the SOA's
            # negative TTL, which would keep the zone bogus long after it is repaired).
            known = self._ds.get(asked)
            if asked in self._anchor_ds or (known is not None and known[1] > self.clock.now()):
                source = "a trust anchor" if asked in self._anchor_ds else "a DS in its parent"
                out.add(
                    Verdict(
                        Security.BOGUS,
                        f"{to_text(asked)} has {source} but answers no DNSKEY set",
                        EDE.DNSKEY_MISSING,
                    )
                )
                return
            out.add(Verdict(Security.INDETERMINATE, f"{to_text(asked)} has no DNSKEY set"))
            return
        first = soa if soa is not None else (c.proof[0] if c.proof else None)
        zone = _signer(c.sigs.get((first.owner, first.rtype)), first) if first else None
        if zone is None:
            zone = asked
        outside = self._unanchored(zone)
        if outside is not None:
            out.add(outside)
            return
        key = yield from self.key_for(zone, note)
        if key.status is not Security.SECURE or key.dnskeys is None:
            out.add(Verdict(key.status, key.reason, key.ede))
            return
        now = self.clock.now()
        if c.qtype == DS and zone == c.target:
            # RFC 4035 §3.1.4.1: the DS lives in the parent; a child's own NSEC at its apex
            # (which never lists DS) proves nothing about it.
            out.add(
                Verdict(
                    Security.BOGUS,
                    f"the denial of the DS of {to_text(zone)} comes from the zone itself, "
                    "not from its parent",
                    EDE.NSEC_MISSING,
                )
            )
            return
        if soa is not None:
            v = verify_rrset(soa, c.sigs.get((soa.owner, soa.rtype)), key.dnskeys, zone, now)
            out.add(v, soa)
            if v.status is not Security.SECURE:
                return
        proof = yield from self._checked_proof(c, zone, key.dnskeys, note)
        if isinstance(proof, Verdict):
            out.add(proof)
            return
        what = "NXDOMAIN" if c.kind is ResponseKind.NXDOMAIN else "NODATA"
        qname, qtype = c.target, c.qtype
        nsecs = [r for r in proof if r.rtype == NSEC]
        nsec3s = [r for r in proof if r.rtype == NSEC3]
        if not nsecs and not nsec3s:
            out.add(
                Verdict(
                    Security.BOGUS,
                    f"no NSEC or NSEC3 record of {to_text(zone)} proves the {what} for "
                    f"{to_text(qname)} {_type(qtype)}",
                    EDE.NSEC_MISSING,
                )
            )
            return
        p = (
            nsec_denial(qname, qtype, nsecs, zone)
            if nsecs
            else nsec3_denial(qname, qtype, nsec3s, zone)
        )
        if note is not None:
            note(f"{Step.DENIAL}: {what} {to_text(qname)} {_type(qtype)}: {p.reason}")
        v = _denial_verdict(p, c.kind, what, qname, qtype)
        out.add(v)
        for rrset in proof:
            sig = c.sigs.get((rrset.owner, rrset.rtype))
            if sig is not None:
                out.ttls[(rrset.owner, rrset.rtype)] = min(rrset.ttl, sig.ttl)
        if v.status is Security.SECURE and self.config.aggressive_nsec:
            soa_sig = c.sigs.get((soa.owner, soa.rtype)) if soa is not None else None
            pairs = [(r, c.sigs.get((r.owner, r.rtype))) for r in proof]
            self.denials.learn(zone, soa, soa_sig, pairs, now)

    def _unsigned_cut(
        self, asked: bytes, name: bytes, note: Note | None
    ) -> Generator[KeyQuestion, SubResult, Verdict | None]:
        """An unsigned answer for ``name`` from a server of the signed zone ``asked``: a server
        that also serves an unsigned zone below (no referral between them) answers from that
        zone. Ask the DS of each name between them, as Unbound does, until the parent proves
        an unsigned delegation (INSECURE), or a signed one, or the name (None: the data is
        then checked as the zone's own, and is bogus without its RRSIGs)."""
        key = yield from self.key_for(asked, note)
        if key.status is not Security.SECURE:
            return None
        below = name
        steps: list[bytes] = []
        while below != asked and len(steps) < _MAX_CUT_STEPS:
            steps.append(below)
            below = parent(below)
        for probe in reversed(steps):
            known = self._fresh_key(probe)
            if known is not None and known.status is Security.INSECURE:
                return Verdict(Security.INSECURE, known.reason)
            r = yield KeyQuestion(probe, DS)
            if r.rcode != NOERROR or r.security is not Security.SECURE:
                return None
            if any(x.rtype == DS for x in r.answer):
                return None  # a signed cut: its records must carry its signatures
            proof = [x for x in r.authority if x.rtype in (NSEC, NSEC3)]
            p = _proof_of(probe, DS, proof, _signer_of(r.authority) or asked)
            if p.ok and p.denial is Denial.INSECURE_DELEGATION:
                reason = f"{to_text(probe)} is an unsigned delegation ({p.reason})"
                if note is not None:
                    note(f"{Step.DS}: {to_text(probe)}: insecure: {p.reason}")
                self._remember(
                    KeyEntry(probe, Security.INSECURE, reason, self.clock.now() + _key_ttl(3600))
                )
                return Verdict(Security.INSECURE, reason)
        return None

    # -- referrals ------------------------------------------------------------------------

    def _referral(
        self, c: Classified, asked: bytes, note: Note | None
    ) -> Generator[KeyQuestion, SubResult, None]:
        """Learn the child's DS set, or that it has none, from a referral (RFC 4035 §3.1.4)."""
        assert c.ns is not None
        child = c.ns.owner
        if (
            child in self._anchor_ds  # an island: its anchor decides, not its parent
            or self._unanchored(child) is not None
            or self._fresh_key(child) is not None
        ):
            return
        key = yield from self.key_for(asked, note)
        now = self.clock.now()
        if key.status in (Security.INSECURE, Security.INDETERMINATE):
            self._remember(KeyEntry(child, Security.INSECURE, key.reason, now + _key_ttl(c.ns.ttl)))
            return
        if key.status is not Security.SECURE or key.dnskeys is None:
            return  # a bogus parent: the child's own questions will say so
        if c.ds is not None:
            v = verify_rrset(c.ds, c.sigs.get((child, DS)), key.dnskeys, asked, now)
            if note is not None:
                note(f"{Step.DS}: {to_text(child)}: {v.status.value}: {v.reason}")
            if v.status is Security.SECURE:
                self._ds[child] = (c.ds, now + _key_ttl(v.ttl or c.ds.ttl))
            return
        if not c.proof:
            return
        proof = yield from self._checked_proof(c, asked, key.dnskeys, note)
        if isinstance(proof, Verdict):
            return
        p = _proof_of(child, DS, proof, asked)
        if p.ok and p.denial is Denial.INSECURE_DELEGATION:
            if note is not None:
                note(f"{Step.DS}: {to_text(child)}: insecure: {p.reason}")
            ttl = min(r.ttl for r in proof)
            self._remember(
                KeyEntry(
                    child,
                    Security.INSECURE,
                    f"{to_text(child)} is an unsigned delegation ({p.reason})",
                    now + _key_ttl(ttl),
                )
            )

    # -- the chain of trust ---------------------------------------------------------------

    def _fresh_key(self, zone: bytes) -> KeyEntry | None:
        entry = self.keys.get(zone)
        if entry is not None and entry.expires > self.clock.now():
            return entry
        return None

    def _remember(self, entry: KeyEntry) -> KeyEntry:
        if len(self.keys) >= _MAX_KEYS:
            self.keys.clear()
            self._ds.clear()
        self.keys[entry.zone] = entry
        return entry

    def _bogus(self, zone: bytes, ede: EDE, reason: str) -> KeyEntry:
        expires = self.clock.now() + self.config.bogus_ttl
        return self._remember(KeyEntry(zone, Security.BOGUS, reason, expires, None, ede))

    def key_for(
        self, zone: bytes, note: Note | None = None
    ) -> Generator[KeyQuestion, SubResult, KeyEntry]:
        """The validated DNSKEY set of ``zone``, or why there is none (insecure or bogus)."""
        entry = self._fresh_key(zone)
        if entry is not None:
            return entry
        outside = self._unanchored(zone)
        if outside is not None:
            return KeyEntry(zone, outside.status, outside.reason, 0.0)
        if zone not in self._anchor_ds:
            ds = yield from self._ds_for(zone, note)
            if isinstance(ds, KeyEntry):
                return ds
        r = yield KeyQuestion(zone, DNSKEY)
        keys = [x for x in r.answer if x.rtype == DNSKEY and x.owner == zone]
        now = self.clock.now()
        if not keys:
            if r.rcode in (NOERROR, NXDOMAIN):
                # Only a zone with a DS (or a trust anchor) gets here: it must have keys.
                source = "a trust anchor" if zone in self._anchor_ds else "a DS in its parent"
                return self._bogus(
                    zone,
                    EDE.DNSKEY_MISSING,
                    f"{to_text(zone)} has {source} but answers no DNSKEY set",
                )
            code, why = _sub_failure(r, f"no DNSKEY set of {to_text(zone)}")
            return self._bogus(zone, code, why)
        if r.rcode == NOERROR and r.security is Security.SECURE:
            tags = ", ".join(str(key_tag(rd)) for rd in keys[0].rdatas)
            entry = KeyEntry(
                zone,
                Security.SECURE,
                f"DNSKEY set of {to_text(zone)} (keys {tags}) validated",
                now + _key_ttl(keys[0].ttl),
                keys[0],
            )
        elif r.rcode == NOERROR and r.security in (Security.INSECURE, Security.INDETERMINATE):
            ede = next((EDE(c) for c, _t in r.ede if c in _DNSSEC_EDE), None)
            why = next((t for _c, t in r.ede), f"{to_text(zone)} is insecure")
            entry = KeyEntry(zone, Security.INSECURE, why, now + _key_ttl(3600), None, ede)
        else:
            ede, why = _sub_failure(r, f"no DNSKEY set of {to_text(zone)}")
            return self._bogus(zone, ede, why)
        if note is not None:
            note(f"{Step.KEY}: {to_text(zone)}: {entry.status.value}: {entry.reason}")
        return self._remember(entry)

    def _ds_for(
        self, zone: bytes, note: Note | None
    ) -> Generator[KeyQuestion, SubResult, RRset | KeyEntry]:
        """The validated DS set for ``zone`` from its parent; or a KeyEntry saying why the
        zone is insecure (a proven unsigned delegation) or bogus."""
        now = self.clock.now()
        known = self._ds.get(zone)
        if known is not None and known[1] > now:
            return known[0]
        r = yield KeyQuestion(zone, DS)
        now = self.clock.now()
        ds = [x for x in r.answer if x.rtype == DS and x.owner == zone]
        if r.rcode == NOERROR and ds:
            if r.security is Security.SECURE:
                self._ds[zone] = (ds[0], now + _key_ttl(ds[0].ttl))
                if note is not None:
                    tags = ", ".join(str(_DS_HEAD.unpack_from(rd)[0]) for rd in ds[0].rdatas)
                    note(f"{Step.DS}: {to_text(zone)}: secure DS (key tags {tags})")
                return ds[0]
            return self._remember(
                KeyEntry(
                    zone,
                    Security.INSECURE,
                    f"the DS of {to_text(zone)} is not secure (its parent is unsigned)",
                    now + _key_ttl(ds[0].ttl),
                )
            )
        if r.rcode in (NOERROR, NXDOMAIN) and r.security is not Security.SECURE:
            why = f"the parent of {to_text(zone)} is unsigned"
            for _code, text in r.ede:
                why = text
            return self._remember(KeyEntry(zone, Security.INSECURE, why, now + _key_ttl(3600)))
        if r.rcode == NOERROR:
            # A secure NODATA: only a proven delegation without DS makes the zone insecure;
            # a name that is no zone cut at all cannot sign anything (a forged signer name
            # must not downgrade its RRset to insecure).
            nsecs = [x for x in r.authority if x.rtype in (NSEC, NSEC3)]
            signer = _signer_of(r.authority) or (parent(zone) if zone != ROOT else ROOT)
            p = _proof_of(zone, DS, nsecs, signer)
            if p.insecure or (p.ok and p.denial is Denial.INSECURE_DELEGATION):
                if note is not None:
                    note(f"{Step.DS}: {to_text(zone)}: insecure: {p.reason}")
                ttl = min((x.ttl for x in nsecs), default=3600)
                return self._remember(
                    KeyEntry(
                        zone,
                        Security.INSECURE,
                        f"{to_text(zone)} is an unsigned delegation ({p.reason})",
                        now + _key_ttl(ttl),
                    )
                )
            return self._bogus(
                zone,
                EDE.DNSSEC_BOGUS,
                f"{to_text(zone)} signs records but its parent proves it is no signed zone "
                f"cut ({p.reason})",
            )
        if r.rcode == NXDOMAIN:
            # The parent proves the name does not exist, so no DS either: whatever answers
            # for it (a forward zone for an internal name, say) is unsigned, as Unbound does.
            return self._remember(
                KeyEntry(
                    zone,
                    Security.INSECURE,
                    f"{to_text(zone)} does not exist in its parent: no DS, so insecure",
                    now + _key_ttl(3600),
                )
            )
        ede, why = _sub_failure(r, f"no DS for {to_text(zone)}")
        return self._bogus(zone, ede, why)

    def _apex(
        self, dnskeys: RRset, sigs: RRset | None, note: Note | None
    ) -> Generator[KeyQuestion, SubResult, Verdict]:
        """A zone's own DNSKEY set, checked against the DS from its parent or an anchor."""
        zone = dnskeys.owner
        ds = self._anchor_ds.get(zone)
        source = "the trust anchor"
        if ds is None:
            got = yield from self._ds_for(zone, note)
            if isinstance(got, KeyEntry):
                return Verdict(got.status, got.reason, got.ede)
            ds, source = got, f"the DS published in {to_text(parent(zone))}"
        v = verify_dnskeys(dnskeys, sigs, ds, self.clock.now())
        if note is not None:
            note(f"{Step.KEY}: {to_text(zone)}: DNSKEY against {source}: {v.reason}")
        if v.status is Security.BOGUS and "matches the DS" in v.reason:
            v = Verdict(
                v.status,
                f"no DNSKEY of {to_text(zone)} matches {source}",
                v.ede,
            )
        return v


def _signer_of(section: Sequence[RRset]) -> bytes | None:
    """The signer of the first NSEC/NSEC3 RRSIG of a section (the zone a proof is from)."""
    for x in section:
        if x.rtype == RRSIG and x.covers in (NSEC, NSEC3):
            for rdata in x.rdatas:
                sig = parse_rrsig(rdata)
                if sig is not None:
                    return sig.signer
    return None


def _proof_of(name: bytes, qtype: int, proof: Sequence[RRset], zone: bytes) -> Proof:
    nsecs = [r for r in proof if r.rtype == NSEC]
    if nsecs:
        return nsec_denial(name, qtype, nsecs, zone)
    nsec3s = [r for r in proof if r.rtype == NSEC3]
    if nsec3s:
        return nsec3_denial(name, qtype, nsec3s, zone)
    return Proof(False, None, f"no NSEC or NSEC3 for {to_text(name)}")


def _denial_verdict(p: Proof, kind: ResponseKind, what: str, qname: bytes, qtype: int) -> Verdict:
    if p.insecure:
        return Verdict(Security.INSECURE, p.reason)
    if not p.ok:
        return Verdict(Security.BOGUS, p.reason, EDE.NSEC_MISSING)
    nx = kind is ResponseKind.NXDOMAIN
    if nx != (p.denial is Denial.NXDOMAIN):
        return Verdict(
            Security.BOGUS,
            f"the {what} for {to_text(qname)} {_type(qtype)} comes with a proof of "
            f"{p.denial.value if p.denial else 'nothing'}",
            EDE.NSEC_MISSING,
        )
    if p.opt_out:
        # RFC 5155 §9.2: a closest encloser proof whose next closer name is covered by an
        # opt-out NSEC3 does not get AD (Unbound: insecure), and is not used for RFC 8198.
        return Verdict(Security.INSECURE, f"{p.reason}: opt-out NSEC3, insecure (RFC 5155 §9.2)")
    return Verdict(Security.SECURE, p.reason)


def _key_ttl(ttl: int) -> float:
    return float(max(1, min(ttl, _MAX_KEY_TTL)))


def _type(rdtype: int) -> str:
    import dns.rdatatype  # presentation only

    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
