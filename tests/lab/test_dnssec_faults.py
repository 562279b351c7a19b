"""The lab's DNSSEC faults (issue #12): each makes a signed answer bogus in its own way, and
dnspython's validator (or the proof reading of tests/lab/dnssecutil.py) sees exactly that."""

from __future__ import annotations

import time

import dns.dnssec
import dns.name
import pytest

from rootwalk.clock import FakeClock
from rootwalk.lab import BOGUS_ADDRESS, Faults
from rootwalk.lab.inprocess import InLab
from tests.lab.dnssecutil import (
    T,
    ask,
    nsec3_covering,
    nsec3_matching,
    nsec3s,
    nsec_covering,
    nsec_matching,
    nsecs,
    rrsets,
    validate_all,
)

DAY = 86400


@pytest.fixture
def inlab() -> InLab:
    return InLab()


def test_no_dnssec_fault_is_on_by_default() -> None:
    assert not Faults().dnssec() and not Faults().alters_response()
    fields = ["sig_expired", "sig_not_yet_valid", "ds_mismatch", "strip_rrsigs"]
    fields += ["strip_dnskey", "forge_answer", "nsec_not_covering", "wildcard_no_proof"]
    for field in fields:
        f = Faults(**{field: True})  # type: ignore[arg-type]
        assert f.dnssec() and f.alters_response(), field


@pytest.mark.parametrize(
    ("server", "qname"),
    [
        ("ns1.example.com", "www.example.com"),
        ("ns1.example.com", "nope.example.com"),
        ("ns.example.net", "x.wild.example.net"),
        ("a.root-servers.net", "www.example.com"),
    ],
)
def test_sig_expired(inlab: InLab, server: str, qname: str) -> None:
    srv = inlab.server(server)
    srv.faults = Faults(sig_expired=True)
    r = ask(srv, qname, "A")
    sigs = [x for x in rrsets(r) if x.rdtype == T.RRSIG]
    assert sigs and all(s[0].expiration < time.time() - 9 * DAY for s in sigs)
    with pytest.raises(dns.dnssec.ValidationFailure):
        validate_all(inlab.world, r)
    validate_all(inlab.world, r, now=time.time() - 20 * DAY)  # only the window is wrong


def test_sig_not_yet_valid(inlab: InLab) -> None:
    srv = inlab.server("ns1.example.com")
    srv.faults = Faults(sig_not_yet_valid=True)
    r = ask(srv, "www.example.com", "A")
    for now in (time.time(), FakeClock().now()):
        with pytest.raises(dns.dnssec.ValidationFailure):
            validate_all(inlab.world, r, now=now)
    validate_all(inlab.world, r, now=time.time() + 300 * DAY)


def test_sig_expired_keeps_the_wildcard_labels(inlab: InLab) -> None:
    srv = inlab.server("ns1.example.com")
    srv.faults = Faults(sig_expired=True)
    r = ask(srv, "x.wild.example.com", "A")
    (sig,) = [x for x in r.answer if x.rdtype == T.RRSIG]
    assert sig[0].labels == 3
    validate_all(inlab.world, r, now=time.time() - 20 * DAY)


def test_ds_mismatch_in_referrals_and_ds_answers(inlab: InLab) -> None:
    com = inlab.world.signed_zones[dns.name.from_text("com.")]
    real = dns.dnssec.make_ds("com.", com.keys.ksk_dnskey, "SHA256")
    root = inlab.server("a.root-servers.net")
    root.faults = Faults(ds_mismatch=True)
    r = ask(root, "www.example.com", "A")
    (ds,) = [x for x in r.authority if x.rdtype == T.DS]
    assert ds[0].key_tag == real.key_tag and ds[0].digest != real.digest
    validate_all(inlab.world, r)  # validly signed by the root: only the digest is wrong
    gtld = inlab.server("a.gtld-servers.net")
    gtld.faults = Faults(ds_mismatch=True)
    r = ask(gtld, "example.com", "DS")
    ex = inlab.world.signed_zones[dns.name.from_text("example.com.")]
    assert r.answer[0][0].digest != dns.dnssec.make_ds("example.com.", ex.keys.ksk_dnskey, 2).digest
    validate_all(inlab.world, r)


def test_strip_rrsigs(inlab: InLab) -> None:
    srv = inlab.server("ns1.example.com")
    srv.faults = Faults(strip_rrsigs=True)
    for qname, qtype in [("www.example.com", "A"), ("nope.example.com", "A"),
                         ("example.com", "DNSKEY")]:  # fmt: skip
        r = ask(srv, qname, qtype)
        assert r.answer or r.authority
        assert not any(x.rdtype == T.RRSIG for x in rrsets(r)), qname


def test_strip_dnskey(inlab: InLab) -> None:
    srv = inlab.server("ns.example.net")
    srv.faults = Faults(strip_dnskey=True)
    r = ask(srv, "example.net", "DNSKEY")
    assert r.rcode() == 0 and r.answer == []
    assert [x.rdtype for x in r.authority] == [T.SOA, T.RRSIG]
    r = ask(srv, "www.example.net", "A")  # other questions as usual
    validate_all(inlab.world, r)


def test_forge_answer(inlab: InLab) -> None:
    srv = inlab.server("ns1.example.com")
    srv.faults = Faults(forge_answer=True)
    r = ask(srv, "www.example.com", "A")
    (a,) = [x for x in r.answer if x.rdtype == T.A]
    assert [rd.to_text() for rd in a] == [BOGUS_ADDRESS]
    with pytest.raises(dns.dnssec.ValidationFailure):
        validate_all(inlab.world, r)
    r = ask(srv, "www.example.com", "AAAA")
    with pytest.raises(dns.dnssec.ValidationFailure):
        validate_all(inlab.world, r)


@pytest.mark.parametrize(
    ("server", "qname", "nsec3"),
    [("ns1.example.com", "nope.example.com", False), ("ns.example.net", "nope.example.net", True)],
)
def test_nsec_not_covering(inlab: InLab, server: str, qname: str, nsec3: bool) -> None:
    srv = inlab.server(server)
    good = ask(srv, qname, "A")
    srv.faults = Faults(nsec_not_covering=True)
    r = ask(srv, qname, "A")
    assert r.rcode() == 3
    if nsec3:
        assert len(nsec3s(r)) == len(nsec3s(good))
        assert nsec3_covering(r, qname) is None and nsec3_matching(r, qname) is None
    else:
        assert len(nsecs(r)) == len(nsecs(good))
        assert nsec_covering(r, qname) is None and nsec_matching(r, qname) is None
    validate_all(inlab.world, r)  # every record is genuine and validly signed


def test_nsec_not_covering_a_nodata(inlab: InLab) -> None:
    srv = inlab.server("ns1.example.com")
    srv.faults = Faults(nsec_not_covering=True)
    r = ask(srv, "www.example.com", "TXT")
    assert nsecs(r) and nsec_matching(r, "www.example.com") is None


@pytest.mark.parametrize(
    ("server", "qname"),
    [("ns1.example.com", "x.wild.example.com"), ("ns.example.net", "x.wild.example.net")],
)
def test_wildcard_no_proof(inlab: InLab, server: str, qname: str) -> None:
    srv = inlab.server(server)
    srv.faults = Faults(wildcard_no_proof=True)
    r = ask(srv, qname, "A")
    (sig,) = [x for x in r.answer if x.rdtype == T.RRSIG]
    assert sig[0].labels == 3  # still a wildcard answer
    assert nsecs(r) == [] and nsec3s(r) == []
    validate_all(inlab.world, r)
    r = ask(srv, qname.replace("x.wild", "nope"), "A")  # other negative answers keep proofs
    assert nsecs(r) or nsec3s(r)


def test_only_for_limits_a_dnssec_fault(inlab: InLab) -> None:
    srv = inlab.server("ns1.example.com")
    srv.faults = Faults(forge_answer=True, only_for=("www.example.com.", "A"))
    r = ask(srv, "mail.example.com", "A")
    validate_all(inlab.world, r)
    r = ask(srv, "www.example.com", "A")
    with pytest.raises(dns.dnssec.ValidationFailure):
        validate_all(inlab.world, r)


def test_faults_switch_off_at_run_time(inlab: InLab) -> None:
    srv = inlab.server("ns1.example.com")
    srv.faults = Faults(strip_rrsigs=True)
    assert not any(x.rdtype == T.RRSIG for x in rrsets(ask(srv, "www.example.com", "A")))
    srv.faults = Faults()
    assert any(x.rdtype == T.RRSIG for x in rrsets(ask(srv, "www.example.com", "A")))
