"""``rootwalk query NAME [TYPE] [--trace]``: resolve once with the engine and print the answer.

The exit status tells scripts how the question ended, as ``host`` and ``kdig`` do
(``EXIT_STATUS``; documented in ``--help`` and docs/nameserver.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import enum
import sys
import time
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype

from rootwalk.config import Config, load_config
from rootwalk.errors import ConfigError
from rootwalk.present import format_event, format_result
from rootwalk.resolution import TraceEvent
from rootwalk.resolver import Resolver

__all__ = ["ExitStatus", "add_parsers", "exit_status", "run_query"]


class ExitStatus(enum.IntEnum):
    """``rootwalk query``'s exit status. 1 stays Python's (an unexpected error, or stdout
    closed early) and 2 argparse's (bad usage), so the DNS outcomes start at 3."""

    ANSWER = 0  # NOERROR, with records or without (NODATA)
    USAGE = 2  # bad arguments, configuration or root hints: nothing was asked
    NXDOMAIN = 3  # the name does not exist
    SERVFAIL = 4  # the resolution failed (servers unreachable, lame, limits hit)
    OTHER = 5  # any other rcode (REFUSED from a forwarder, NOTIMP, ...)


EXIT_HELP = """exit status:
  0  an answer (NOERROR, with or without records)
  1  an unexpected error, or stdout closed early (e.g. | head)
  2  bad usage, configuration or root hints; nothing was asked
  3  NXDOMAIN: the name does not exist
  4  SERVFAIL: the resolution failed
  5  another rcode (REFUSED, NOTIMP, ...)
"""


def exit_status(rcode: int) -> ExitStatus:
    if rcode == dns.rcode.NOERROR:
        return ExitStatus.ANSWER
    if rcode == dns.rcode.NXDOMAIN:
        return ExitStatus.NXDOMAIN
    if rcode == dns.rcode.SERVFAIL:
        return ExitStatus.SERVFAIL
    return ExitStatus.OTHER


def add_parsers(sub: Any) -> None:
    from rootwalk.cli import add_verbose

    p = sub.add_parser(
        "query",
        help="resolve a name once, walking from the root, and print the answer",
        description="Resolve NAME with the iterative engine and print the answer like dig.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_verbose(p)
    p.add_argument("name", help="domain name to resolve")
    p.add_argument("type", nargs="?", default="A", help="record type (default A)")
    p.add_argument("--trace", action="store_true", help="print every step of the walk")
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument("--root-hints", type=Path, help="root hints file (default: bundled IANA)")
    p.add_argument(
        "--trust-anchor",
        type=Path,
        metavar="FILE",
        help="DNSSEC trust anchor file, DS/DNSKEY lines (default: the bundled root anchor)",
    )
    p.add_argument("--upstream-port", type=int, help="port of authoritative servers (testing)")
    p.add_argument("--no-qname-minimisation", action="store_true", help="send full names upstream")
    p.set_defaults(func=run_query)


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file (if any) with command-line overrides applied."""
    config = load_config(args.config) if args.config else Config()
    r = config.resolver
    if args.root_hints is not None:
        r = dataclasses.replace(r, root_hints=args.root_hints)
    if args.upstream_port is not None:
        r = dataclasses.replace(r, upstream_port=args.upstream_port)
    if args.no_qname_minimisation:
        r = dataclasses.replace(r, qname_minimisation=False)
    if args.trust_anchor is not None:
        d = dataclasses.replace(config.dnssec, trust_anchor_file=str(args.trust_anchor))
        config = dataclasses.replace(config, dnssec=d)
    return dataclasses.replace(config, resolver=r)


def run_query(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        name = dns.name.from_text(args.name)
        rdtype = dns.rdatatype.from_text(args.type)
        resolver = Resolver(config)
    except ConfigError as exc:
        print(f"rootwalk: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    except dns.exception.DNSException as exc:
        print(f"rootwalk: bad question: {exc}", file=sys.stderr)
        return ExitStatus.USAGE

    def show(ev: TraceEvent) -> None:
        line = format_event(ev)
        if line is not None:
            print(line, flush=True)

    async def go() -> tuple[str, int]:
        start = time.monotonic()
        result = await resolver.resolve(name, rdtype, trace=show if args.trace else None)
        elapsed = time.monotonic() - start
        upstream = resolver.iterator.queries_sent
        text = format_result(name, rdtype, result, elapsed=elapsed, upstream=upstream)
        return text, result.rcode

    text, rcode = asyncio.run(go())
    if args.trace:
        print()
    print(text)
    return int(exit_status(rcode))
