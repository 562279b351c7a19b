"""Engine scenarios in process: the lab's servers answer through ``LabTransport``, no sockets.

Each test gets a ``FakeClock`` that only the transport moves (by the servers' delays, a 1 ms
simulated round trip, and whole timeouts when no answer comes), so scenarios are deterministic
and time bounds are asserted exactly on ``clock`` rather than on the wall clock. The resolver's
random generator is seeded too: the same servers are chosen in every run.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from rootwalk.clock import FakeClock
from rootwalk.config import Config, DnssecConfig, Limits, ResolverConfig
from rootwalk.lab.inprocess import InLab, LabTransport
from rootwalk.resolver import Resolver

SEED = 11


@pytest.fixture(scope="session")
def _inlab_session(tmp_path_factory: pytest.TempPathFactory) -> InLab:
    # Built once per worker: the servers' answer caches are kept, faults and counters are not.
    inlab = InLab()
    tmp = Path(tmp_path_factory.mktemp("inlab"))
    inlab.write_root_hints(tmp / "root.hints")
    inlab.write_trust_anchor(tmp / "trust-anchor.ds")
    return inlab


@pytest.fixture
def inlab(_inlab_session: InLab) -> Iterator[InLab]:
    """The lab's servers without sockets; no faults and zeroed counters at the start."""
    _inlab_session.clear_faults()
    _inlab_session.reset_counters()
    yield _inlab_session
    _inlab_session.clear_faults()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_config(
    inlab: InLab,
    *,
    limits: Limits | None = None,
    aggressive_nsec: bool = True,
    **resolver: object,
) -> Config:
    """``aggressive_nsec=False`` for scenarios that probe servers with new NXDOMAIN names,
    which RFC 8198 would otherwise answer from cached NSEC records without asking."""
    assert inlab.root_hints_path is not None
    assert inlab.trust_anchor_path is not None
    return Config(
        resolver=ResolverConfig(
            root_hints=inlab.root_hints_path,
            upstream_port=inlab.port,
            upstream_allow=("127.0.0.0/8",),
            do_not_query_localhost=False,
            **resolver,  # type: ignore[arg-type]
        ),
        # The socket scenarios' short per-try timeouts, kept so both read alike; in process
        # they cost no wall time.
        limits=limits or Limits(initial_timeout=0.3, max_timeout=0.5, total_timeout=4.0),
        dnssec=DnssecConfig(
            trust_anchor_file=str(inlab.trust_anchor_path), aggressive_nsec=aggressive_nsec
        ),
    )


def make_resolver(
    inlab: InLab, clock: FakeClock, config: Config | None = None, **resolver: object
) -> Resolver:
    """A fresh resolver (empty cache) answered by ``inlab`` through a new LabTransport."""
    config = config or make_config(inlab, **resolver)
    transport = inlab.transport(clock, case_sensitive=config.resolver.use_0x20)
    return Resolver(config, clock=clock, transport=transport, rng=random.Random(SEED))


def with_limits(config: Config, **limits: object) -> Config:
    return dataclasses.replace(config, limits=dataclasses.replace(config.limits, **limits))  # type: ignore[arg-type]


@pytest.fixture
def resolver(inlab: InLab, clock: FakeClock) -> Resolver:
    return make_resolver(inlab, clock)


@pytest.fixture
def transport(resolver: Resolver) -> LabTransport:
    assert isinstance(resolver.transport, LabTransport)
    return resolver.transport
