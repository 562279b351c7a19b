"""The ``rootwalk`` command line: one sub-command per job, each defined next to what it runs.

This module only assembles the parsers; the sub-commands live with their subsystems
(``rootwalk.server.cli`` for ``serve``/``check-config``/``ctl``, ``rootwalk.query_cli`` for
``query``, ``rootwalk.lab.cli`` for ``lab``).
"""

from __future__ import annotations

import argparse
import logging
import os
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


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """``-v``/``-vv`` after a sub-command too (``rootwalk serve -v``), adding to the global one.

    A separate ``dest``: a sub-parser's default would otherwise overwrite ``rootwalk -v serve``.
    """
    parser.add_argument(
        "-v",
        "--verbose",
        dest="sub_verbose",
        action="count",
        default=0,
        help="more logging (-vv for debug)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose += getattr(args, "sub_verbose", 0)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        rc: int = args.func(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`rootwalk query ... | head`): not an error worth a traceback.
        # As the Python docs' note on SIGPIPE advises, point stdout at /dev/null so that the
        # interpreter's final flush cannot fail again, and exit 1 as Python does on EPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return rc
