"""DNSSEC for the lab: keys, zone signing (NSEC and NSEC3 chains) and the proofs a server sends.

The lab signs its world when it builds it (``rootwalk.lab.world.build_world``). Keys are made
once per process (``zone_keys``), so every lab of a process shares one trust anchor; the
signatures themselves are cached by RRset content (``_SIG_CACHE``), so a new lab on another net
prefix re-signs only the few RRsets whose data names its addresses.

What is signed how (``PLAN``; see docs/lab.md "The signed lab"):

====================  =========  ===========================  ====================================
zone                  algorithm  denial                       why
====================  =========  ===========================  ====================================
``.``                 8 RSA      NSEC                         DS for com/net/org; test/arpa insecure
``com.``              13 P-256   NSEC3, opt-out               synthetic delegations need no NSEC3
``example.com.``      13 P-256   NSEC                         wildcard; eng.example.com insecure
``net.``              15 Ed25519 NSEC
``example.net.``      15 Ed25519 NSEC3, no opt-out            wildcard *.wild.example.net
``org.``              8 RSA      NSEC3, no opt-out            example.org insecure (NSEC3 proof)
``island.test.``      13 P-256   NSEC                         below unsigned test.: an island
====================  =========  ===========================  ====================================

NSEC3 uses SHA-1, 0 extra iterations and an empty salt (RFC 9276 §3.1). Zone data stays
relative to its origin (as everywhere in the lab), so chain owners and NSEC "next" names are
relative names too; ``dns.dnssec.sign`` is given the origin to make them absolute.

Glue and the NS RRset of a delegation are not signed (RFC 4035 §2.2); the DS RRset of a secure
delegation is, by the parent. Records of the chain added for synthetic domains after signing
(net. and org. are not opt-out) are signed when first served (``SignedZone.rrsig``).
"""

from __future__ import annotations

import base64
import bisect
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dns.dnssec
import dns.name
import dns.node
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.util
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from dns.dnssectypes import Algorithm, DSDigest
from dns.rdtypes.dnskeybase import Flag

__all__ = [
    "DNSKEY_TTL",
    "PLAN",
    "Denial",
    "SignedZone",
    "ZoneKeys",
    "ZonePlan",
    "signature_window",
    "sign_zone",
    "zone_keys",
]

IN = dns.rdataclass.IN
RdataType = dns.rdatatype.RdataType
_EMPTY = dns.name.empty
_STAR = b"*"
# rdata constructors (untyped in dnspython)
_NSEC: Any = dns.rdtypes.ANY.NSEC.NSEC
_NSEC3: Any = dns.rdtypes.ANY.NSEC3.NSEC3
_Node: Callable[[], dns.node.Node] = dns.node.Node

#: TTL of the DNSKEY RRsets the lab adds at each signed apex.
DNSKEY_TTL = 3600
#: Signature validity around the time keys are first made (the lab's tests run under
#: rootwalk.clock.FakeClock, which starts at 1_800_000_000, weeks ahead of today: the window
#: must cover it too).
INCEPTION_BEFORE = 86400
EXPIRATION_AFTER = 365 * 86400
#: RSA modulus size of both keys of an RSASHA256 zone.
RSA_BITS = 2048
#: NSEC3 parameters (RFC 9276 §3.1: SHA-1, no extra iterations, no salt).
NSEC3_ALGORITHM = 1
NSEC3_ITERATIONS = 0
NSEC3_SALT = b""


class Denial:
    NSEC = "nsec"
    NSEC3 = "nsec3"


@dataclass(frozen=True)
class ZonePlan:
    algorithm: Algorithm
    denial: str
    opt_out: bool = False


PLAN: dict[dns.name.Name, ZonePlan] = {
    dns.name.root: ZonePlan(Algorithm.RSASHA256, Denial.NSEC),
    dns.name.from_text("com."): ZonePlan(Algorithm.ECDSAP256SHA256, Denial.NSEC3, opt_out=True),
    dns.name.from_text("example.com."): ZonePlan(Algorithm.ECDSAP256SHA256, Denial.NSEC),
    dns.name.from_text("net."): ZonePlan(Algorithm.ED25519, Denial.NSEC),
    dns.name.from_text("example.net."): ZonePlan(Algorithm.ED25519, Denial.NSEC3),
    dns.name.from_text("org."): ZonePlan(Algorithm.RSASHA256, Denial.NSEC3),
    dns.name.from_text("island.test."): ZonePlan(Algorithm.ECDSAP256SHA256, Denial.NSEC),
}


@dataclass(frozen=True)
class ZoneKeys:
    """The KSK (SEP flag) and ZSK of one zone, private keys kept in memory."""

    origin: dns.name.Name
    algorithm: Algorithm
    ksk: Any
    ksk_dnskey: Any
    zsk: Any
    zsk_dnskey: Any

    def ds(self, digest: DSDigest = DSDigest.SHA256) -> Any:
        """The DS of the KSK (what the parent publishes, or the trust anchor)."""
        return dns.dnssec.make_ds(self.origin, self.ksk_dnskey, digest)


def _private_key(algorithm: Algorithm) -> Any:
    if algorithm == Algorithm.RSASHA256:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if algorithm == Algorithm.ECDSAP256SHA256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == Algorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"the lab signs with no {algorithm!r}")


@functools.cache
def zone_keys(origin: dns.name.Name, algorithm: Algorithm) -> ZoneKeys:
    """The keys of a zone, made on first use and kept for the life of the process."""
    ksk = _private_key(algorithm)
    zsk = _private_key(algorithm)
    sep = Flag.ZONE | Flag.SEP
    return ZoneKeys(
        origin,
        algorithm,
        ksk,
        dns.dnssec.make_dnskey(ksk.public_key(), algorithm, flags=sep),
        zsk,
        dns.dnssec.make_dnskey(zsk.public_key(), algorithm, flags=Flag.ZONE),
    )


@functools.cache
def signature_window() -> tuple[int, int]:
    """(inception, expiration) of every signature made in this process."""
    now = int(time.time())
    return now - INCEPTION_BEFORE, now + EXPIRATION_AFTER


# (origin, key tag, inception, expiration, owner, type, TTL, rdata in canonical form) -> RRSIG
_SIG_CACHE: dict[tuple[Any, ...], Any] = {}
_SIG_CACHE_MAX = 50_000
_SIG_LOCK = threading.Lock()


def _sign(
    keys: ZoneKeys,
    owner: dns.name.Name,
    rds: dns.rdataset.Rdataset,
    inception: int,
    expiration: int,
    *,
    ksk: bool = False,
    cache: bool = True,
) -> Any:
    """An RRSIG over (owner, rds); owner and rdata names relative to ``keys.origin``."""
    origin = keys.origin
    key, dnskey = (keys.ksk, keys.ksk_dnskey) if ksk else (keys.zsk, keys.zsk_dnskey)
    ck: tuple[Any, ...] = ()
    if cache:
        rdata = tuple(sorted(rd.to_digestable(origin) for rd in rds))
        ck = (origin, ksk, id(key), inception, expiration, owner, rds.rdtype, rds.ttl, rdata)
        hit = _SIG_CACHE.get(ck)
        if hit is not None:
            return hit
    sig = dns.dnssec.sign(
        (owner, rds),
        key,
        origin,
        dnskey,
        inception=inception,
        expiration=expiration,
        origin=origin,
    )
    if cache:
        with _SIG_LOCK:
            if len(_SIG_CACHE) >= _SIG_CACHE_MAX:
                _SIG_CACHE.clear()
            _SIG_CACHE[ck] = sig
    return sig


def _bitmap(types: Iterable[int]) -> Any:
    return dns.rdtypes.util.Bitmap.from_rdtypes(sorted({RdataType.make(t) for t in types})).windows


def nsec3_label(name: dns.name.Name) -> str:
    """The hashed owner label of ``name`` (absolute), lower-case base32hex (RFC 5155 §5)."""
    return dns.dnssec.nsec3_hash(name, NSEC3_SALT, NSEC3_ITERATIONS, NSEC3_ALGORITHM).lower()


class SignedZone:
    """What the lab knows of one signed zone: keys, chain, and the proofs drawn from it.

    Names given to and returned by the methods are relative to ``origin`` (as zone data is).
    Proof methods return the owner names of the NSEC or NSEC3 records to send.
    """

    def __init__(
        self,
        origin: dns.name.Name,
        keys: ZoneKeys,
        plan: ZonePlan,
        inception: int,
        expiration: int,
    ) -> None:
        self.origin = origin
        self.keys = keys
        self.plan = plan
        self.inception = inception
        self.expiration = expiration
        self.nsec3 = plan.denial == Denial.NSEC3
        self.opt_out = plan.opt_out
        #: NSEC: the chain's owners, in canonical order. NSEC3: the NSEC3 owners (one hashed
        #: label each), in hash order (base32hex keeps the order of the hashes).
        self.chain: list[dns.name.Name] = []
        self._hashes: list[str] = []
        #: Owners whose NSEC/NSEC3 is not signed yet (added after signing; see rrsig()).
        self.pending: set[dns.name.Name] = set()
        self._lock = threading.Lock()

    # -- signing -----------------------------------------------------------------------------

    @property
    def denial_type(self) -> RdataType:
        return RdataType.NSEC3 if self.nsec3 else RdataType.NSEC

    def sign(
        self,
        owner: dns.name.Name,
        rds: dns.rdataset.Rdataset,
        inception: int | None = None,
        expiration: int | None = None,
    ) -> dns.rdataset.Rdataset:
        """An RRSIG rdataset over (owner, rds), by the KSK for DNSKEY and the ZSK otherwise.

        Other validity times than the zone's are for faults (not cached).
        """
        inc = self.inception if inception is None else inception
        exp = self.expiration if expiration is None else expiration
        plain = inception is None and expiration is None
        sig = _sign(
            self.keys, owner, rds, inc, exp, ksk=rds.rdtype == RdataType.DNSKEY, cache=plain
        )
        out = dns.rdataset.Rdataset(IN, RdataType.RRSIG, rds.rdtype)
        out.add(sig, rds.ttl)
        return out

    def rrsig(
        self,
        nodes: Mapping[dns.name.Name, dns.node.Node],
        owner: dns.name.Name,
        rdtype: RdataType,
    ) -> dns.rdataset.Rdataset | None:
        """The RRSIG rdataset covering ``rdtype`` at ``owner``; signs pending chain records."""
        node = nodes.get(owner)
        if node is None:
            return None
        rdtype = RdataType.make(rdtype)
        sig = node.get_rdataset(IN, RdataType.RRSIG, rdtype)
        if sig is None and owner in self.pending and rdtype == self.denial_type:
            rds = node.get_rdataset(IN, rdtype)
            if rds is not None:
                sig = self.sign(owner, rds)
                with self._lock:
                    if node.get_rdataset(IN, RdataType.RRSIG, rdtype) is None:
                        node.rdatasets.append(sig)
                    self.pending.discard(owner)
        return sig

    def sign_pending(self, nodes: Mapping[dns.name.Name, dns.node.Node]) -> None:
        """Sign every chain record still unsigned (before writing the zone out)."""
        for owner in list(self.pending):
            self.rrsig(nodes, owner, self.denial_type)

    # -- chain lookups --------------------------------------------------------------------

    def _hash(self, name: dns.name.Name) -> str:
        return nsec3_label(name.derelativize(self.origin))

    def nsec_owner(self, name: dns.name.Name) -> dns.name.Name:
        """The owner of the NSEC that matches or covers ``name``."""
        i = bisect.bisect_right(self.chain, name) - 1
        return self.chain[i]  # i == -1 cannot happen: the apex sorts first

    def nsec3_owner(self, name: dns.name.Name) -> tuple[dns.name.Name, bool]:
        """The owner of the NSEC3 that matches (True) or covers (False) ``name``."""
        h = self._hash(name)
        i = bisect.bisect_right(self._hashes, h) - 1  # -1: the last one covers (wraps around)
        return self.chain[i], self._hashes[i] == h

    def _closest_provable(self, name: dns.name.Name) -> list[dns.name.Name]:
        """RFC 5155 §7.2.1: the NSEC3 matching the closest provable encloser of ``name`` and
        the one covering the next closer name."""
        child = name
        ce = name.parent() if len(name) else name
        while True:
            owner, match = self.nsec3_owner(ce)
            if match or len(ce) == 0:
                break
            child, ce = ce, ce.parent()
        return _unique([owner, self.nsec3_owner(child)[0]])

    # -- proofs (RFC 4035 §3.1.3, RFC 5155 §7.2) -------------------------------------------

    def proof_nxdomain(self, qname: dns.name.Name, ce: dns.name.Name) -> list[dns.name.Name]:
        """Name error: ``qname`` does not exist, nor does the wildcard at its closest encloser
        ``ce`` (RFC 4035 §3.1.3.2; RFC 5155 §7.2.2)."""
        wild = dns.name.Name((_STAR, *ce.labels))
        if not self.nsec3:
            return _unique([self.nsec_owner(qname), self.nsec_owner(wild)])
        next_closer = dns.name.Name(qname.labels[-(len(ce) + 1) :])
        return _unique(
            [
                self.nsec3_owner(ce)[0],
                self.nsec3_owner(next_closer)[0],
                self.nsec3_owner(wild)[0],
            ]
        )

    def proof_nodata(self, name: dns.name.Name) -> list[dns.name.Name]:
        """No data of the type at ``name`` (RFC 4035 §3.1.3.1; RFC 5155 §7.2.3, and §7.2.4 for
        a DS question at an opt-out delegation, which has no NSEC3 of its own)."""
        if not self.nsec3:
            return [self.nsec_owner(name)]
        owner, match = self.nsec3_owner(name)
        return [owner] if match else self._closest_provable(name)

    def proof_no_ds(self, cut: dns.name.Name) -> list[dns.name.Name]:
        """A referral to an unsigned child: no DS at ``cut`` (RFC 4035 §3.1.4; with opt-out,
        the closest provable encloser proof, RFC 5155 §7.2.7)."""
        return self.proof_nodata(cut)

    def proof_wildcard_answer(self, qname: dns.name.Name, ce: dns.name.Name) -> list[dns.name.Name]:
        """A wildcard expansion: no closer match for ``qname`` (RFC 4035 §3.1.3.3; RFC 5155
        §7.2.6: the NSEC3 covering the next closer name)."""
        if not self.nsec3:
            return [self.nsec_owner(qname)]
        return [self.nsec3_owner(dns.name.Name(qname.labels[-(len(ce) + 1) :]))[0]]

    def proof_wildcard_nodata(self, qname: dns.name.Name, ce: dns.name.Name) -> list[dns.name.Name]:
        """A wildcard matched but lacks the type (RFC 4035 §3.1.3.4; RFC 5155 §7.2.5): the
        same records as a name error (no closer match; the wildcard, whose NSEC or NSEC3
        lists its types)."""
        return self.proof_nxdomain(qname, ce)

    # -- building the chain ---------------------------------------------------------------

    def build_chain(self, nodes: dict[dns.name.Name, dns.node.Node], *, lazy: bool) -> None:
        """(Re)make the NSEC or NSEC3 chain over ``nodes``.

        Without ``lazy`` the chain records are signed at once; with it (chain rebuilt after
        synthetic delegations were added) they are signed when first served.
        """
        self._drop_chain(nodes)
        apex = nodes[_EMPTY]
        soa = apex.get_rdataset(IN, RdataType.SOA)
        assert soa is not None
        ttl = min(soa.ttl, soa[0].minimum)  # RFC 4034 §4, RFC 9077
        cuts, auth = _authoritative(nodes)
        if self.nsec3:
            self._build_nsec3(nodes, cuts, auth, ttl)
        else:
            self._build_nsec(nodes, cuts, auth, ttl)
        if lazy:
            self.pending = set(self.chain)
        else:
            dtype = self.denial_type
            for owner in self.chain:
                node = nodes[owner]
                rds = node.get_rdataset(IN, dtype)
                assert rds is not None
                node.rdatasets.append(self.sign(owner, rds))

    def _drop_chain(self, nodes: dict[dns.name.Name, dns.node.Node]) -> None:
        dtype = self.denial_type
        if self.nsec3:
            for owner in self.chain:
                nodes.pop(owner, None)
        else:
            for owner in self.chain:
                node = nodes.get(owner)
                if node is None:
                    continue
                node.rdatasets = [
                    r
                    for r in node.rdatasets
                    if r.rdtype != dtype and not (r.rdtype == RdataType.RRSIG and r.covers == dtype)
                ]
        self.chain, self._hashes, self.pending = [], [], set()

    def _build_nsec(
        self,
        nodes: dict[dns.name.Name, dns.node.Node],
        cuts: set[dns.name.Name],
        auth: list[dns.name.Name],
        ttl: int,
    ) -> None:
        chain = sorted(auth)
        for i, owner in enumerate(chain):
            node = nodes[owner]
            nxt = chain[(i + 1) % len(chain)]
            types = [
                r.rdtype
                for r in node.rdatasets
                if r.rdtype != RdataType.RRSIG
                and (owner not in cuts or r.rdtype in (RdataType.NS, RdataType.DS))
            ]
            # RRSIG: the NSEC itself is signed (RFC 4034 §4.1.2).
            types += [RdataType.NSEC, RdataType.RRSIG]
            rd = _NSEC(IN, RdataType.NSEC, nxt, _bitmap(types))
            rds = dns.rdataset.Rdataset(IN, RdataType.NSEC)
            rds.add(rd, ttl)
            node.rdatasets.append(rds)
        self.chain = chain

    def _build_nsec3(
        self,
        nodes: dict[dns.name.Name, dns.node.Node],
        cuts: set[dns.name.Name],
        auth: list[dns.name.Name],
        ttl: int,
    ) -> None:
        members = set(auth)
        if self.opt_out:
            # RFC 5155 §7.1: unsigned delegations need no NSEC3 under opt-out; neither do empty
            # non-terminals that exist only above them (there are none in the lab).
            members = {
                n
                for n in members
                if n not in cuts or nodes[n].get_rdataset(IN, RdataType.DS) is not None
            }
        for n in list(members):  # empty non-terminals get an NSEC3 too (RFC 5155 §7.1)
            p = n
            while len(p) > 0:
                p = p.parent()
                if p in members:
                    break
                if p not in nodes:
                    members.add(p)
        hashed = sorted((self._hash(n), n) for n in members)
        flags = 1 if self.opt_out else 0
        chain, hashes = [], []
        for i, (h, n) in enumerate(hashed):
            node = nodes.get(n)
            types: list[int] = []
            if node is not None:
                signed = False
                for r in node.rdatasets:
                    if r.rdtype == RdataType.RRSIG:
                        continue
                    if n in cuts and r.rdtype not in (RdataType.NS, RdataType.DS):
                        continue
                    types.append(r.rdtype)
                    signed = signed or n not in cuts or r.rdtype == RdataType.DS
                if signed:
                    types.append(RdataType.RRSIG)
            nxt = hashed[(i + 1) % len(hashed)][0]
            rd = _NSEC3(
                IN,
                RdataType.NSEC3,
                NSEC3_ALGORITHM,
                flags,
                NSEC3_ITERATIONS,
                NSEC3_SALT,
                base64.b32hexdecode(nxt.upper()),
                _bitmap(types),
            )
            rds = dns.rdataset.Rdataset(IN, RdataType.NSEC3)
            rds.add(rd, ttl)
            owner = dns.name.Name((h.encode(),))
            hnode = _Node()
            hnode.rdatasets.append(rds)
            nodes[owner] = hnode
            chain.append(owner)
            hashes.append(h)
        self.chain, self._hashes = chain, hashes


def _unique(names: list[dns.name.Name]) -> list[dns.name.Name]:
    out: list[dns.name.Name] = []
    for n in names:
        if n not in out:
            out.append(n)
    return out


def _authoritative(
    nodes: Mapping[dns.name.Name, dns.node.Node],
) -> tuple[set[dns.name.Name], list[dns.name.Name]]:
    """(delegation points, names the zone is authoritative for or delegates): everything
    but the glue below the cuts."""
    cuts = {
        n
        for n, node in nodes.items()
        if len(n) > 0 and node.get_rdataset(IN, RdataType.NS) is not None
    }
    auth = []
    for n in nodes:
        p = n
        below = False
        while len(p) > 1:
            p = p.parent()
            if p in cuts:
                below = True
                break
        if not below and nodes[n].rdatasets:
            auth.append(n)
    return cuts, auth


def sign_zone(
    nodes: dict[dns.name.Name, dns.node.Node],
    origin: dns.name.Name,
    plan: ZonePlan,
    child_ds: Mapping[dns.name.Name, list[Any]] | None = None,
) -> SignedZone:
    """Sign a zone's (relative) nodes in place: DNSKEY, DS of signed children, NSEC3PARAM,
    the NSEC/NSEC3 chain and every RRSIG. Returns what the server needs to answer with it."""
    keys = zone_keys(origin, plan.algorithm)
    inception, expiration = signature_window()
    sz = SignedZone(origin, keys, plan, inception, expiration)
    apex = nodes[_EMPTY]
    dnskeys = dns.rdataset.Rdataset(IN, RdataType.DNSKEY)
    dnskeys.add(keys.ksk_dnskey, DNSKEY_TTL)
    dnskeys.add(keys.zsk_dnskey, DNSKEY_TTL)
    apex.replace_rdataset(dnskeys)
    if sz.nsec3:
        param = dns.rdata.from_text(
            IN, RdataType.NSEC3PARAM, f"{NSEC3_ALGORITHM} 0 {NSEC3_ITERATIONS} -"
        )
        rds = dns.rdataset.Rdataset(IN, RdataType.NSEC3PARAM)
        rds.add(param, 0)  # RFC 5155 §4: TTL of NSEC3PARAM, 0 as many signers use
        apex.replace_rdataset(rds)
    for cut, ds_list in (child_ds or {}).items():
        node = nodes[cut]
        ns = node.get_rdataset(IN, RdataType.NS)
        if ns is None:
            raise ValueError(f"{cut}.{origin}: a DS without a delegation")
        ds = dns.rdataset.Rdataset(IN, RdataType.DS)
        for rd in ds_list:
            ds.add(rd, ns.ttl)
        node.replace_rdataset(ds)
    cuts, auth = _authoritative(nodes)
    for owner in auth:
        node = nodes[owner]
        for rds in list(node.rdatasets):
            if rds.rdtype == RdataType.RRSIG:
                continue
            if owner in cuts and rds.rdtype != RdataType.DS:
                continue  # delegation NS: not authoritative data (RFC 4035 §2.2)
            node.replace_rdataset(sz.sign(owner, rds))
    sz.build_chain(nodes, lazy=False)
    return sz
