from rootwalk.names import in_bailiwick, minimise, strictly_below

from .helpers import n


def test_bailiwick() -> None:
    assert in_bailiwick(n("a.example.com."), n("example.com."))
    assert in_bailiwick(n("example.com."), n("example.com."))
    assert not in_bailiwick(n("badexample.com."), n("example.com."))
    assert strictly_below(n("example.com."), n("com."))
    assert not strictly_below(n("com."), n("com."))


def test_minimise_adds_one_label_at_a_time() -> None:
    q = n("www.lab.eng.example.com.")
    assert minimise(q, n("."), n(".")) == n("com.")
    assert minimise(q, n("com."), n("com.")) == n("example.com.")
    assert minimise(q, n("example.com."), n("eng.example.com.")) == n("lab.eng.example.com.")
    assert minimise(q, n("example.com."), q) == q


def test_minimise_bounds_the_number_of_steps_for_long_names() -> None:
    q = n(".".join(f"l{i}" for i in range(30)) + ".")
    known, steps = n("."), 0
    while known != q:
        known = minimise(q, n("."), known)
        steps += 1
    assert steps <= 12  # RFC 9156 §2.3 MAX_MINIMISE_COUNT plus the final full name
