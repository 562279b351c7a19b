import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.classify import ResponseKind

from .helpers import cl, n, response

A, TXT = dns.rdatatype.A, dns.rdatatype.TXT


def test_referral_keeps_in_bailiwick_glue_and_drops_the_rest() -> None:
    r = response(
        "www.example.com.", "A",
        authority=["example.com. 172800 IN NS ns1.example.com.",
                   "example.com. 172800 IN NS ns.other.net."],
        additional=["ns1.example.com. 172800 IN A 127.0.0.20",
                    "ns.other.net. 172800 IN A 127.66.66.66",
                    "www.example.com. 172800 IN A 127.66.66.66"],
    )  # fmt: skip
    c = cl(r, n("www.example.com."), A, n("com."))
    assert c.kind is ResponseKind.REFERRAL
    assert c.ns is not None and c.ns.owner == n("example.com.")
    # ns.other.net is outside com's bailiwick; www is not an NS name: neither is glue.
    assert [g.owner for g in c.glue] == [n("ns1.example.com.")]


def test_referral_that_does_not_get_closer_is_lame() -> None:
    up = response("www.example.com.", "A", authority=["com. 172800 IN NS a.gtld-servers.net."])
    assert cl(up, n("www.example.com."), A, n("example.com.")).kind is ResponseKind.LAME
    sideways = response("www.example.com.", "A", authority=["example.org. 60 IN NS ns.x.org."])
    assert cl(sideways, n("www.example.com."), A, n("com.")).kind is ResponseKind.LAME


def test_answer_without_aa_is_believed_at_a_lower_trust_and_out_of_bailiwick_dropped() -> None:
    r = response(
        "www.example.com.", "A", aa=True,
        answer=["www.example.com. 300 IN A 192.0.2.1", "www.example.org. 300 IN A 127.66.66.66"],
    )  # fmt: skip
    c = cl(r, n("www.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.ANSWER and c.aa
    assert [a.owner for a in c.answer] == [n("www.example.com.")]
    # Unbound and Knot take an answer from the server they were referred to without AA; the
    # AA bit only sets the trust rank (RFC 2181 §5.4.1).
    r.flags &= ~dns.flags.AA
    c = cl(r, n("www.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.ANSWER and not c.aa
    assert [a.owner for a in c.answer] == [n("www.example.com.")]


def test_a_recursive_server_answering_without_aa_is_lame() -> None:
    # RA=1, AA=0: a recursive server answers from its cache (Unbound RESPONSE_TYPE_REC_LAME).
    positive = response("www.example.com.", "A", answer=["www.example.com. 300 IN A 192.0.2.1"])
    negative = response("nope.example.com.", "A", rcode=dns.rcode.NXDOMAIN, authority=[SOA])
    for r, name in ((positive, "www.example.com."), (negative, "nope.example.com.")):
        r.flags |= dns.flags.RA
        assert cl(r, n(name), A, n("example.com.")).kind is ResponseKind.LAME
        # ... but a forwarder is asked to recurse: its answers are final.
        assert cl(r, n(name), A, n("example.com."), recursive=True).kind in (
            ResponseKind.ANSWER,
            ResponseKind.NXDOMAIN,
        )


SOA = "example.com. 3600 IN SOA ns1.example.com. h.example.com. 1 2 3 4 300"


@pytest.mark.parametrize("with_soa", [True, False])
def test_nxdomain_without_aa_is_believed(with_soa: bool) -> None:
    r = response(
        "nope.example.com.", "A", rcode=dns.rcode.NXDOMAIN, authority=[SOA] if with_soa else []
    )
    c = cl(r, n("nope.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.NXDOMAIN and not c.aa
    assert (c.soa is not None) is with_soa  # no SOA: no negative TTL, not cached (RFC 2308 §5)


def test_nodata_without_aa_needs_an_soa() -> None:
    with_soa = response("www.example.com.", "TXT", authority=[SOA])
    c = cl(with_soa, n("www.example.com."), TXT, n("example.com."))
    assert c.kind is ResponseKind.NODATA and c.soa is not None
    empty = response("www.example.com.", "TXT")
    assert cl(empty, n("www.example.com."), TXT, n("example.com.")).kind is (ResponseKind.LAME)
    empty.flags |= dns.flags.AA
    c = cl(empty, n("www.example.com."), TXT, n("example.com."))
    assert c.kind is ResponseKind.NODATA and c.soa is None


def test_referral_to_the_same_zone_is_lame_unless_authoritative() -> None:
    same = response("www.example.com.", "A", authority=["example.com. 60 IN NS ns1.example.com."])
    c = cl(same, n("www.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.LAME and "same zone" in c.reason
    same.flags |= dns.flags.AA  # an authoritative NODATA that lists the zone's NS set
    assert cl(same, n("www.example.com."), A, n("example.com.")).kind is (ResponseKind.NODATA)


def test_referral_with_aa_set_is_still_a_referral() -> None:
    # Unbound iter_resptype.c: an NS set below the zone is a referral whatever AA says.
    r = response("www.sub.example.com.", "A", aa=True,
                 authority=["sub.example.com. 60 IN NS ns.sub.example.com."],
                 additional=["ns.sub.example.com. 60 IN A 192.0.2.9"])  # fmt: skip
    c = cl(r, n("www.sub.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.REFERRAL and c.ns is not None
    assert [g.owner for g in c.glue] == [n("ns.sub.example.com.")]


def test_ns_answer_below_the_zone_without_aa_is_a_referral() -> None:
    r = response("example.com.", "NS", answer=["example.com. 60 IN NS ns1.example.com."],
                 additional=["ns1.example.com. 60 IN A 192.0.2.20"])  # fmt: skip
    c = cl(r, n("example.com."), dns.rdatatype.NS, n("com."))
    assert c.kind is ResponseKind.REFERRAL and c.ns is not None
    assert c.ns.owner == n("example.com.") and [g.owner for g in c.glue] == [n("ns1.example.com.")]
    r.flags |= dns.flags.AA  # the zone's own servers answering for its apex
    assert cl(r, n("example.com."), dns.rdatatype.NS, n("com.")).kind is (ResponseKind.ANSWER)


def test_priming_answer_without_aa_is_an_answer() -> None:
    r = response(".", "NS", answer=[". 518400 IN NS a.root-servers.net."],
                 additional=["a.root-servers.net. 518400 IN A 192.0.2.2"])  # fmt: skip
    c = cl(r, n("."), dns.rdatatype.NS, n("."))
    assert c.kind is ResponseKind.ANSWER and not c.aa
    assert [g.owner for g in c.glue] == [n("a.root-servers.net.")]


def test_dname_onto_itself_ends_the_chain_as_an_answer() -> None:
    r = response("www.example.com.", "A", aa=True,
                 answer=["example.com. 300 IN DNAME example.com.",
                         "www.example.com. 300 IN CNAME www.example.com."])  # fmt: skip
    c = cl(r, n("www.example.com."), A, n("example.com."))
    # Unbound iterator.c: "DNAME to a subdomain loop; do not recurse": the DNAME and its
    # synthesised CNAME are the answer.
    assert c.kind is ResponseKind.ANSWER and not c.answer
    assert [(x.owner, x.rtype) for x in c.chain] == [
        (n("example.com."), int(dns.rdatatype.DNAME)),
        (n("www.example.com."), int(dns.rdatatype.CNAME)),
    ]
    assert c.chain[1].rdatas[0] == n("www.example.com.")


def test_cname_chain_inside_zone_then_leaving_it() -> None:
    r = response(
        "c1.example.com.", "A", aa=True,
        answer=["c1.example.com. 300 IN CNAME c2.example.com.",
                "c2.example.com. 300 IN CNAME www.example.org.",
                "www.example.org. 300 IN A 127.66.66.66"],
    )  # fmt: skip
    c = cl(r, n("c1.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.CNAME
    assert c.target == n("www.example.org.")
    assert len(c.chain) == 2 and not c.answer


def test_dname_is_synthesised_locally() -> None:
    r = response(
        "www.legacy.example.com.", "A", aa=True,
        answer=["legacy.example.com. 300 IN DNAME example.org.",
                "www.legacy.example.com. 300 IN CNAME evil.example.net."],
    )  # fmt: skip
    c = cl(r, n("www.legacy.example.com."), A, n("example.com."))
    assert c.kind is ResponseKind.CNAME
    # The server's CNAME is ignored: ours follows from the DNAME (RFC 6672).
    assert c.target == n("www.example.org.")
    assert c.chain[-1].rdatas[0] == n("www.example.org.")


@pytest.mark.parametrize(
    ("rcode", "kind"), [(dns.rcode.NXDOMAIN, ResponseKind.NXDOMAIN), (0, ResponseKind.NODATA)]
)
def test_negative_answers_keep_soa(rcode: int, kind: ResponseKind) -> None:
    r = response(
        "nope.example.com.", "A", aa=True, rcode=rcode,
        authority=["example.com. 3600 IN SOA ns1.example.com. h.example.com. 1 2 3 4 300"],
    )  # fmt: skip
    c = cl(r, n("nope.example.com."), A, n("example.com."))
    assert c.kind is kind
    assert c.soa is not None and c.soa.owner == n("example.com.")


def test_errors_and_non_authoritative_silence() -> None:
    r = response("www.example.com.", "A", rcode=dns.rcode.SERVFAIL)
    assert cl(r, n("www.example.com."), A, n("example.com.")).kind is ResponseKind.BROKEN
    empty = response("www.example.com.", "A")
    assert cl(empty, n("www.example.com."), A, n("example.com.")).kind is ResponseKind.LAME
