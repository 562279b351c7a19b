"""``rootwalk serve`` and ``rootwalk check-config``.

Exit status: 0 after a clean stop (SIGTERM/SIGINT), 2 for a configuration or bind problem (one
line on stderr, nothing started), 1 for anything unexpected.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rootwalk.config import Config, load_config, parse_config, parse_listen
from rootwalk.errors import ConfigError

__all__ = ["add_parsers", "config_from_args", "run_check_config", "run_ctl", "run_serve"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve DNS to stub clients (set rootwalk as a machine's or a LAN's nameserver)",
        description=(
            "Answer DNS questions over UDP and TCP by resolving them from the root. "
            "Default: 127.0.0.1:53 and [::1]:53, answering loopback and private networks only."
        ),
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    p.add_argument(
        "--listen",
        action="append",
        metavar="ADDR:PORT",
        help="address to serve on, UDP and TCP (repeatable; IPv6 as [::1]:5300); "
        "replaces server.listen",
    )
    p.add_argument("--root-hints", type=Path, metavar="FILE", help="root hints file")
    p.add_argument(
        "--upstream-port", type=int, metavar="N", help="port of authoritative servers (testing)"
    )
    p.add_argument("--workers", type=int, metavar="N", help="processes sharing the sockets")
    p.add_argument("--no-qname-minimisation", action="store_true", help="send full names upstream")
    p.add_argument(
        "--query-log", action="store_true", help="log one line per question (server.query_log)"
    )
    p.set_defaults(func=run_serve)

    c = sub.add_parser(
        "check-config",
        help="validate a configuration file without starting",
        description="Validate FILE: prints 'ok' (exit 0) or the problem in one line (exit 2).",
    )
    c.add_argument("file", type=Path, metavar="FILE")
    c.set_defaults(func=run_check_config)

    t = sub.add_parser(
        "ctl",
        help="control a running server: stats, flush NAME, flush-all, dump-cache, reload",
        description="Send one command to a running `rootwalk serve` over its control socket.",
    )
    t.add_argument("--socket", metavar="PATH", help="control socket (server.control_socket)")
    t.add_argument("--config", type=Path, metavar="FILE", help="read the socket path from FILE")
    t.add_argument(
        "ctl_command",
        metavar="COMMAND",
        choices=["stats", "flush", "flush-all", "dump-cache", "reload"],
        help="stats | flush NAME | flush-all | dump-cache | reload",
    )
    t.add_argument("ctl_args", nargs="*", metavar="NAME")
    t.set_defaults(func=run_ctl)


def _overrides(args: argparse.Namespace) -> Callable[[Config], Config]:
    """The command-line flags as a function on a Config (re-applied on every reload)."""

    def apply(config: Config) -> Config:
        r, s = config.resolver, config.server
        if getattr(args, "root_hints", None) is not None:
            r = dataclasses.replace(r, root_hints=args.root_hints)
        if getattr(args, "upstream_port", None) is not None:
            r = dataclasses.replace(r, upstream_port=args.upstream_port)
        if getattr(args, "no_qname_minimisation", False):
            r = dataclasses.replace(r, qname_minimisation=False)
        if getattr(args, "listen", None):
            s = dataclasses.replace(s, listen=tuple(args.listen))
        if getattr(args, "workers", None) is not None:
            s = dataclasses.replace(s, workers=args.workers)
        if getattr(args, "query_log", False):
            s = dataclasses.replace(s, query_log=True)
        merged = dataclasses.replace(config, resolver=r, server=s)
        # Validate the result the same way as a file (a bad --listen is a config error too).
        return parse_config(_as_dict(merged), source="command line")

    return apply


def _as_dict(config: Config) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return {
        section.name: {
            f.name: plain(getattr(getattr(config, section.name), f.name))
            for f in dataclasses.fields(getattr(config, section.name))
        }
        for section in dataclasses.fields(config)
    }


def config_from_args(args: argparse.Namespace) -> Config:
    """The configuration file (if any) with the command-line flags applied."""
    config = load_config(args.config) if args.config else Config()
    return _overrides(args)(config)


def run_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"rootwalk: {exc}", file=sys.stderr)
        return 2
    from rootwalk.server.blocklist import Blocklist
    from rootwalk.server.local import LocalPolicy, check_blocklists

    try:
        # Blocklists are only opened: their lines are never an error (bad ones are skipped),
        # so parsing them here would only cost time.
        LocalPolicy(config.server, source=str(args.file), blocklist=Blocklist())
        check_blocklists(config.server, source=str(args.file))
    except ConfigError as exc:
        print(f"rootwalk: {exc}", file=sys.stderr)
        return 2
    hints = Path(config.resolver.root_hints)
    if not hints.is_file():
        print(
            f"rootwalk: {args.file}: 'resolver.root_hints' {str(hints)!r} is not a readable file",
            file=sys.stderr,
        )
        return 2
    print("ok")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    # Imported here so that `rootwalk check-config` and `--help` stay light.
    from rootwalk.resolver import Resolver
    from rootwalk.server.app import (
        BindError,
        Server,
        bind_all,
        bind_metrics,
        configure_logging,
        run,
    )
    from rootwalk.server.blocklist import Blocklist
    from rootwalk.server.control import ControlError, bind_control
    from rootwalk.server.local import LocalPolicy, check_blocklists
    from rootwalk.server.workers import run_workers

    try:
        config = config_from_args(args)
        for text in config.server.listen:
            parse_listen(text)
        resolver = Resolver(config)  # fails on a bad root hints file, before binding anything
        source = str(args.config or "command line")
        # The blocklists are only opened here; Server.start parses them in a child process.
        LocalPolicy(config.server, source=source, blocklist=Blocklist())
        check_blocklists(config.server, source=source)
    except ConfigError as exc:
        print(f"rootwalk: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"rootwalk: cannot start: {exc}", file=sys.stderr)
        return 2
    verbose = int(getattr(args, "verbose", 0) or 0)
    configure_logging(config, verbose)
    workers = config.server.workers
    # The control socket first: a second instance with the same path stops here, naming the
    # running one, before its DNS addresses are tried (and never takes the socket over).
    try:
        control_sock = (
            bind_control(config.server.control_socket) if config.server.control_socket else None
        )
    except ControlError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        listeners = bind_all(config, reuseport=workers > 1)
    except BindError as exc:
        if control_sock is not None:
            control_sock.close()
        print(str(exc), file=sys.stderr)
        return 2
    try:
        metrics_sock = bind_metrics(config)
    except BindError as exc:
        for listener in listeners:
            listener.close()
        if control_sock is not None:
            control_sock.close()
        print(str(exc), file=sys.stderr)
        return 2
    if workers > 1:
        return run_workers(
            config,
            listeners,
            resolver,
            config_path=args.config,
            overrides=_overrides(args),
            verbose=verbose,
        )
    server = Server(
        config,
        listeners,
        resolver=resolver,
        config_path=args.config,
        overrides=_overrides(args),
        verbose=verbose,
        metrics_sock=metrics_sock,
        control_sock=control_sock,
    )
    return run(server.run(), config.server.event_loop)


def run_ctl(args: argparse.Namespace) -> int:
    """Exit 0 when the server says ok, 1 when it reports an error, 2 when it cannot be reached."""
    import socket

    path = args.socket
    if path is None and args.config is not None:
        try:
            path = load_config(args.config).server.control_socket or None
        except ConfigError as exc:
            print(f"rootwalk: {exc}", file=sys.stderr)
            return 2
    if not path:
        print(
            "rootwalk: no control socket: give --socket PATH, or --config FILE with "
            "server.control_socket set",
            file=sys.stderr,
        )
        return 2
    command = " ".join([args.ctl_command, *args.ctl_args])
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        print(f"rootwalk: cannot reach {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    status, _, body = b"".join(chunks).decode(errors="replace").partition("\n")
    if status == "ok":
        sys.stdout.write(body)
        return 0
    print(f"rootwalk: {status.removeprefix('error: ')}", file=sys.stderr)
    return 1
