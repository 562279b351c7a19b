"""Start, watch and stop the processes of a bench run (lab, rootwalk, Unbound, dnsperf).

Every process runs in its own session (process group) and is stopped with SIGTERM, then
SIGKILL, on its whole group. Readiness is a log line read from a pipe with a deadline, never
a sleep. After readiness a daemon thread keeps draining the pipe into a log file, so a chatty
server cannot block on a full pipe.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


class ProcError(RuntimeError):
    pass


class Proc:
    """A child process in its own process group, with its output logged to a file."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = log_path.open("w", encoding="utf-8")
        self.log.write("$ " + " ".join(argv) + "\n")
        self.log.flush()
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._drain: threading.Thread | None = None
        self.seen: list[str] = []  # the lines read before readiness

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Read output lines until one matches ``pattern``; then drain the rest in a thread."""
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProcError(f"{self.name}: no {pattern!r} within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self.log.write(buf.decode(errors="replace"))
                self.log.flush()
                raise ProcError(
                    f"{self.name} exited (rc {self.popen.wait()}) before {pattern!r}; "
                    f"see {self.log_path}"
                )
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace")
                self.log.write(line + "\n")
                self.seen.append(line)
                m = rx.search(line)
                if m:
                    self.log.write(buf.decode(errors="replace"))
                    self.log.flush()
                    self._start_drain()
                    return m

    def _start_drain(self) -> None:
        assert self.popen.stdout is not None
        out = self.popen.stdout

        def drain() -> None:
            with contextlib.suppress(OSError, ValueError):
                for chunk in iter(lambda: os.read(out.fileno(), 65536), b""):
                    self.log.write(chunk.decode(errors="replace"))
                    self.log.flush()

        self._drain = threading.Thread(target=drain, name=f"drain-{self.name}", daemon=True)
        self._drain.start()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout``; reap the leader."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        # Anything left in the group (a forked worker) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self._drain is not None:
            self._drain.join(2)
        with contextlib.suppress(ValueError):
            self.log.flush()
        self.log.close()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    """Resident set size from /proc/PID/status (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ProcError(f"no VmRSS for pid {pid}")


def children(pid: int) -> list[int]:
    """Direct children of a process (from /proc/PID/task/*/children)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            kids += [int(x) for x in (task / "children").read_text().split()]
    return kids


def pin(pid: int, cpus: set[int]) -> None:
    """Run every thread of ``pid`` on ``cpus`` only (sched_setaffinity per task)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), cpus)


def group_cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_seconds(p) for p in pids)


def ensure_tools(nsd: bool = True) -> dict[str, str]:
    """Install dnsperf, unbound (and nsd) with apt-get when missing; return their paths."""
    need = {"dnsperf": "dnsperf", "unbound": "unbound", "unbound-checkconf": "unbound"}
    if nsd:
        need["nsd"] = "nsd"
    missing = sorted({pkg for tool, pkg in need.items() if shutil.which(tool) is None})
    if missing:
        print(f"bench: installing Debian packages {' '.join(missing)} (apt-get)", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], check=True, env=env, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", *missing],
            check=True,
            env=env,
            timeout=900,
        )
    paths = {}
    for tool in need:
        found = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
        if found is None:
            sys.exit(f"bench: {tool} not found after installing")
        paths[tool] = found
    return paths


STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def system_cpu() -> dict[str, float]:
    """Machine-wide CPU seconds per category (first line of /proc/stat)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return {k: int(v) / CLK_TCK for k, v in zip(STAT_FIELDS, first, strict=False)}


def system_cpu_delta(before: dict[str, float], wall: float) -> dict[str, float]:
    """Cores busy per category between ``before`` and now (2.0 = two cores all the time)."""
    after = system_cpu()
    return {k: round((after[k] - before[k]) / wall, 3) for k in before}
