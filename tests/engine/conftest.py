"""Engine scenarios: a Resolver in process, the lab's authoritative servers on real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rootwalk.clock import ShiftedClock
from rootwalk.config import Config, DnssecConfig, Limits, ResolverConfig
from rootwalk.lab import Lab
from rootwalk.resolver import Resolver


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


@pytest.fixture(autouse=True)
def _clean_lab(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with no faults and zeroed counters, whatever ran before."""
    if "lab" in request.fixturenames:
        lab: Lab = request.getfixturevalue("lab")
        lab.clear_faults()
        lab.reset_counters()
        yield
        lab.clear_faults()
    else:
        yield


def make_config(lab: Lab, **resolver: object) -> Config:
    return Config(
        resolver=ResolverConfig(
            root_hints=lab.root_hints_path,
            upstream_port=lab.port,
            upstream_allow=("127.0.0.0/8",),
            do_not_query_localhost=False,
            **resolver,  # type: ignore[arg-type]
        ),
        # Short per-try timeouts keep fault tests fast; the bounds still apply.
        limits=Limits(initial_timeout=0.3, max_timeout=0.5, total_timeout=4.0),
        dnssec=DnssecConfig(trust_anchor_file=str(lab.trust_anchor_path)),
    )


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def resolver(lab: Lab, clock: ShiftedClock) -> Resolver:
    """A fresh resolver (empty cache) for each test."""
    return Resolver(make_config(lab), clock=clock)
