"""``rootwalk serve``'s own command line: ``-v`` after the sub-command, default paths."""

from __future__ import annotations

from pathlib import Path

from rootwalk.lab import Lab

from .conftest import ask, start_server


def test_serve_accepts_verbose_after_the_subcommand(lab: Lab, tmp_path: Path) -> None:
    # log_level "warning" would hide the engine's debug lines; -vv after `serve` shows them.
    proc = start_server(
        lab, tmp_path, 'log_level = "warning"\n', args=["-vv"], listen=["127.0.0.1:0"]
    )
    try:
        assert ask(proc.addresses[0], "www.example.com").answer
        proc.wait_for(r" DEBUG rootwalk\.")
    finally:
        assert proc.stop() == 0
