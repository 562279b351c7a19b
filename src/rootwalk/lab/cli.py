"""``rootwalk lab ...``: run the simulated internet from the command line."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from types import FrameType

from rootwalk.lab.world import DEFAULT_NET, DEFAULT_PORT, Lab

__all__ = ["add_parsers", "run_up"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``lab`` command and its sub-commands to the ``rootwalk`` parser."""
    lab = sub.add_parser(
        "lab",
        help="the simulated internet on loopback (learn, test and debug offline)",
        description="A simulated internet on loopback: authoritative servers for a small world.",
    )
    labsub = lab.add_subparsers(dest="lab_command", required=True, metavar="SUBCOMMAND")

    up = labsub.add_parser(
        "up",
        help="run the lab's servers in the foreground until Ctrl-C",
        description="Run every lab server (UDP and TCP) until SIGINT or SIGTERM.",
    )
    up.add_argument(
        "--domains", type=int, default=0, metavar="N", help="add N synthetic domains (default 0)"
    )
    up.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="P",
        help=f"port of every server (default {DEFAULT_PORT}; 0: a random free high port)",
    )
    up.add_argument(
        "--net",
        default=DEFAULT_NET,
        metavar="127.A",
        help=f"servers live at 127.A.0.N and 127.A.1.N (default {DEFAULT_NET})",
    )
    up.set_defaults(func=run_up)

    demo = labsub.add_parser("demo", help="a guided tour: resolve names in the lab, step by step")
    demo.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    mod = importlib.import_module("rootwalk.lab.demo")
    rc: int = getattr(mod, "run_demo")(args)  # noqa: B009 (demo.py may not exist yet for mypy)
    return rc


def describe(lab: Lab) -> str:
    """The lab's servers, port and root hints, as ``lab up`` prints them."""
    lines = [f"rootwalk lab: {len(lab.servers)} servers on port {lab.port} (net {lab.net})"]
    width = max(len(a) for a in lab.servers)
    for address, srv in lab.servers.items():
        zones = srv.zones
        if srv.name.startswith("synthetic-"):
            what = f"{len(zones)} synthetic domains"
        elif zones:
            what = " ".join(zones)
        else:
            what = "(nothing: lame)"
        lines.append(f"  {address:<{width}}  {srv.name:<26} {what}")
    lines.append(f"root hints: {lab.root_hints_path}")
    lines.append(f"trust anchor: {lab.trust_anchor_path}")
    lines.append(f"resolver config: {lab.config_path}")
    lines.append(f"try: rootwalk query www.example.com --trace --config {lab.config_path}")
    return "\n".join(lines)


def run_up(args: argparse.Namespace) -> int:
    """Run the lab in the foreground; 0 on SIGINT/SIGTERM, 2 if it cannot bind."""
    try:
        lab = Lab(net=args.net, port=args.port or None, domains=args.domains)
    except ValueError as e:
        print(f"rootwalk lab up: {e}", file=sys.stderr)
        return 2
    try:
        lab.start()
    except OSError as e:
        if args.port and args.port < 1024:
            hint = "ports below 1024 need root: try --port 5300"
        else:
            hint = "try another --port or --net"
        # strerror, not str(e): "[Errno 98] ..." means nothing to most readers.
        print(f"rootwalk lab up: {e.strerror or e} ({hint})", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(describe(lab))
        print("Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        lab.stop()
    print("rootwalk lab: stopped.", flush=True)
    return 0
