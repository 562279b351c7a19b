"""``rootwalk serve``, ``rootwalk check-config`` and ``rootwalk ctl`` (placeholder)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any) -> None:
    _ = (sub, argparse)
