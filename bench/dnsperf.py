"""Run dnsperf (always bounded in time) and parse its report."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PerfResult:
    argv: list[str]
    sent: int = 0
    completed: int = 0
    lost: int = 0
    qps: float = 0.0
    run_time: float = 0.0
    avg_latency: float = 0.0
    rcodes: str = ""
    dnsperf_cpu: float = 0.0  # CPU seconds used by dnsperf itself
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)  # only with verbose=True
    servfail_existing: int = 0  # only with verbose=True: SERVFAIL for a name not "nx..."
    output: str = ""

    @property
    def rcode_counts(self) -> dict[str, int]:
        """``Response codes: NOERROR 2 (66.67%), NXDOMAIN 1 (33.33%)`` as a dict."""
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"(\w+) (\d+) \(", self.rcodes)}

    @property
    def useful(self) -> int:
        """Answers a client can use: NOERROR (data or no data) and NXDOMAIN."""
        counts = self.rcode_counts
        return counts.get("NOERROR", 0) + counts.get("NXDOMAIN", 0)

    def percentile(self, p: float) -> float | None:
        if not self.latencies:
            return None
        xs = sorted(self.latencies)
        k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
        return xs[k]

    @property
    def dnsperf_cpu_share(self) -> float:
        """dnsperf's CPU time over the wall time of the run (1.0 = one core busy)."""
        return self.dnsperf_cpu / self.wall if self.wall else 0.0

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        lat = d.pop("latencies")
        d["latency_count"] = len(lat)
        for p in (50, 90, 99, 99.9):
            d[f"p{p}"] = self.percentile(p)
        d["dnsperf_cpu_share"] = self.dnsperf_cpu_share
        d["rcode_counts"] = self.rcode_counts
        d["useful"] = self.useful
        return d


def _num(rx: str, text: str, cast: type = float) -> Any:
    m = re.search(rx, text)
    return cast(m.group(1)) if m else cast(0)


def run(
    server: str,
    port: int,
    datafile: str,
    *,
    limit: float,
    maxruns: int | None = None,
    clients: int = 1,
    threads: int = 1,
    outstanding: int | None = None,
    max_qps: int | None = None,
    timeout: float = 5.0,
    verbose: bool = False,
    dnssec: bool = False,
    cpus: set[int] | None = None,
    on_start: Callable[[float], None] | None = None,
) -> PerfResult:
    """One dnsperf run; it stops by itself after ``limit`` seconds at most (-l).

    ``on_start`` is called with the ``time.monotonic()`` of the start, once dnsperf runs.
    ``dnssec`` sets DO in every query (``-D``), as a validating stub does.
    """
    argv = ["dnsperf", "-s", server, "-p", str(port), "-d", datafile, "-l", f"{limit:g}"]
    argv += ["-c", str(clients), "-T", str(threads), "-t", f"{timeout:g}"]
    if maxruns is not None:
        argv += ["-n", str(maxruns)]
    if outstanding is not None:
        argv += ["-q", str(outstanding)]
    if max_qps is not None:
        argv += ["-Q", str(max_qps)]
    if verbose:
        argv += ["-v"]
    if dnssec:
        argv += ["-D"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
        preexec_fn=None if cpus is None else (lambda: os.sched_setaffinity(0, cpus)),
    )
    try:
        if on_start is not None:
            on_start(t0)
        out, _ = proc.communicate(timeout=limit + timeout + 30)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"dnsperf failed (rc {proc.returncode}): {' '.join(argv)}\n{out}")
    r = PerfResult(argv=argv, wall=wall)
    r.dnsperf_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r.sent = _num(r"Queries sent:\s+(\d+)", out, int)
    r.completed = _num(r"Queries completed:\s+(\d+)", out, int)
    r.lost = _num(r"Queries lost:\s+(\d+)", out, int)
    r.qps = _num(r"Queries per second:\s+([\d.]+)", out)
    r.run_time = _num(r"Run time \(s\):\s+([\d.]+)", out)
    r.avg_latency = _num(r"Average Latency \(s\):\s+([\d.]+)", out)
    m = re.search(r"Response codes:\s+(.*)", out)
    r.rcodes = m.group(1).strip() if m else ""
    if verbose:
        lines = []
        for line in out.splitlines():
            if line.startswith("> "):
                # "> RCODE NAME TYPE LATENCY" for every answer
                parts = line.split()
                with contextlib.suppress(ValueError, IndexError):
                    r.latencies.append(float(parts[-1]))
                # Every name of the query files exists except the "nx..." ones (NXDOMAIN):
                # a SERVFAIL for any other is a failed resolution.
                if len(parts) >= 3 and parts[1] == "SERVFAIL" and not parts[2].startswith("nx"):
                    r.servfail_existing += 1
            else:
                lines.append(line)
        out = "\n".join(lines)  # keep the report, not one line per query
    r.output = out
    return r
