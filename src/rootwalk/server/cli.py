"""``rootwalk serve`` and ``rootwalk check-config``.

Exit status: 0 after a clean stop (SIGTERM/SIGINT), 2 for a configuration or bind problem (one
line on stderr, nothing started), 1 for anything unexpected.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rootwalk import paths
from rootwalk.config import Config, load_config, parse_config, parse_listen
from rootwalk.errors import ConfigError

__all__ = ["add_parsers", "config_from_args", "run_check_config", "run_ctl", "run_serve"]

log = logging.getLogger("rootwalk.server")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve DNS to stub clients (set rootwalk as a machine's or a LAN's nameserver)",
        description=(
            "Answer DNS questions over UDP and TCP by resolving them from the root. "
            "Default: 127.0.0.1:53 and [::1]:53, answering loopback and private networks only."
        ),
    )
    from rootwalk.cli import add_verbose

    add_verbose(p)
    p.add_argument("--config", type=Path, metavar="FILE", help=_CONFIG_HELP)
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
    p.add_argument(
        "--control-socket",
        metavar="PATH",
        help=f"control socket for `rootwalk ctl`, or '{paths.CONTROL_OFF}' "
        "(server.control_socket; default: control.sock in the run directory)",
    )
    p.set_defaults(func=run_serve)

    c = sub.add_parser(
        "check-config",
        help="validate a configuration file without starting",
        description="Validate FILE: prints 'ok' (exit 0) or the problem in one line (exit 2).",
    )
    c.add_argument(
        "file",
        type=Path,
        nargs="?",
        metavar="FILE",
        help=f"default: ${paths.ENV_CONFIG} or {paths.DEFAULT_CONFIG}",
    )
    c.set_defaults(func=run_check_config)

    t = sub.add_parser(
        "ctl",
        help="control a running server: stats, flush NAME, flush-zone NAME, flush-all, "
        "dump-cache [FILE], load-cache FILE, reload, explain NAME [TYPE]",
        description="Send one command to a running `rootwalk serve` over its control socket.",
    )
    t.add_argument(
        "--socket",
        metavar="PATH",
        help="control socket (default: server.control_socket of the configuration, else "
        "control.sock in the run directory)",
    )
    t.add_argument("--config", type=Path, metavar="FILE", help=_CONFIG_HELP)
    t.add_argument(
        "ctl_command",
        metavar="COMMAND",
        choices=[
            "stats",
            "flush",
            "flush-zone",
            "flush-all",
            "dump-cache",
            "load-cache",
            "reload",
            "explain",
        ],
        help="stats | flush NAME | flush-zone NAME | flush-all | dump-cache [FILE] | "
        "load-cache FILE | reload | explain NAME [TYPE] (docs/explain.md)",
    )
    t.add_argument("ctl_args", nargs="*", metavar="ARG")
    t.add_argument("--json", action="store_true", help="explain: print the JSON form")
    t.set_defaults(func=run_ctl)


_CONFIG_HELP = (
    f"TOML configuration file (default: ${paths.ENV_CONFIG}, else {paths.DEFAULT_CONFIG} "
    "if it exists, else the built-in defaults)"
)


def config_path(args: argparse.Namespace) -> Path | None:
    """``--config``, else the default file when it exists (None: the built-in defaults).

    An explicit ``--config`` that is missing is an error later (load_config says so); a
    missing default file is the ordinary first run, not a problem.
    """
    explicit: Path | None = getattr(args, "config", None)
    if explicit is not None:
        return explicit
    default = paths.default_config_path()
    return default if default.exists() else None


def default_control_socket() -> tuple[str, str]:
    """The default control socket to open, or ("", why not).

    The default is only a convenience: it is skipped when this user has no run directory or
    cannot create it, and when another server already answers there, so that it never stops
    a server from starting. With workers > 1 the supervisor serves it for all of them.
    """
    path = paths.default_control_socket()
    if path is None:
        return "", f"no run directory (set ${paths.ENV_RUNTIME_DIR} or XDG_RUNTIME_DIR)"
    if paths.socket_in_use(path):
        return "", f"{path} is in use by another server"
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        return "", f"cannot create {path.parent}: {exc.strerror or exc}"
    return str(path), ""


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
        if getattr(args, "control_socket", None) is not None:
            s = dataclasses.replace(s, control_socket=args.control_socket)
        merged = dataclasses.replace(config, resolver=r, server=s)
        # Validate the result the same way as a file (a bad --listen is a config error too).
        return parse_config(_as_dict(merged), source="command line")

    return apply


def _as_dict(config: Config) -> dict[str, Any]:
    """``config`` as the mapping TOML would give, so ``parse_config`` accepts it again.

    Nested dataclasses (``ForwardZone`` in ``resolver.forward_zones``) become tables too:
    whatever ``check-config`` accepts from a file must survive this round trip.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return value

    return {
        section.name: plain(getattr(config, section.name)) for section in dataclasses.fields(config)
    }


def config_from_args(args: argparse.Namespace) -> Config:
    """The configuration file (if any) with the command-line flags applied."""
    path = config_path(args)
    config = load_config(path) if path is not None else Config()
    return _overrides(args)(config)


def run_check_config(args: argparse.Namespace) -> int:
    if args.file is None:
        args.file = paths.default_config_path()  # asked to check it: missing is an error
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"rootwalk: {exc}", file=sys.stderr)
        return 2
    from rootwalk.server.blocklist import Blocklist
    from rootwalk.server.local import LocalPolicy, check_blocklists
    from rootwalk.server.logs import check_query_log_file

    try:
        # Blocklists are only opened: their lines are never an error (bad ones are skipped),
        # so parsing them here would only cost time.
        LocalPolicy(config.server, source=str(args.file), blocklist=Blocklist())
        check_blocklists(config.server, source=str(args.file))
        check_query_log_file(config.server, source=str(args.file))
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
        bind_dashboard,
        bind_metrics,
        configure_logging,
        run,
    )
    from rootwalk.server.blocklist import Blocklist
    from rootwalk.server.control import ControlError, bind_control
    from rootwalk.server.local import LocalPolicy, check_blocklists
    from rootwalk.server.logs import check_query_log_file
    from rootwalk.server.workers import run_workers

    args.config = config_path(args)  # the same file again on every reload
    try:
        config = config_from_args(args)
        for text in config.server.listen:
            parse_listen(text)
        resolver = Resolver(config)  # fails on a bad root hints file, before binding anything
        source = str(args.config or "command line")
        # The blocklists are only opened here; Server.start parses them in a child process.
        LocalPolicy(config.server, source=source, blocklist=Blocklist())
        check_blocklists(config.server, source=source)
        check_query_log_file(config.server, source=source)
        verbose = int(getattr(args, "verbose", 0) or 0)
        configure_logging(config, verbose)  # opens server.query_log_file
    except ConfigError as exc:
        print(f"rootwalk: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"rootwalk: cannot start: {exc}", file=sys.stderr)
        return 2
    # The default socket is chosen once: on reload the running server answers there itself,
    # and the same choice keeps a reload from warning that the socket "changed".
    default_socket = ""
    if not config.server.control_socket:
        default_socket, why = default_control_socket()
        if why:
            log.info("no control socket: %s; set server.control_socket to have one", why)

    def resolve_socket(c: Config) -> Config:
        cs = c.server.control_socket
        path = "" if cs == paths.CONTROL_OFF else cs or default_socket
        return dataclasses.replace(c, server=dataclasses.replace(c.server, control_socket=path))

    config = resolve_socket(config)
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
    metrics_sock = None
    try:
        metrics_sock = bind_metrics(config)
        dashboard_sock = bind_dashboard(config)
    except BindError as exc:
        for listener in listeners:
            listener.close()
        if control_sock is not None:
            control_sock.close()
        if metrics_sock is not None:
            metrics_sock.close()
        print(str(exc), file=sys.stderr)
        return 2
    if workers > 1:
        return run_workers(
            config,
            listeners,
            resolver,
            config_path=args.config,
            overrides=lambda c: resolve_socket(_overrides(args)(c)),
            verbose=verbose,
            metrics_sock=metrics_sock,
            control_sock=control_sock,
            dashboard_sock=dashboard_sock,
        )
    server = Server(
        config,
        listeners,
        resolver=resolver,
        config_path=args.config,
        overrides=lambda c: resolve_socket(_overrides(args)(c)),
        verbose=verbose,
        metrics_sock=metrics_sock,
        control_sock=control_sock,
        dashboard_sock=dashboard_sock,
    )
    return run(server.run(), config.server.event_loop)


def run_ctl(args: argparse.Namespace) -> int:
    """Exit 0 when the server says ok, 1 when it reports an error, 2 when it cannot be reached."""
    import socket

    path = args.socket
    file = config_path(args)
    if path is None and file is not None:
        try:
            path = load_config(file).server.control_socket
        except ConfigError as exc:
            print(f"rootwalk: {exc}", file=sys.stderr)
            return 2
        if path == paths.CONTROL_OFF:
            print(f"rootwalk: the control socket is off in {file}", file=sys.stderr)
            return 2
    if not path:
        default = paths.default_control_socket()
        path = None if default is None else str(default)
    if not path:
        print(
            "rootwalk: no control socket: give --socket PATH (no run directory for a default: "
            f"set ${paths.ENV_RUNTIME_DIR} or XDG_RUNTIME_DIR)",
            file=sys.stderr,
        )
        return 2
    ctl_args = list(args.ctl_args)
    if args.ctl_command in ("dump-cache", "load-cache"):
        # The server's working directory is not ours: send the file as an absolute path.
        ctl_args = [os.path.abspath(a) for a in ctl_args]
    if args.ctl_command == "explain" and args.json:
        ctl_args.append("json")
    command = " ".join([args.ctl_command, *ctl_args])
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        print(
            f"rootwalk: cannot reach {path}: {exc.strerror or exc} "
            "(is `rootwalk serve` running with this control socket?)",
            file=sys.stderr,
        )
        return 2
    status, _, body = b"".join(chunks).decode(errors="replace").partition("\n")
    if status == "ok":
        sys.stdout.write(body)
        return 0
    print(f"rootwalk: {status.removeprefix('error: ')}", file=sys.stderr)
    return 1
