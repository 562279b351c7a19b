"""Trust anchor files: the shipped root anchor, and DS/DNSKEY lines for any zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from rootwalk.dnssec.anchors import default_anchor_file, load_anchors, parse_anchors
from rootwalk.dnssec.crypto import key_tag
from rootwalk.errors import ConfigError
from rootwalk.wire.names import ROOT, from_text


def test_the_shipped_root_anchor_holds_ksk_2017_and_ksk_2024() -> None:
    anchors = load_anchors(default_anchor_file())
    assert set(anchors) == {ROOT}
    ds = anchors[ROOT].ds
    assert ds is not None and anchors[ROOT].dnskey is None
    assert sorted(int.from_bytes(rd[:2], "big") for rd in ds.rdatas) == [20326, 38696]
    assert all(rd[2] == 8 and rd[3] == 2 for rd in ds.rdatas)  # RSASHA256, SHA-256


def test_any_zone_with_optional_ttl_and_class() -> None:
    text = """
; an island of trust below an unsigned parent
island.test. 3600 IN DS 12345 13 2 3AB2A1F0D3C4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E
island.test. DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=
other.test. IN DS 1 13 2 00AA00AA00AA00AA00AA00AA00AA00AA00AA00AA00AA00AA00AA00AA00AA00AA
"""
    anchors = parse_anchors(text)
    island = anchors[from_text("island.test")]
    assert island.ds is not None and island.dnskey is not None and island.ds.ttl == 3600
    assert island.dnskey.ttl == 86400  # the default when no TTL is written
    assert key_tag(island.dnskey.rdatas[0]) > 0
    assert anchors[from_text("other.test")].dnskey is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example. A 192.0.2.1", "only DS and DNSKEY"),
        ("example. CH TXT hello", "class"),
        ("example. DS not a ds", "not a valid trust anchor file"),
        ("; nothing here\n", "no DS or DNSKEY"),
    ],
)
def test_a_bad_anchor_file_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_anchors(text, "anchors.txt")


def test_an_unreadable_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_anchors(tmp_path / "missing.ds")
