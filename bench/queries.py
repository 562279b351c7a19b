"""Query files for dnsperf, over the lab's synthetic domains.

The lab names its synthetic domains ``d000000.com.``, ``d000001.net.``, ``d000002.org.``, ...
(the TLD rotates com/net/org with the index). Each zone has ``@ A``, ``@ MX``, ``@ TXT``,
``www A``, ``www AAAA``, ``mail A``, ``alias CNAME www`` and ``*.wild A``; any other name is
NXDOMAIN. Every file is built from a fixed seed, so the two servers get the very same files.
"""

from __future__ import annotations

import random
from pathlib import Path

TLDS = ("com", "net", "org")

# One question per kind; {d} is the domain, {r} a random label (new name every time).
MIX = (
    ("{d}", "A"),
    ("www.{d}", "AAAA"),
    ("{d}", "MX"),
    ("{d}", "TXT"),
    ("alias.{d}", "A"),  # CNAME to www, then www A
    ("{r}.wild.{d}", "A"),  # wildcard
    ("nx{r}.{d}", "A"),  # NXDOMAIN
)

# The ten questions asked of every domain in the memory scenario (about 10 cached RRsets
# or negative answers per domain, on top of the delegation itself).
PER_DOMAIN = (
    ("{d}", "A"),
    ("{d}", "MX"),
    ("{d}", "TXT"),
    ("www.{d}", "A"),
    ("www.{d}", "AAAA"),
    ("mail.{d}", "A"),
    ("alias.{d}", "A"),
    ("{r}.wild.{d}", "A"),
    ("{r}.wild.{d}", "A"),
    ("nx{r}.{d}", "A"),
)


def domain(i: int) -> str:
    return f"d{i:06d}.{TLDS[i % 3]}"


def _label(rng: random.Random) -> str:
    return "q" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))


def hot_names(count: int, first_domain: int, seed: int = 1) -> list[str]:
    """``count`` questions of the mix, seven per domain from ``first_domain`` on."""
    rng = random.Random(seed)
    out: list[str] = []
    i = 0
    while len(out) < count:
        name, qtype = MIX[i % len(MIX)]
        d = domain(first_domain + i // len(MIX))
        out.append(f"{name.format(d=d, r=_label(rng))} {qtype}")
        i += 1
    return out


def per_domain_names(first_domain: int, domains: int, seed: int = 2) -> list[str]:
    """Ten never-seen questions for each of ``domains`` domains, shuffled."""
    rng = random.Random(seed)
    out: list[str] = []
    for k in range(first_domain, first_domain + domains):
        d = domain(k)
        for name, qtype in PER_DOMAIN:
            out.append(f"{name.format(d=d, r=_label(rng))} {qtype}")
    rng.shuffle(out)
    return out


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


# Never-seen questions for the overload run: a new name every time under a lab domain, each
# needing at least one question to the domain's server (and its delegation if not cached).
FRESH = (
    ("{r}.wild.{d}", "A"),  # wildcard answer
    ("nx{r}.{d}", "A"),  # NXDOMAIN
    ("{r}.wild.{d}", "AAAA"),  # wildcard name, no AAAA: NOERROR without data
)


def fresh_names(count: int, domains: int, tag: str) -> list[str]:
    """``count`` distinct questions spread over ``domains`` domains; ``tag`` keeps sets apart.

    The labels are a counter, not random: millions of lines are built in a few seconds.
    """
    out: list[str] = []
    for i in range(count):
        name, qtype = FRESH[i % len(FRESH)]
        # 7919 is prime and larger than the set of kinds: consecutive questions go to
        # different domains, hence to different servers of the lab.
        d = domain(i * 7919 % domains)
        out.append(f"{name.format(d=d, r=f'{tag}{i:x}')} {qtype}")
    return out


# Questions whose answers are secure in the signed lab (docs/lab.md "The signed lab"): the
# DO cache-hit rows mix them with the unsigned synthetic domains, so that answers with AD and
# RRSIGs (and NSEC/NSEC3 proofs for NXDOMAIN and wildcards) are measured on the fast path too.
SIGNED = (
    ("www.example.com", "A"),  # alg 13, NSEC
    ("example.com", "MX"),
    ("{r}.wild.example.com", "A"),  # wildcard: RRSIG labels + the NSEC proof
    ("nx{r}.example.com", "A"),  # NXDOMAIN: two NSEC
    ("www.example.net", "A"),  # alg 15, NSEC3
    ("{r}.wild.example.net", "A"),
    ("nx{r}.example.net", "A"),  # NXDOMAIN: three NSEC3
    ("www.island.test", "A"),  # an island below the unsigned test., through the anchor
)


def signed_hot_names(count: int, seed: int = 3) -> list[str]:
    """``count`` questions of ``SIGNED`` in turn (random labels where the mix has ``{r}``)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        name, qtype = SIGNED[i % len(SIGNED)]
        out.append(f"{name.format(r=_label(rng))} {qtype}")
    return out


def interleave(a: list[str], b: list[str]) -> list[str]:
    """``a`` with ``b``'s lines spread evenly through it (both whole, in their order)."""
    if not b:
        return list(a)
    out: list[str] = []
    step = (len(a) + len(b)) / len(b)
    j = 0
    for i in range(len(a) + len(b)):
        if j < len(b) and i >= round(j * step):
            out.append(b[j])
            j += 1
        else:
            out.append(a[i - j])
    return out


# Never-seen questions with secure answers: wildcard expansions in the two signed zones of
# the lab that have wildcards. Each needs one upstream question and two signatures checked
# (the answer's RRSIG, and the NSEC or NSEC3 proving no closer name, RFC 4035 §5.3.4, RFC
# 5155 §8.8). NXDOMAIN names are left out: aggressive NSEC (RFC 8198) answers all but the
# first few from the cache, in both resolvers.
SIGNED_COLD = (
    ("{r}.wild.example.com", "A"),  # ECDSAP256SHA256, NSEC
    ("{r}.wild.example.net", "A"),  # ED25519, NSEC3
)


def signed_cold_names(count: int, seed: int = 4) -> list[str]:
    """``count`` never-seen questions of ``SIGNED_COLD`` in turn."""
    rng = random.Random(seed)
    return [
        f"{name.format(r=_label(rng))} {qtype}"
        for i in range(count)
        for name, qtype in (SIGNED_COLD[i % len(SIGNED_COLD)],)
    ]
