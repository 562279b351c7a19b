"""``rootwalk query NAME [TYPE] [--trace]``: resolve once with the engine and print the answer."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdatatype

from rootwalk.config import Config, load_config
from rootwalk.errors import ConfigError
from rootwalk.present import format_event, format_result
from rootwalk.resolution import TraceEvent
from rootwalk.resolver import Resolver

__all__ = ["add_parsers", "run_query"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "query",
        help="resolve a name once, walking from the root, and print the answer",
        description="Resolve NAME with the iterative engine and print the answer like dig.",
    )
    p.add_argument("name", help="domain name to resolve")
    p.add_argument("type", nargs="?", default="A", help="record type (default A)")
    p.add_argument("--trace", action="store_true", help="print every step of the walk")
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument("--root-hints", type=Path, help="root hints file (default: bundled IANA)")
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
    return dataclasses.replace(config, resolver=r)


def run_query(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        name = dns.name.from_text(args.name)
        rdtype = dns.rdatatype.from_text(args.type)
        resolver = Resolver(config)
    except ConfigError as exc:
        print(f"rootwalk: {exc}", file=sys.stderr)
        return 2
    except dns.exception.DNSException as exc:
        print(f"rootwalk: bad question: {exc}", file=sys.stderr)
        return 2

    def show(ev: TraceEvent) -> None:
        line = format_event(ev)
        if line is not None:
            print(line, flush=True)

    async def go() -> str:
        start = time.monotonic()
        result = await resolver.resolve(name, rdtype, trace=show if args.trace else None)
        elapsed = time.monotonic() - start
        upstream = resolver.iterator.queries_sent
        return format_result(name, rdtype, result, elapsed=elapsed, upstream=upstream)

    text = asyncio.run(go())
    if args.trace:
        print()
    print(text)
    return 0
