"""DNSSEC validation as a client of ``rootwalk serve`` sees it, over real sockets (issue #12).

The signed lab (docs/lab.md, "The signed lab") is the internet; ``rootwalk serve`` runs in front
of it with the lab's trust anchor. Clients are dnspython, dig and c-ares (aiodns). What is
checked, by RFC:

* AD only for secure data, and only when the query had DO or AD (RFC 6840 §5.7-5.8); RRSIGs
  only with DO=1 and NSEC/NSEC3 proofs with negative and wildcard answers (RFC 4035 §3.2.1,
  §3.1.3); no DNSSEC record at all with DO=0 (RFC 4035 §3.2.1).
* Insecure (a proven unsigned delegation, NSEC, NSEC3 and NSEC3 opt-out: RFC 4035 §5.2,
  RFC 5155 §8.6, §9.2), islands (secure only through a configured anchor), negative trust
  anchors (RFC 7646).
* Bogus, one lab fault each: SERVFAIL with its Extended DNS Error (RFC 8914 §4) whose text names
  the record; the data with CD=1 (RFC 4035 §3.2.2); the bogus result kept for
  ``dnssec.bogus_ttl`` seconds, then validated again.
* RFC 8198 (aggressive use of validated NSEC), the DS at the parent side of a cut (RFC 4035
  §3.1.4.1), the trace of ``rootwalk query``, and check-config's word on a bad anchor file.

The signatures in answers are checked with dnspython's own validator against the DNSKEY sets
the resolver hands out, and those against the lab's own keys, so that the resolver's code is
not what checks it.

Servers: ``main`` (shared, defaults), ``noagg`` (shared, ``aggressive_nsec = false``: the
bogus-fault tests ask new negative names that cached NSEC records of other tests could otherwise
answer), and servers of their own where the key cache must start empty (DS and DNSKEY faults)
or the configuration differs. Faults are reset around every test; each test asks names of its
own so that the shared caches cannot make the tests depend on their order.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiodns
import aiodns.error
import dns.dnssec
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from rootwalk.lab import BOGUS_ADDRESS, Faults, Lab

from .conftest import ServeProcess, lab_config, run_cli

T = dns.rdatatype.RdataType
IN = dns.rdataclass.IN
RD, AD, CD = dns.flags.RD, dns.flags.AD, dns.flags.CD
NOERROR, SERVFAIL, NXDOMAIN = dns.rcode.NOERROR, dns.rcode.SERVFAIL, dns.rcode.NXDOMAIN
DNSSEC_TYPES = (T.RRSIG, T.NSEC, T.NSEC3)
#: Short, so that the expiry of a bogus result is seen within the test (Unbound: 60 s).
BOGUS_TTL = 2
#: How long a bounded poll waits at most for the bogus result to be validated again.
POLL_LIMIT = 15.0

Where = tuple[str, int]


# -- servers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    # Three synthetic domains: d000000.com (com is NSEC3 opt-out), d000001.net (NSEC),
    # d000002.org (NSEC3), each an unsigned delegation.
    with Lab(domains=3) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_lab(lab: Lab) -> Iterator[None]:
    lab.clear_faults()
    lab.reset_counters()
    yield
    lab.clear_faults()


def serve(lab: Lab, tmp: Path, dnssec: str = "", anchor: Path | None = None) -> ServeProcess:
    """``rootwalk serve`` in front of ``lab`` on one free UDP/TCP port of 127.0.0.1, with extra
    ``[dnssec]`` lines and, if given, another trust anchor file than the lab's."""
    text = lab_config(lab, listen=["127.0.0.1:0"])
    if anchor is not None:
        text = text.replace(str(lab.trust_anchor_path), str(anchor))
    text = text.replace("[dnssec]\n", f"[dnssec]\n{dnssec}", 1)
    path = tmp / f"rootwalk-{time.monotonic_ns()}.toml"
    path.write_text(text)
    proc = ServeProcess(["serve", "--config", str(path)])
    proc.config_path = path
    try:
        proc.wait_listening(1)
    except BaseException:
        proc.stop()
        raise
    return proc


def stop(proc: ServeProcess) -> None:
    rc = proc.stop()
    assert rc == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def main(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Where]:
    proc = serve(lab, tmp_path_factory.mktemp("main"), f"bogus_ttl = {BOGUS_TTL}\n")
    yield proc.addresses[0]
    stop(proc)


@pytest.fixture(scope="module")
def noagg(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Where]:
    dnssec = f"bogus_ttl = {BOGUS_TTL}\naggressive_nsec = false\n"
    proc = serve(lab, tmp_path_factory.mktemp("noagg"), dnssec)
    yield proc.addresses[0]
    stop(proc)


@pytest.fixture
def fresh(lab: Lab, tmp_path: Path) -> Iterator[Where]:
    """A server of its own: an empty key cache, for faults in DS and DNSKEY sets."""
    proc = serve(lab, tmp_path, f"bogus_ttl = {BOGUS_TTL}\n")
    yield proc.addresses[0]
    stop(proc)


# -- asking -----------------------------------------------------------------------------------


def query(
    where: Where,
    name: str,
    rdtype: str = "A",
    *,
    do: bool = False,
    ad: bool = False,
    cd: bool = False,
    edns: bool = True,
    tcp: bool = False,
) -> dns.message.Message:
    flags = RD | (AD if ad else 0) | (CD if cd else 0)
    q = dns.message.make_query(
        name, rdtype, use_edns=0 if edns else False, want_dnssec=do, flags=flags
    )
    if tcp:
        return dns.query.tcp(q, where[0], port=where[1], timeout=5)
    return dns.query.udp(q, where[0], port=where[1], timeout=5)


def ede(r: dns.message.Message) -> list[tuple[int, str]]:
    return [(int(o.code), o.text or "") for o in r.options if isinstance(o, dns.edns.EDEOption)]


def has_ad(r: dns.message.Message) -> bool:
    return bool(r.flags & AD)


def all_rrsets(r: dns.message.Message) -> list[dns.rrset.RRset]:
    return [*r.answer, *r.authority, *r.additional]


def dnssec_records(r: dns.message.Message) -> list[dns.rrset.RRset]:
    return [x for x in all_rrsets(r) if x.rdtype in DNSSEC_TYPES]


def addresses(r: dns.message.Message) -> list[str]:
    return [rd.address for x in r.answer if x.rdtype in (T.A, T.AAAA) for rd in x]


def lab_keys(lab: Lab, zone: str) -> dns.rrset.RRset:
    """The DNSKEY set the lab serves for ``zone``, read from the lab's own zone data."""
    origin = dns.name.from_text(zone)
    assert lab.world is not None
    rds = lab.world.zones[origin].nodes[dns.name.empty].get_rdataset(IN, T.DNSKEY)
    assert rds is not None
    return dns.rrset.from_rdata_list(origin, rds.ttl, list(rds))


class Keys:
    """DNSKEY sets as the resolver hands them out, each checked against the lab's own keys."""

    def __init__(self, lab: Lab, where: Where) -> None:
        self.lab, self.where = lab, where
        self.known: dict[dns.name.Name, dns.rrset.RRset] = {}

    def __call__(self, zone: dns.name.Name) -> dns.rrset.RRset:
        if zone not in self.known:
            r = query(self.where, zone.to_text(), "DNSKEY", do=True)
            keys = r.find_rrset(r.answer, zone, IN, T.DNSKEY)
            sig = r.find_rrset(r.answer, zone, IN, T.RRSIG, T.DNSKEY)
            assert set(keys) == set(lab_keys(self.lab, zone.to_text()))
            dns.dnssec.validate(keys, sig, {zone: keys})
            self.known[zone] = keys
        return self.known[zone]


def validate_signed(r: dns.message.Message, keys: Keys) -> list[tuple[str, str]]:
    """Every RRset of the answer and authority sections is signed, and dnspython's validator
    accepts the signature; returns (owner, type) of each."""
    done = []
    for section in (r.answer, r.authority):
        for rrset in section:
            if rrset.rdtype == T.RRSIG:
                continue
            sigs = [
                s for s in section
                if s.rdtype == T.RRSIG and s.covers == rrset.rdtype and s.name == rrset.name
            ]  # fmt: skip
            assert sigs, f"no RRSIG over {rrset.name} {T(rrset.rdtype).name}"
            signer = next(iter(sigs[0])).signer
            dns.dnssec.validate(rrset, sigs[0], {signer: keys(signer)})
            done.append((rrset.name.to_text(), T(rrset.rdtype).name))
    return done


def count(lab: Lab, zone: str, qtype: str | None = None) -> int:
    servers = lab.servers_for(zone)
    if qtype is None:
        return sum(s.count() for s in servers)
    rdtype = dns.rdatatype.from_text(qtype)
    return sum(1 for s in servers for q in s.queries if q.qtype == rdtype)


def set_faults(lab: Lab, zone: str, faults: Faults) -> None:
    for s in lab.servers_for(zone):
        s.faults = faults


def poll(check: object, what: str, limit: float = POLL_LIMIT) -> float:
    """Call ``check`` every 0.1 s until it returns true; the time it took. Bounded."""
    began = time.monotonic()
    for _ in range(int(limit / 0.1) + 1):
        if check():  # type: ignore[operator]
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {limit} s")


# -- secure answers: the AD bit, DO and RRSIGs -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [("www.example.com", "A"), ("example.com", "MX"), ("www.example.net", "A")],
)
def test_secure_answer_ad_do_and_rrsigs(lab: Lab, main: Where, name: str, rdtype: str) -> None:
    keys = Keys(lab, main)
    for _round in range(2):  # the first resolves; the second is a cache or fast-path hit
        r = query(main, name, rdtype, do=True)
        assert r.rcode() == NOERROR and has_ad(r), r
        assert validate_signed(r, keys) == [(f"{name}.", rdtype)]
        r = query(main, name, rdtype, do=True, tcp=True)
        assert has_ad(r) and validate_signed(r, keys)
        # RFC 6840 §5.7: AD in the query asks for AD in the answer, without DNSSEC records.
        for edns in (True, False):
            r = query(main, name, rdtype, ad=True, edns=edns)
            assert r.answer and has_ad(r) and not dnssec_records(r), r
            # RFC 6840 §5.8: neither DO nor AD, no AD; RFC 4035 §3.2.1: DO=0, no RRSIG.
            r = query(main, name, rdtype, edns=edns)
            assert r.answer and not has_ad(r) and not dnssec_records(r), r


# -- negative and wildcard answers, NSEC and NSEC3 ---------------------------------------------

NEGATIVE = [
    # name, type, rcode, whether the answer section has data (a wildcard expansion)
    ("nope.example.com", "A", NXDOMAIN, False),
    ("www.example.com", "TXT", NOERROR, False),  # NODATA
    ("wild.example.com", "A", NOERROR, False),  # empty non-terminal: NODATA
    ("x.wild.example.com", "A", NOERROR, True),  # wildcard answer
    ("x.wild.example.com", "MX", NOERROR, False),  # wildcard NODATA
    ("nope.example.net", "A", NXDOMAIN, False),
    ("www.example.net", "TXT", NOERROR, False),
    ("wild.example.net", "A", NOERROR, False),
    ("x.wild.example.net", "A", NOERROR, True),
    ("x.wild.example.net", "MX", NOERROR, False),
]


@pytest.mark.parametrize(("name", "rdtype", "rcode", "data"), NEGATIVE)
def test_denials_and_wildcards_are_secure_with_their_proofs(
    lab: Lab, main: Where, name: str, rdtype: str, rcode: int, data: bool
) -> None:
    proof_type = T.NSEC3 if name.endswith("example.net") else T.NSEC
    keys = Keys(lab, main)
    for _round in range(2):  # resolved, then from the cache
        r = query(main, name, rdtype, do=True)
        assert r.rcode() == rcode and has_ad(r), r
        assert bool(r.answer) == data
        if data:
            # RFC 4035 §5.3.4: the RRSIG's labels field is below the owner's: an expansion...
            sig = r.find_rrset(r.answer, dns.name.from_text(name), IN, T.RRSIG, T.A)
            assert next(iter(sig)).labels < len(dns.name.from_text(name)) - 1
        # ... and every answer with DO=1 carries the NSEC/NSEC3 records that prove it
        # (RFC 4035 §3.1.3, §3.2.1), wildcard answers included (RFC 4035 §3.1.3.3).
        proofs = [x for x in r.authority if x.rdtype == proof_type]
        assert proofs, f"no {proof_type.name} in the authority section:\n{r}"
        signed = validate_signed(r, keys)
        assert len(signed) == len(r.answer) // 2 + len(r.authority) // 2
        r = query(main, name, rdtype)
        assert r.rcode() == rcode and not has_ad(r) and not dnssec_records(r), r


# -- insecure ---------------------------------------------------------------------------------

INSECURE = [
    # name, its signed parent (whose own answer has AD), how the missing DS is proven
    ("www.eng.example.com", "example.com", "NSEC"),
    ("www.example.org", "org", "NSEC3"),
    ("www.partlame.test", ".", "NSEC of the root (test. is unsigned)"),
    ("www.d000000.com", "com", "NSEC3 opt-out"),
    ("www.d000001.net", "net", "NSEC"),
    ("www.d000002.org", "org", "NSEC3"),
]


@pytest.mark.parametrize(("name", "parent", "how"), INSECURE)
def test_unsigned_delegation_below_signed_parent_is_insecure(
    main: Where, name: str, parent: str, how: str
) -> None:
    r = query(main, name, do=True, ad=True)
    assert r.rcode() == NOERROR and addresses(r), r
    assert not has_ad(r) and not dnssec_records(r) and not ede(r), r
    # The parent itself validates: insecure is a proof here, not validation being off.
    r = query(main, parent, "SOA", do=True)
    assert r.rcode() == NOERROR and has_ad(r), r


def test_opt_out_denial_is_insecure_without_ad(lab: Lab, main: Where) -> None:
    """RFC 5155 §9.2: AD is not set on an answer whose closest encloser proof has an opt-out
    NSEC3 covering the next closer name: an unsigned delegation may exist there."""
    keys = Keys(lab, main)
    r = query(main, "d000000.com", "DS", do=True)
    assert r.rcode() == NOERROR and not r.answer, r
    nsec3 = [x for x in r.authority if x.rdtype == T.NSEC3]
    assert nsec3 and any(rd.flags & 1 for x in nsec3 for rd in x), r  # opt-out flag set
    validate_signed(r, keys)  # genuine, validly signed: insecure, not bogus
    assert not has_ad(r), f"AD on an opt-out proof (RFC 5155 §9.2):\n{r}"
    # The same holds for an NXDOMAIN proven with the opt-out NSEC3 covering the next closer
    # name: a delegation may exist there, unsigned, so the denial is not secure either.
    r = query(main, f"nosuch{secrets.token_hex(4)}.com", do=True)
    assert r.rcode() == NXDOMAIN and any(x.rdtype == T.NSEC3 for x in r.authority), r
    validate_signed(r, keys)
    assert not has_ad(r), f"AD on an opt-out proof (RFC 5155 §9.2):\n{r}"
    # The name below the opt-out span is insecure, and com itself secure.
    assert not has_ad(query(main, "www.d000000.com", do=True))
    assert has_ad(query(main, "com", "SOA", do=True))


def test_island_is_secure_only_with_its_anchor(lab: Lab, main: Where, tmp_path: Path) -> None:
    r = query(main, "www.island.test", do=True)
    assert r.rcode() == NOERROR and addresses(r) and has_ad(r), r
    # The same lab with an anchor file that has only the root's line: test. is unsigned, so
    # island.test is an insecure zone like any other below it.
    root_only = [line for line in lab.trust_anchor_text.splitlines() if line.split()[:1] == ["."]]
    assert len(root_only) == 1
    anchor = tmp_path / "root-only.ds"
    anchor.write_text(root_only[0] + "\n")
    proc = serve(lab, tmp_path, anchor=anchor)
    try:
        where = proc.addresses[0]
        r = query(where, "www.island.test", do=True, ad=True)
        assert r.rcode() == NOERROR and addresses(r) and not has_ad(r), r
        assert has_ad(query(where, "www.example.com", do=True))  # the root anchor works
    finally:
        stop(proc)


# -- bogus ------------------------------------------------------------------------------------

BOGUS = [
    # zone whose servers misbehave, fault, name, type, rcode with CD, EDE code (RFC 8914)
    ("example.net", "sig_expired", "expired.wild.example.net", "A", NOERROR, 7),
    ("example.com", "sig_not_yet_valid", "early.wild.example.com", "A", NOERROR, 8),
    ("example.net", "strip_rrsigs", "stripped.wild.example.net", "A", NOERROR, 10),
    ("example.com", "forge_answer", "forged.wild.example.com", "A", NOERROR, 6),
    ("example.com", "nsec_not_covering", "uncovered.example.com", "A", NXDOMAIN, 12),
    ("example.net", "nsec_not_covering", "uncovered.example.net", "A", NXDOMAIN, 12),
    ("example.net", "nsec_not_covering", "www.example.net", "TXT", NOERROR, 12),
    ("example.com", "wildcard_no_proof", "noproof.wild.example.com", "A", NOERROR, 12),
    ("example.net", "wildcard_no_proof", "noproof.wild.example.net", "A", NOERROR, 12),
]


@pytest.mark.parametrize(("zone", "fault", "name", "rdtype", "cd_rcode", "code"), BOGUS)
def test_bogus_answer_is_servfail_with_ede_and_data_with_cd(
    lab: Lab,
    noagg: Where,
    zone: str,
    fault: str,
    name: str,
    rdtype: str,
    cd_rcode: int,
    code: int,
) -> None:
    # only_for: the fault shows in this one answer; the zone's keys stay good.
    set_faults(lab, zone, Faults(**{fault: True}, only_for=(name, rdtype)))
    for do in (True, False):
        r = query(noagg, name, rdtype, do=do)
        assert r.rcode() == SERVFAIL and not r.answer and not has_ad(r), r
        [(got, text)] = ede(r)
        assert got == code, text
        assert f"{name}." in text, text  # the EDE text names the record
    # RFC 4035 §3.2.2: with CD the client validates for itself, and gets the data.
    r = query(noagg, name, rdtype, do=True, cd=True)
    assert r.rcode() == cd_rcode and not has_ad(r) and not ede(r), r
    assert r.answer or r.authority
    if fault == "forge_answer":
        assert addresses(r) == [BOGUS_ADDRESS]


@pytest.mark.parametrize(
    ("zone", "fault", "why"),
    [
        ("com", "ds_mismatch", "no DNSKEY of example.com. matches the DS published in com."),
        ("example.com", "strip_dnskey", "example.com."),
    ],
)
def test_broken_key_chain_is_dnskey_missing_and_kept_bogus_for_bogus_ttl(
    lab: Lab, fresh: Where, zone: str, fault: str, why: str
) -> None:
    set_faults(lab, zone, Faults(**{fault: True}))  # type: ignore[arg-type]
    began = time.monotonic()
    r = query(fresh, "www.example.com", do=True)
    assert r.rcode() == SERVFAIL, r
    [(code, text)] = ede(r)
    assert code == 9 and why in text, text
    r = query(fresh, "www.example.com", do=True, cd=True)
    assert r.rcode() == NOERROR and addresses(r) == ["192.0.2.1"] and not has_ad(r), r
    # The zone's keys are remembered as bogus: another name of the zone fails at once, without
    # asking again for the DS or the DNSKEY set (Unbound's key cache, val-bogus-ttl).
    lab.reset_counters()
    r = query(fresh, "mail.example.com", do=True)
    assert r.rcode() == SERVFAIL and ede(r)[0][0] == 9, r
    assert count(lab, "com", "DS") + count(lab, "example.com", "DNSKEY") == 0
    # After bogus_ttl the chain is validated again: the DNSKEY set is asked for anew (the
    # zone is still broken, so the answer still fails).
    poll(
        lambda: (
            query(fresh, "mail.example.com", do=True).rcode() == SERVFAIL
            and count(lab, "example.com", "DNSKEY") > 0
        ),
        "the DNSKEY set asked again",
    )
    assert time.monotonic() - began >= BOGUS_TTL - 0.05
    r = query(fresh, "mail.example.com", do=True)
    assert r.rcode() == SERVFAIL and ede(r)[0][0] == 9, r


def test_bogus_result_is_cached_for_bogus_ttl_then_validated_again(lab: Lab, noagg: Where) -> None:
    name = "cached.wild.example.net"
    set_faults(lab, "example.net", Faults(sig_expired=True, only_for=(name, "A")))
    began = time.monotonic()
    r = query(noagg, name, do=True)
    assert r.rcode() == SERVFAIL and ede(r)[0][0] == 7, r
    lab.reset_counters()
    for _ in range(3):
        assert query(noagg, name, do=True).rcode() == SERVFAIL
        assert query(noagg, name).rcode() == SERVFAIL
    assert count(lab, "example.net") == 0, "the bogus answer was validated again at once"
    lab.clear_faults()  # the zone is repaired; the resolver sees it after bogus_ttl
    poll(lambda: has_ad(query(noagg, name, do=True)), "revalidation")
    assert time.monotonic() - began >= BOGUS_TTL - 0.05
    assert count(lab, "example.net", "A") >= 1


def test_cd_answers_kept_apart_on_the_fast_path(lab: Lab, noagg: Where) -> None:
    name = "cdfast.wild.example.com"
    set_faults(lab, "example.com", Faults(forge_answer=True, only_for=(name, "A")))
    for _round in range(4):  # later rounds come from the cache and the rendered-answer path
        for do in (True, False):
            r = query(noagg, name, do=do, cd=True)
            assert r.rcode() == NOERROR and addresses(r) == [BOGUS_ADDRESS], r
            assert not has_ad(r) and bool(r.flags & CD)
            r = query(noagg, name, do=do)
            assert r.rcode() == SERVFAIL and not r.answer and ede(r)[0][0] == 6, r
            r = query(noagg, name, do=do, ad=True)
            assert r.rcode() == SERVFAIL and not r.answer, r


# -- configuration: negative trust anchors, validation off -------------------------------------


def test_negative_trust_anchor_answers_bogus_zone_as_insecure(lab: Lab, tmp_path: Path) -> None:
    proc = serve(lab, tmp_path, 'negative_trust_anchors = ["example.com"]\n')
    try:
        where = proc.addresses[0]
        set_faults(lab, "example.com", Faults(forge_answer=True))
        r = query(where, "www.example.com", do=True, ad=True)
        assert r.rcode() == NOERROR and addresses(r) == [BOGUS_ADDRESS], r
        assert not has_ad(r) and not ede(r)
        r = query(where, "nope.example.com", do=True, ad=True)
        assert r.rcode() == NXDOMAIN and not has_ad(r), r
        # Only below the anchor: example.net still validates.
        assert has_ad(query(where, "www.example.net", do=True))
    finally:
        stop(proc)


def test_reload_applies_a_new_negative_trust_anchor(lab: Lab, tmp_path: Path) -> None:
    """SIGHUP with a negative trust anchor added: what was validated is forgotten and the
    broken zone answers insecure; removed again: it is validated (and bogus) again."""
    proc = serve(lab, tmp_path)
    try:
        where = proc.addresses[0]
        assert has_ad(query(where, "www.example.com", do=True))  # cached, secure
        set_faults(lab, "example.com", Faults(forge_answer=True))
        path = proc.config_path
        assert path is not None
        plain = path.read_text()
        path.write_text(
            plain.replace("[dnssec]\n", '[dnssec]\nnegative_trust_anchors = ["example.com"]\n')
        )
        proc.signal(signal.SIGHUP)
        proc.wait_for("configuration reloaded")
        r = query(where, "www.example.com", do=True, ad=True)
        assert r.rcode() == NOERROR and addresses(r) == [BOGUS_ADDRESS], r
        assert not has_ad(r)
        path.write_text(plain)
        proc.signal(signal.SIGHUP)
        proc.wait_for("configuration reloaded")
        r = query(where, "www.example.com", do=True)
        assert r.rcode() == SERVFAIL and ede(r), r
    finally:
        stop(proc)


def test_validation_disabled_answers_bogus_data_without_ad(
    lab: Lab, noagg: Where, tmp_path: Path
) -> None:
    name = "off.wild.example.com"
    set_faults(lab, "example.com", Faults(forge_answer=True, only_for=(name, "A")))
    proc = serve(lab, tmp_path, "enabled = false\n")
    try:
        where = proc.addresses[0]
        for flags in ({"do": True}, {"ad": True}, {}):
            r = query(where, name, **flags)  # type: ignore[arg-type]
            assert r.rcode() == NOERROR and addresses(r) == [BOGUS_ADDRESS], r
            assert not has_ad(r)
            r = query(where, "www.example.com", **flags)  # type: ignore[arg-type]
            assert addresses(r) == ["192.0.2.1"] and not has_ad(r), r
    finally:
        stop(proc)
    # The same data through a validating server fails.
    assert query(noagg, name, do=True).rcode() == SERVFAIL


# -- RFC 8198 ---------------------------------------------------------------------------------


def test_aggressive_nsec_answers_random_names_without_asking(
    lab: Lab, main: Where, noagg: Where
) -> None:
    # "zero" is the last name of example.com: its NSEC (zero -> example.com) covers every
    # name after it, all the "zz..." names below.
    for where in (main, noagg):
        r = query(where, f"zz{secrets.token_hex(4)}.example.com", do=True)
        assert r.rcode() == NXDOMAIN and has_ad(r), r
    lab.reset_counters()
    for _ in range(20):
        r = query(main, f"zz{secrets.token_hex(6)}.example.com", do=True)
        assert r.rcode() == NXDOMAIN and has_ad(r), r
        assert any(x.rdtype == T.NSEC for x in r.authority)  # the proof, with DO
        r = query(main, f"zz{secrets.token_hex(6)}.example.com")
        assert r.rcode() == NXDOMAIN and not dnssec_records(r)
    assert sum(s.count() for s in lab.servers.values()) == 0
    # With aggressive_nsec = false each new name is asked.
    for _ in range(5):
        assert query(noagg, f"zz{secrets.token_hex(6)}.example.com").rcode() == NXDOMAIN
    assert count(lab, "example.com") >= 5


# -- the DS at the parent side ------------------------------------------------------------------


def test_ds_is_answered_from_the_parent_side_of_the_cut(lab: Lab, main: Where) -> None:
    keys = Keys(lab, main)
    # Cache the delegations first: the DS questions must still go to the parents.
    assert has_ad(query(main, "www.example.com", do=True))
    assert addresses(query(main, "www.eng.example.com"))
    lab.reset_counters()
    r = query(main, "example.com", "DS", do=True)
    assert r.rcode() == NOERROR and has_ad(r), r
    ds = r.find_rrset(r.answer, dns.name.from_text("example.com."), IN, T.DS)
    sig = r.find_rrset(r.answer, ds.name, IN, T.RRSIG, T.DS)
    assert next(iter(sig)).signer == dns.name.from_text("com.")
    validate_signed(r, keys)
    # It is the DS of example.com's own key-signing key.
    ksk = [k for k in lab_keys(lab, "example.com") if k.flags & 1]
    assert {dns.dnssec.make_ds(ds.name, k, "SHA256") for k in ksk} == set(ds)
    # eng.example.com is unsigned: example.com's NSEC says so (NS, no DS).
    r = query(main, "eng.example.com", "DS", do=True)
    assert r.rcode() == NOERROR and not r.answer and has_ad(r), r
    nsec = r.find_rrset(r.authority, dns.name.from_text("eng.example.com."), IN, T.NSEC)
    bitmap = {t for window in next(iter(nsec)).windows for t in _types(window)}
    assert T.NS in bitmap and T.DS not in bitmap
    validate_signed(r, keys)
    # Neither child was asked for its own DS (it would answer NODATA from its apex).
    assert not any(q.qtype == T.DS for s in lab.servers_for("eng.example.com") for q in s.queries)
    assert not any(
        q.qtype == T.DS and q.qname.to_text().lower() == "example.com."
        for s in lab.servers_for("example.com")
        for q in s.queries
    )


def _types(window: tuple[int, bytes]) -> list[int]:
    number, bits = window
    return [
        number * 256 + i * 8 + b
        for i, byte in enumerate(bits)
        for b in range(8)
        if byte & (0x80 >> b)
    ]


# -- other clients ----------------------------------------------------------------------------

DIG = shutil.which("dig")


@pytest.mark.skipif(DIG is None, reason="dig is not installed (apt-get install bind9-dnsutils)")
def test_dig_dnssec(main: Where) -> None:
    assert DIG is not None
    out = subprocess.run(
        [DIG, f"@{main[0]}", "-p", str(main[1]), "+time=3", "+tries=1", "+dnssec",
         "www.example.net", "A"],
        capture_output=True, text=True, timeout=15, check=True,
    ).stdout  # fmt: skip
    assert "status: NOERROR" in out and " ad;" in out.split("flags:")[1].split("\n")[0], out
    assert "\tRRSIG\tA 15 3 " in out, out  # ED25519, three labels


async def test_aiodns_gets_servfail_for_bogus_and_data_for_secure(lab: Lab, noagg: Where) -> None:
    name = "stub.wild.example.com"
    set_faults(lab, "example.com", Faults(forge_answer=True, only_for=(name, "A")))
    r = aiodns.DNSResolver(nameservers=[f"{noagg[0]}:{noagg[1]}"], timeout=3, tries=1)
    try:
        with pytest.raises(aiodns.error.DNSError) as err:
            await r.query_dns(name, "A")
        assert err.value.args[0] == aiodns.error.ARES_ESERVFAIL
        result = await r.query_dns("www.example.com", "A")
        assert [_addr(rec) for rec in result.answer] == ["192.0.2.1"]
    finally:
        await r.close()
    await asyncio.sleep(0)


def _addr(record: Any) -> str:
    addr: str = record.data.addr
    return addr


# -- rootwalk query --trace, check-config -------------------------------------------------------


def test_trace_shows_the_chain_and_the_broken_link(lab: Lab) -> None:
    p = run_cli(["query", "www.example.net", "--trace", "--config", str(lab.config_path)])
    assert p.returncode == 0, p.stderr
    out = p.stdout
    dnssec = [line for line in out.splitlines() if line.lstrip().startswith("dnssec")]
    assert dnssec, out
    # DS -> DNSKEY -> RRSIG, by key tag: the DS of example.net in net names its KSK, and the
    # DNSKEY set is checked against it; then the answer's RRSIG by a key of that set.
    ksk, zsk = _tags(lab, "example.net")
    assert any("ds: example.net.: secure" in line for line in dnssec), out
    assert any(
        f"example.net. DNSKEY signed by key {ksk}" in line and "DS published in net." in line
        for line in dnssec
    ), out
    assert any(f"www.example.net. A signed by key {zsk}" in line for line in dnssec), out
    assert ";; DNSSEC: secure" in out
    # A bogus answer: the one link that broke, in words.
    set_faults(lab, "example.net", Faults(sig_expired=True, only_for=("www.example.net", "A")))
    p = run_cli(["query", "www.example.net", "--trace", "--config", str(lab.config_path)])
    assert p.returncode != 0
    assert "bogus: the RRSIG over www.example.net. A" in p.stdout, p.stdout
    assert "expired 10 days ago" in p.stdout
    assert "EXTENDED DNS ERROR 7" in p.stdout


def _tags(lab: Lab, zone: str) -> tuple[int, int]:
    keys = list(lab_keys(lab, zone))
    [ksk] = [dns.dnssec.key_id(k) for k in keys if k.flags & 1]
    [zsk] = [dns.dnssec.key_id(k) for k in keys if not k.flags & 1]
    return ksk, zsk


@pytest.mark.parametrize(
    "content", ["example.com. IN DS not a ds record\n", None], ids=["garbage", "missing"]
)
def test_check_config_refuses_a_bad_trust_anchor_file(
    lab: Lab, tmp_path: Path, content: str | None
) -> None:
    anchor = tmp_path / "anchor.ds"
    if content is not None:
        anchor.write_text(content)
    conf = tmp_path / "rootwalk.toml"
    conf.write_text(lab_config(lab).replace(str(lab.trust_anchor_path), str(anchor)))
    p = run_cli(["check-config", str(conf)])
    assert p.returncode == 2, p
    assert p.stderr.startswith(f"rootwalk: {conf}: 'dnssec.trust_anchor_file'"), p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
