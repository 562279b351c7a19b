from __future__ import annotations

from collections.abc import Iterator

import pytest

from rootwalk.lab import Lab


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """One lab (random net and port) shared by the tests of this worker."""
    with Lab() as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_lab(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that use the shared lab start with no faults and zero counters, and leave so."""
    if "lab" not in request.fixturenames:
        yield
        return
    shared: Lab = request.getfixturevalue("lab")
    shared.clear_faults()
    shared.reset_counters()
    yield
    shared.clear_faults()
