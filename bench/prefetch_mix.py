"""How many upstream queries prefetch adds in a realistic mix: ``python -m bench.prefetch_mix``.

A Zipf-distributed stream of questions (``www.dNNNNNN.{com,net,org}`` A, TTL 300, over the
lab's synthetic domains) is replayed through a Resolver on a movable TTL clock, once with
``cache.prefetch`` on and once off; the lab counts what reaches the authorities. Everything
stays on loopback; the number of questions is bounded by the arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import time

from rootwalk.clock import ShiftedClock
from rootwalk.config import CacheConfig, Config, DnssecConfig, Limits, ResolverConfig
from rootwalk.lab import Lab
from rootwalk.resolver import Resolver
from rootwalk.wire.names import from_text

MAX_QUESTIONS = 1_000_000


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


async def replay(
    lab: Lab, names: list[str], args: argparse.Namespace, prefetch: bool
) -> dict[str, int]:
    config = Config(
        resolver=ResolverConfig(
            root_hints=lab.root_hints_path,
            upstream_port=lab.port,
            upstream_allow=("127.0.0.0/8",),
            do_not_query_localhost=False,
        ),
        dnssec=DnssecConfig(trust_anchor_file=str(lab.trust_anchor_path)),
        limits=Limits(),
        cache=dataclasses.replace(CacheConfig(), prefetch=prefetch),
    )
    clock = ShiftedClock()
    resolver = Resolver(config, clock=clock)
    rng = random.Random(args.seed)
    weights = zipf_weights(len(names), args.zipf)
    wire = [from_text(n) for n in names]
    step = 1.0 / args.qps  # simulated seconds between questions
    total = min(MAX_QUESTIONS, int(args.seconds * args.qps))
    lab.reset_counters()
    misses = 0
    for chosen in rng.choices(range(len(names)), weights, k=total):
        result = await resolver.resolve(wire[chosen], 1)
        if not result.from_cache:
            misses += 1
        clock.advance(step)
        if resolver.prefetching():  # let refreshes land as they would in real time
            await asyncio.gather(*resolver.prefetching(), return_exceptions=True)
    upstream = sum(s.count() for s in lab.servers.values())
    return {
        "questions": total,
        "client_misses": misses,
        "prefetches": resolver.prefetches,
        "upstream_queries": upstream,
    }


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domains", type=int, default=2000)
    p.add_argument("--qps", type=float, default=20.0, help="simulated questions per second")
    p.add_argument("--seconds", type=float, default=3600.0, help="simulated duration")
    p.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent s")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    with Lab(domains=args.domains) as lab:
        names = [f"www.{d}" for d in lab.synthetic_domains]
        for prefetch in (False, True):
            began = time.monotonic()
            out = await replay(lab, names, args, prefetch)
            took = time.monotonic() - began
            print(f"prefetch={'on ' if prefetch else 'off'} {out} ({took:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
