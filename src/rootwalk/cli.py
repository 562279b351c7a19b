"""The ``rootwalk`` command line: one sub-command per job, each defined next to what it runs.

This module only assembles the parsers; the sub-commands live with their subsystems
(``rootwalk.server.cli`` for ``serve``/``check-config``/``ctl``, ``rootwalk.query_cli`` for
``query``, ``rootwalk.lab.cli`` for ``lab``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from rootwalk import __version__, query_cli
from rootwalk.lab import cli as lab_cli
from rootwalk.server import cli as server_cli

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rootwalk", description="A caching recursive DNS resolver and its simulated internet."
    )
    parser.add_argument("--version", action="version", version=f"rootwalk {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server_cli.add_parsers(sub)
    query_cli.add_parsers(sub)
    lab_cli.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    sys.stdout.flush()
    return rc
