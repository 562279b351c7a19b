"""Faults an authoritative lab server can be told to show (all off by default).

A test switches a fault on by giving a server a new ``Faults``::

    srv.faults = Faults(drop=0.5, seed=7)   # takes effect on the next query
    srv.faults = Faults()                   # back to normal

Every server reads its faults once per query, so replacing them from any thread is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BOGUS_ADDRESS", "BOGUS_ADDRESS6", "Faults"]

#: The address every forged record points to: on loopback, where nothing listens, so a resolver
#: that wrongly believes forged data still sends nothing off the machine.
BOGUS_ADDRESS = "127.66.66.66"
#: What ``forge_answer`` puts in AAAA records (IPv4-mapped BOGUS_ADDRESS: loopback as well).
BOGUS_ADDRESS6 = "::ffff:127.66.66.66"


@dataclass
class Faults:
    """What a lab server does wrong. Counters count every query received, faults or not."""

    drop: float = 0.0
    """Fraction of queries silently dropped (decided by a ``random.Random(seed)``)."""
    drop_first: int = 0
    """Silently drop the first N queries received once these faults are set, then answer
    (a lost packet or a busy moment: what a resolver's retry must get over)."""
    delay: float = 0.0
    """Seconds added before answering (never blocks the server's event loop)."""
    truncate: bool = False
    """Over UDP always answer TC=1 with empty sections; TCP answers normally."""
    rcode: int | None = None
    """Answer every query with this rcode (e.g. ``dns.rcode.SERVFAIL``) and no records."""
    formerr_on_edns: bool = False
    """Queries carrying OPT get FORMERR without OPT (an old server); others answered normally."""
    silent: bool = False
    """Answer nothing at all (TCP connections are accepted but never answered)."""
    lame: bool = False
    """Answer NOERROR, AA=0 and no records at all (neither answer nor referral)."""
    spoof_id: bool = False
    """Over UDP, first send a forged copy with a wrong ID, then the real answer."""
    spoof_question: bool = False
    """Over UDP, first send a forged answer to a different question, then the real answer."""
    poison_additional: bool = False
    """Add out-of-bailiwick records (pointing at BOGUS_ADDRESS) to the additional section."""
    spoof_only: bool = False
    """With spoof_id/spoof_question: do not send the real answer after the forged one."""
    no_aa: bool = False
    """Clear the AA bit of every answer (positive, NODATA, NXDOMAIN, priming): a sloppy
    authority, or a secondary that serves the zone from a non-authoritative copy."""
    empty_question: bool = False
    """Reply with the right ID from the right address, but with an empty question section
    (and no records): a broken middlebox or server. Sent instead of the real answer."""
    wrong_question: bool = False
    """Reply with the right ID from the right address, but echoing another question (and no
    records). Sent instead of the real answer; unlike ``spoof_question`` no genuine answer
    follows."""
    # -- DNSSEC: bogus answers from a signed zone (issue #12); each alone makes them bogus --
    sig_expired: bool = False
    """Every RRSIG re-made (with the zone's key) to have expired 10 days ago."""
    sig_not_yet_valid: bool = False
    """Every RRSIG re-made with inception 200 days and expiration 400 days ahead (not yet
    valid under rootwalk.clock.FakeClock either)."""
    ds_mismatch: bool = False
    """A parent's DS for its child (in referrals and DS answers) has a digest that matches no
    key of the child; validly signed by the parent."""
    strip_rrsigs: bool = False
    """No RRSIG in any answer."""
    strip_dnskey: bool = False
    """DNSKEY questions get an empty NOERROR (NODATA) with the SOA."""
    forge_answer: bool = False
    """A/AAAA data in the answer altered (A to BOGUS_ADDRESS), the RRSIG kept: a signature
    that does not verify."""
    nsec_not_covering: bool = False
    """Negative answers carry validly signed NSEC/NSEC3 records of the zone's chain other than
    the ones that prove the answer (they neither cover nor match the name)."""
    wildcard_no_proof: bool = False
    """Wildcard answers come without the NSEC/NSEC3 that proves no closer name exists."""
    only_for: tuple[str, str] | None = None
    """Show these faults only for queries of this (name, type), e.g. ``(".", "NS")`` for the
    priming query; every other query is answered normally."""
    seed: int = 0
    """Seed of the random generator that decides ``drop``."""

    def alters_response(self) -> bool:
        """True if the bytes of an answer differ from the fault-free ones (no response cache)."""
        return (
            self.truncate
            or self.rcode is not None
            or self.formerr_on_edns
            or self.lame
            or self.spoof_id
            or self.spoof_question
            or self.poison_additional
            or self.no_aa
            or self.empty_question
            or self.wrong_question
            or self.dnssec()
        )

    def dnssec(self) -> bool:
        """True if a DNSSEC fault is on (the signed records of answers are altered)."""
        return (
            self.sig_expired
            or self.sig_not_yet_valid
            or self.ds_mismatch
            or self.strip_rrsigs
            or self.strip_dnskey
            or self.forge_answer
            or self.nsec_not_covering
            or self.wildcard_no_proof
        )
