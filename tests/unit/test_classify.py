import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.classify import ResponseKind, classify

from .helpers import n, response

A = dns.rdatatype.A


def test_referral_keeps_in_bailiwick_glue_and_drops_the_rest() -> None:
    r = response(
        "www.example.com.", "A",
        authority=["example.com. 172800 IN NS ns1.example.com.",
                   "example.com. 172800 IN NS ns.other.net."],
        additional=["ns1.example.com. 172800 IN A 127.0.0.20",
                    "ns.other.net. 172800 IN A 127.66.66.66",
                    "www.example.com. 172800 IN A 127.66.66.66"],
    )  # fmt: skip
    c = classify(r, n("www.example.com."), A, n("com."))
    assert c.kind is ResponseKind.REFERRAL
    assert c.ns is not None and c.ns.name == n("example.com.")
    # ns.other.net is outside com's bailiwick; www is not an NS name: neither is glue.
    assert [g.name for g in c.glue] == [n("ns1.example.com.")]


def test_referral_that_does_not_get_closer_is_lame() -> None:
    up = response("www.example.com.", "A", authority=["com. 172800 IN NS a.gtld-servers.net."])
    assert classify(up, n("www.example.com."), A, n("example.com.")).kind is ResponseKind.LAME
    sideways = response("www.example.com.", "A", authority=["example.org. 60 IN NS ns.x.org."])
    assert classify(sideways, n("www.example.com."), A, n("com.")).kind is ResponseKind.LAME


def test_answer_needs_aa_and_drops_out_of_bailiwick_records() -> None:
    r = response(
        "www.example.com.", "A", aa=True,
        answer=["www.example.com. 300 IN A 192.0.2.1", "www.example.org. 300 IN A 127.66.66.66"],
    )  # fmt: skip
    c = classify(r, n("www.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.ANSWER
    assert [a.name for a in c.answer] == [n("www.example.com.")]
    r.flags &= ~0x0400
    assert classify(r, n("www.example.com."), A, n("example.com.")).kind is ResponseKind.LAME


def test_cname_chain_inside_zone_then_leaving_it() -> None:
    r = response(
        "c1.example.com.", "A", aa=True,
        answer=["c1.example.com. 300 IN CNAME c2.example.com.",
                "c2.example.com. 300 IN CNAME www.example.org.",
                "www.example.org. 300 IN A 127.66.66.66"],
    )  # fmt: skip
    c = classify(r, n("c1.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.CNAME
    assert c.target == n("www.example.org.")
    assert len(c.chain) == 2 and not c.answer


def test_dname_is_synthesised_locally() -> None:
    r = response(
        "www.legacy.example.com.", "A", aa=True,
        answer=["legacy.example.com. 300 IN DNAME example.org.",
                "www.legacy.example.com. 300 IN CNAME evil.example.net."],
    )  # fmt: skip
    c = classify(r, n("www.legacy.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.CNAME
    # The server's CNAME is ignored: ours follows from the DNAME (RFC 6672).
    assert c.target == n("www.example.org.")
    assert c.chain[-1][0].target == n("www.example.org.")


@pytest.mark.parametrize(
    ("rcode", "kind"), [(dns.rcode.NXDOMAIN, ResponseKind.NXDOMAIN), (0, ResponseKind.NODATA)]
)
def test_negative_answers_keep_soa(rcode: int, kind: ResponseKind) -> None:
    r = response(
        "nope.example.com.", "A", aa=True, rcode=rcode,
        authority=["example.com. 3600 IN SOA ns1.example.com. h.example.com. 1 2 3 4 300"],
    )  # fmt: skip
    c = classify(r, n("nope.example.com."), A, n("example.com."))
    assert c.kind is kind
    assert c.soa is not None and c.soa.name == n("example.com.")


def test_errors_and_non_authoritative_silence() -> None:
    r = response("www.example.com.", "A", rcode=dns.rcode.SERVFAIL)
    assert classify(r, n("www.example.com."), A, n("example.com.")).kind is ResponseKind.THROWAWAY
    empty = response("www.example.com.", "A")
    assert classify(empty, n("www.example.com."), A, n("example.com.")).kind is ResponseKind.LAME
