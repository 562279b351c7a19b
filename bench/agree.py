"""Do two resolvers give the same answers? A quick diff of rootwalk against Unbound.

Each question of a dnsperf query file is asked of both servers with DO=1 (as a validating
stub would), over UDP with a TCP retry on TC=1, a few in parallel; the two answers are
compared on what a client acts on: the rcode, the AD bit, the answer section's RRsets other
than RRSIGs (owner, type, rdata; TTLs and signatures differ by design), and whether the
authority section has NSEC/NSEC3 records (the proof a validating stub needs for a negative
or wildcard answer, RFC 4035 §3.1.3; which records make it may differ, e.g. an NSEC3 that
serves two roles of an NXDOMAIN proof sent once or twice). Bounded: one timeout per question and a
cap on the questions asked.

``python -m bench.agree ADDRESS PORT_A PORT_B FILE`` prints the differences.
"""

from __future__ import annotations

import argparse
import concurrent.futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

TIMEOUT = 5.0  # per question and server: the slowest cold resolution of the lab is ~0.1 s


@dataclass(frozen=True)
class Summary:
    """What a client acts on in one answer."""

    rcode: str
    ad: bool
    answer: frozenset[str]
    has_proof: bool = False
    proof: frozenset[str] = field(default=frozenset(), compare=False)

    def text(self) -> str:
        ad = " AD" if self.ad else ""
        proof = f" proof [{'; '.join(sorted(self.proof))}]" if self.proof else ""
        return f"{self.rcode}{ad} [{'; '.join(sorted(self.answer))}]{proof}"


def ask(address: str, port: int, name: str, qtype: str) -> Summary:
    q = dns.message.make_query(name, qtype, want_dnssec=True, payload=1232)
    try:
        r = dns.query.udp(q, address, port=port, timeout=TIMEOUT)
        if r.flags & dns.flags.TC:
            r = dns.query.tcp(q, address, port=port, timeout=TIMEOUT)
    except (dns.exception.DNSException, OSError) as e:
        return Summary(f"no answer ({type(e).__name__})", False, frozenset())
    rrs = frozenset(
        f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}".lower()
        for rrset in r.answer
        if rrset.rdtype != dns.rdatatype.RRSIG
        for rd in rrset
    )
    proof = frozenset(
        f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}".lower()
        for rrset in r.authority
        if rrset.rdtype in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
    )
    ad = bool(r.flags & dns.flags.AD)
    return Summary(dns.rcode.to_text(r.rcode()), ad, rrs, bool(proof), proof)


def compare(
    a: tuple[str, int], b: tuple[str, int], questions: list[str], workers: int = 8
) -> dict[str, Any]:
    """Ask every ``"NAME TYPE"`` of ``questions`` of both servers (address, port); the counts
    and the differences."""

    def one(line: str) -> tuple[str, Summary, Summary]:
        name, qtype = line.split()
        return line, ask(*a, name, qtype), ask(*b, name, qtype)

    diffs: list[dict[str, str]] = []
    ad = [0, 0]
    rcodes: dict[str, int] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for line, x, y in pool.map(one, questions):
            ad[0] += x.ad
            ad[1] += y.ad
            rcodes[x.rcode] = rcodes.get(x.rcode, 0) + 1
            if x != y:
                diffs.append({"question": line, "a": x.text(), "b": y.text()})
    return {
        "questions": len(questions),
        "same": len(questions) - len(diffs),
        "ad_a": ad[0],
        "ad_b": ad[1],
        "rcodes_a": rcodes,
        "differences": diffs,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.agree", description=__doc__)
    p.add_argument("address")
    p.add_argument("port_a", type=int)
    p.add_argument("port_b", type=int)
    p.add_argument("file", type=Path, help="dnsperf query file: NAME TYPE per line")
    p.add_argument("--max", type=int, default=5000, help="questions asked at most (5000)")
    a = p.parse_args(argv)
    lines = [x for x in a.file.read_text().splitlines() if x.strip()][: a.max]
    out = compare((a.address, a.port_a), (a.address, a.port_b), lines)
    for d in out["differences"]:
        print(f"{d['question']}\n  {a.port_a}: {d['a']}\n  {a.port_b}: {d['b']}")
    print(
        f"{out['same']}/{out['questions']} the same; AD set {out['ad_a']} / {out['ad_b']}; "
        f"rcodes of {a.port_a}: {out['rcodes_a']}"
    )
    return 0 if not out["differences"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
