"""``python -m bench``: rootwalk against Unbound on the lab, all on loopback.

See docs/performance.md for the method. Every packet stays on 127.A.x.x (a random A); every
load is a dnsperf run bounded by ``-l``; every process started here is stopped in a finally.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from bench import agree, dnsperf, overload, profile, queries, report
from bench.procs import (
    Proc,
    children,
    cpu_seconds,
    ensure_tools,
    pin,
    rss_bytes,
    system_cpu,
    system_cpu_delta,
)
from bench.servers import (
    Lab,
    Setup,
    rootwalk_stats,
    start_floor,
    start_lab,
    start_rootwalk,
    start_unbound,
)

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a ~2-minute smoke run")
    p.add_argument(
        "--rounds", type=int, help="interleaved cache-hit rounds per server (3; quick 2)"
    )
    p.add_argument(
        "--duration", type=float, help="seconds per cache-hit run, per round (7; quick 3)"
    )
    p.add_argument("--rate", type=int, default=20000, help="fixed rate for CPU/query (20000)")
    p.add_argument(
        "--rate-duration", type=float, help="seconds at the fixed rate, per round (5; quick 3)"
    )
    p.add_argument("--hot-names", type=int, default=1000, help="cache-hit names (1000)")
    p.add_argument(
        "--signed-names",
        type=int,
        default=500,
        help="secure names added to the cache-hit names for the DO=1 rows (500)",
    )
    p.add_argument("--lab-domains", type=int, default=10000, help="synthetic domains (10000)")
    p.add_argument(
        "--mem-domains", type=int, help="domains x 10 names for memory (10000; quick 2000)"
    )
    p.add_argument(
        "--cold-names", type=int, help="cold names, of the memory set (20000; quick 10000)"
    )
    p.add_argument(
        "--signed-cold-names",
        type=int,
        help="never-seen secure names (wildcards of signed zones) for the cold rows "
        "(5000; quick 2000; 0 to skip)",
    )
    p.add_argument("--outstanding", type=int, default=100, help="dnsperf -q for cold runs (100)")
    p.add_argument("--clients", type=int, default=8, help="dnsperf -c for cold runs (8)")
    p.add_argument(
        "--lab",
        choices=["nsd", "python"],
        default="nsd",
        help="who serves the lab: NSD (default) or `rootwalk lab up` (the former bench)",
    )
    p.add_argument(
        "--overload-duration",
        type=float,
        help="seconds of the overload run per server, 0 to skip (60; quick 10)",
    )
    p.add_argument(
        "--overload-factor", type=float, default=3.0, help="overload rate / cold capacity (3)"
    )
    p.add_argument("--cold-limit", type=float, default=240, help="cap (s) of each cold run (240)")
    p.add_argument("--net", help="127.A for the lab (default: random A in 10..250)")
    p.add_argument(
        "--only",
        choices=["hit", "cold", "novalidate", "workers"],
        action="append",
        help="subset (novalidate: the cold runs with validation off in both)",
    )
    p.add_argument(
        "--no-memory",
        dest="memory",
        action="store_false",
        help="skip the memory load after the cold run (scenario 3), for short cold runs",
    )
    p.add_argument(
        "--no-profile", dest="profile", action="store_false", help="skip the py-spy profiles"
    )
    p.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin servers and dnsperf to CPUs"
    )
    a = p.parse_args(argv)
    quick = a.quick
    a.rounds = a.rounds or (2 if quick else 3)
    a.duration = a.duration or (3.0 if quick else 7.0)
    a.rate_duration = a.rate_duration or (3.0 if quick else 5.0)
    a.mem_domains = min(a.mem_domains or (2000 if quick else 10000), a.lab_domains)
    a.cold_names = min(a.cold_names or (10000 if quick else 20000), a.mem_domains * 10)
    if a.signed_cold_names is None:
        a.signed_cold_names = 2000 if quick else 5000
    if a.overload_duration is None:
        a.overload_duration = 10.0 if quick else 60.0
    a.net = a.net or f"127.{random.randint(10, 250)}"
    a.only = a.only or ["hit", "cold", "novalidate", "workers"]
    # Cache-hit runs pin the server to the last CPU and dnsperf to the others, so neither is
    # moved around or preempted by the other: the spread between runs shrinks a lot.
    cpus = sorted(os.sched_getaffinity(0))
    a.server_cpus = {cpus[-1]} if len(cpus) >= 2 and a.pin else None
    a.load_cpus = set(cpus[:-1]) if a.server_cpus is not None else None
    return a


def machine_info(tools: dict[str, str]) -> dict[str, Any]:
    def out(argv: list[str]) -> str:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except OSError as e:
            return str(e)
        return (r.stdout + r.stderr).strip()

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import dns.version

    import rootwalk

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "rootwalk": getattr(rootwalk, "__version__", "?"),
        "dnspython": dns.version.version,
        "unbound": out([tools["unbound"], "-V"]).splitlines()[0],
        "dnsperf": next(
            (x for x in out(["dnsperf", "-h"]).splitlines() if x.startswith("Version")), "?"
        ),
        "uvloop": _has("uvloop"),
    }


def _has(mod: str) -> bool:
    try:
        __import__(mod)
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def running(start: Callable[[], Proc]) -> Iterator[Proc]:
    p = start()
    try:
        yield p
    finally:
        p.stop()


@contextlib.contextmanager
def profiled(
    pid: int, seconds: float, record: dict[str, Any], name: str, *, native: bool
) -> Iterator[None]:
    """py-spy on ``pid`` for ``seconds`` while the body runs; the summary goes to results."""
    out: dict[str, str | None] = {}
    raw = RESULTS / f"{record['timestamp']}-profile-{name}.raw"
    thread = threading.Thread(
        target=lambda: out.update(why=profile.record(pid, seconds, raw, native=native))
    )
    thread.start()
    try:
        yield
    finally:
        thread.join()
        why = out.get("why")
        if why is None and raw.exists():
            text = profile.summarise(raw)
            path = RESULTS / f"{record['timestamp']}-profile-{name}.txt"
            path.write_text(text, encoding="utf-8")
            record.setdefault("profiles", {})[name] = str(path)
            log(f"rootwalk profile ({name}): {path}")
        else:
            log(f"rootwalk profile ({name}) not taken: {why}")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ms(x: float | None) -> float | None:
    return None if x is None else x * 1000


def warm(
    s: Setup, server: str, port: int, hot: Path, rec: dict[str, Any], *, dnssec: bool = False
) -> None:
    # Two passes: the first resolves, the second is a cache hit through the full parse (which
    # is what fills rootwalk's wire cache). Every server gets the same two passes. DO is part
    # of the wire cache's key (the answer's bytes differ), so the DO rows are warmed apart.
    w = dnsperf.run(s.address, port, str(hot), limit=60, maxruns=2, outstanding=100, dnssec=dnssec)
    do = " with DO" if dnssec else ""
    log(f"{server}: warmed{do} with {w.completed}/{w.sent} questions ({w.rcodes})")
    rec["warm_do" if dnssec else "warm"] = w.summary()


def hit_round(
    a: argparse.Namespace,
    s: Setup,
    server: str,
    port: int,
    pids: list[int],
    hot: Path,
    *,
    dnssec: bool = False,
    stats: Callable[[], dict[str, int]] | None = None,
) -> dict[str, Any]:
    """One round: as fast as one dnsperf client goes, then CPU per query at a fixed rate.

    ``dnssec``: every query with DO. ``stats``: the server's counters (rootwalk's ``ctl
    stats``), read around the fixed-rate run for the share of answers from the fast path.
    """
    cpu0, sys0 = sum(cpu_seconds(p) for p in pids), system_cpu()
    hit = dnsperf.run(
        s.address, port, str(hot), limit=a.duration, clients=1, threads=1, cpus=a.load_cpus,
        dnssec=dnssec,
    )  # fmt: skip
    cpu1 = sum(cpu_seconds(p) for p in pids)
    out: dict[str, Any] = {
        "hit": hit.summary()
        | {
            "system_cpu": system_cpu_delta(sys0, hit.wall),
            "avg_latency_ms": ms(hit.avg_latency),
            "server_cpu_share": (cpu1 - cpu0) / hit.wall,
        }
    }
    st0 = stats() if stats is not None else {}
    cpu0 = sum(cpu_seconds(p) for p in pids)
    rate = dnsperf.run(
        s.address, port, str(hot), limit=a.rate_duration, max_qps=a.rate, cpus=a.load_cpus,
        dnssec=dnssec,
    )  # fmt: skip
    used = sum(cpu_seconds(p) for p in pids) - cpu0
    st1 = stats() if stats is not None else {}
    out["rate"] = rate.summary() | {
        "asked_qps": a.rate,
        "achieved_qps": rate.qps,
        "server_cpu_s": used,
        "server_cpu_share": used / rate.wall,
        "cpu_us_per_query": used / rate.completed * 1e6 if rate.completed else None,
    }
    asked = st1.get("queries_udp", 0) - st0.get("queries_udp", 0)
    if st0 and st1 and asked > 0:
        out["rate"]["fast_share"] = (
            st1.get("answers_fast", 0) - st0.get("answers_fast", 0)
        ) / asked
    do = " (DO)" if dnssec else ""
    log(
        f"{server}{do}: cache hit {hit.qps:,.0f} qps, avg {hit.avg_latency * 1e3:.3f} ms, "
        f"lost {hit.lost}, dnsperf CPU {hit.dnsperf_cpu_share:.0%}; at -Q {a.rate}: "
        f"{rate.qps:,.0f} qps, {out['rate']['cpu_us_per_query'] or 0:.1f} us CPU/query"
    )
    return out


def median_round(rounds: list[dict[str, Any]], rec: dict[str, Any], suffix: str = "") -> None:
    """``rec['hit']``/``rec['rate']`` (+ ``suffix``): the rounds' medians of the headlines."""
    rec["rounds" + suffix] = rounds
    for part, keys in (
        ("hit", ("qps", "avg_latency_ms")),
        ("rate", ("cpu_us_per_query", "achieved_qps", "fast_share")),
    ):
        merged = dict(rounds[0][part])
        for key in keys:
            values = [r[part][key] for r in rounds if r[part].get(key) is not None]
            merged[key] = statistics.median(values) if values else None
        rec[part + suffix] = merged


def share(seconds: float, wall: float) -> float | None:
    return seconds / wall if wall else None


def cold_run(
    a: argparse.Namespace,
    s: Setup,
    lab: Lab,
    server: str,
    port: int,
    pid: int,
    cold: Path,
    *,
    validating: bool,
    stats: Callable[[], dict[str, int]] | None = None,
) -> dict[str, Any]:
    """Every question of ``cold`` once, on a fresh server: rate, latency, CPU of everyone.

    ``stats`` (rootwalk's ``ctl stats``) adds the upstream queries it sent per resolution.
    """
    st0 = stats() if stats is not None else {}
    cpu0, lab0 = cpu_seconds(pid), lab.cpu_seconds()
    c = dnsperf.run(
        s.address, port, str(cold), limit=a.cold_limit, maxruns=1, clients=a.clients,
        outstanding=a.outstanding, verbose=True,
    )  # fmt: skip
    cpu, lab_cpu = cpu_seconds(pid) - cpu0, lab.cpu_seconds() - lab0
    st1 = stats() if stats is not None else {}
    # Shares of a core over dnsperf's run time (first question to last answer): a lost query
    # keeps dnsperf waiting for its timeout, idle time that would dilute the shares.
    window = c.run_time or c.wall
    out = c.summary() | {
        "validating": validating,
        "p50_ms": ms(c.percentile(50)),
        "p90_ms": ms(c.percentile(90)),
        "p99_ms": ms(c.percentile(99)),
        "p99.9_ms": ms(c.percentile(99.9)),
        "servfail": c.rcode_counts.get("SERVFAIL", 0),
        "server_cpu_s": cpu,
        "server_cpu_share": share(cpu, window),
        "cpu_us_per_resolution": cpu / c.completed * 1e6 if c.completed else None,
        "lab": a.lab,
        "lab_cpu_s": lab_cpu,
        "lab_cpu_share": share(lab_cpu, window),
        "dnsperf_cpu_share": share(c.dnsperf_cpu, window),
        "cpu_window_s": window,
    }
    sent = st1.get("upstream_queries", 0) - st0.get("upstream_queries", 0)
    if st0 and st1 and c.completed:
        out["upstream_queries"] = sent
        out["upstream_per_resolution"] = sent / c.completed
    up = f", {sent / c.completed:.2f} upstream/resolution" if "upstream_queries" in out else ""
    log(
        f"{server} ({'validating' if validating else 'no validation'}): cold "
        f"{c.completed}/{c.sent} in {c.run_time:.1f} s = {c.qps:,.0f}/s, "
        f"p50 {out['p50_ms'] or 0:.1f} ms, p99 {out['p99_ms'] or 0:.1f} ms, "
        f"lost {c.lost}, SERVFAIL for existing names {c.servfail_existing} ({c.rcodes}); "
        f"CPU: {server} {out['server_cpu_share'] or 0:.0%} "
        f"({out['cpu_us_per_resolution'] or 0:,.0f} us/resolution{up}), "
        f"lab ({a.lab}) {out['lab_cpu_share'] or 0:.0%}, "
        f"dnsperf {out['dnsperf_cpu_share'] or 0:.0%} of a core"
    )
    return out


def cold_and_memory(
    a: argparse.Namespace,
    s: Setup,
    lab: Lab,
    server: str,
    port: int,
    pid: int,
    cold: Path,
    rest: Path | None,
    rec: dict[str, Any],
    stats: Callable[[], dict[str, int]] | None = None,
) -> None:
    """The cold run (validating), then the rest of the memory set; RSS per answer."""
    addr = s.address
    rss0 = rss_bytes(pid)
    rec["cold"] = cold_run(a, s, lab, server, port, pid, cold, validating=True, stats=stats)
    answered = rec["cold"]["completed"]
    if rest is not None:
        r = dnsperf.run(
            addr, port, str(rest), limit=a.cold_limit, maxruns=1, clients=a.clients,
            outstanding=a.outstanding,
        )  # fmt: skip
        rec["memory_load"] = r.summary()
        answered += r.completed
        log(f"{server}: memory load {r.completed}/{r.sent} in {r.run_time:.1f} s, lost {r.lost}")
    rss1 = rss_bytes(pid)
    rec["memory"] = {
        "rss_before": rss0,
        "rss_after": rss1,
        "rrsets": answered,
        "bytes_per_rrset": (rss1 - rss0) / answered if answered else None,
    }
    log(
        f"{server}: RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB for {answered} answers = "
        f"{rec['memory']['bytes_per_rrset'] or 0:,.0f} B/RRset"
    )


def overload_run(
    a: argparse.Namespace,
    s: Setup,
    lab: Lab,
    server: str,
    port: int,
    pid: int,
    rec: dict[str, Any],
) -> None:
    """Never-seen names at ``overload_factor`` x the cold capacity, for a bounded time.

    Then: answers in time (NOERROR/NXDOMAIN within dnsperf's 5 s timeout) per second and as a
    share of the capacity, the peak receive queue of the server's socket, the time until a
    fresh name is answered within 100 ms again once the load stops, and the RSS growth.
    """
    capacity = rec.get("cold", {}).get("qps")
    duration = a.overload_duration
    if not capacity or duration <= 0:
        return
    rate = max(1, round(capacity * a.overload_factor))
    tag = "o" + server[0]  # the two servers get different names, both never seen
    count = int(rate * duration * 1.05) + 100
    path = queries.write(s.workdir / f"overload-{server}.txt",
                         queries.fresh_names(count, s.domains, tag))  # fmt: skip
    probe_names = iter(queries.fresh_names(2000, s.domains, "p" + server[0]))
    base = overload.baseline(s.address, port, probe_names)
    rss0, cpu0, lab0 = rss_bytes(pid), cpu_seconds(pid), lab.cpu_seconds()
    # Open loop: enough outstanding queries for the whole rate over the timeout, so dnsperf
    # keeps sending at the asked rate however slowly the server answers (at most 65,000 per
    # client socket: the 16-bit IDs).
    outstanding = min(int(rate * 5 * 1.2) + 100, 65000 * a.clients)
    start_t: list[float] = []
    started = threading.Event()
    probe_out: dict[str, Any] = {}

    def on_start(t: float) -> None:
        start_t.append(t)
        started.set()

    def probe() -> None:
        started.wait()  # dnsperf.run calls on_start right after the launch
        if start_t:  # the load stops when dnsperf's -l runs out
            probe_out.update(overload.recovery(s.address, port, probe_names, start_t[0] + duration))

    prober = threading.Thread(target=probe, name="recovery-probe", daemon=True)
    log(f"{server}: overload, {rate:,} qps of never-seen names for {duration:g} s "
        f"({a.overload_factor:g} x {capacity:,.0f}/s)")  # fmt: skip
    with overload.QueueSampler(s.address, port) as sampler:
        prober.start()
        try:
            o = dnsperf.run(
                s.address, port, str(path), limit=duration, maxruns=1, clients=a.clients,
                outstanding=outstanding, max_qps=rate, timeout=5.0, on_start=on_start,
            )  # fmt: skip
            # CPU over dnsperf's run only (the sending, then the wait for late answers).
            cpu, lab_cpu = cpu_seconds(pid) - cpu0, lab.cpu_seconds() - lab0
        finally:
            started.set()  # the prober never waits for a dnsperf that did not start
            prober.join(60)
    rss1 = rss_bytes(pid)
    in_time = o.useful / duration
    rec["overload"] = (
        o.summary()
        | {
            "capacity_qps": capacity,
            "asked_qps": rate,
            "duration_s": duration,
            "sent_qps": o.sent / duration,
            "in_time_qps": in_time,
            "in_time_share": in_time / capacity,
            "servfail": o.rcode_counts.get("SERVFAIL", 0),
            "server_cpu_share": share(cpu, o.wall),
            "lab_cpu_share": share(lab_cpu, o.wall),
            "rss_before": rss0,
            "rss_after": rss1,
            "rss_growth": rss1 - rss0,
            "baseline_probe_s": base,
        }
        | sampler.summary()
        | probe_out
    )
    ov = rec["overload"]
    rq = ov["peak_rx_queue_bytes"]
    rs = ov.get("recovery_s")
    log(
        f"{server}: overload sent {o.sent:,} ({ov['sent_qps']:,.0f}/s), answered in time "
        f"{o.useful:,} ({in_time:,.0f}/s = {ov['in_time_share']:.0%} of capacity), lost "
        f"{o.lost:,}, SERVFAIL {ov['servfail']:,}; peak rx queue "
        f"{'-' if rq is None else f'{rq / 1024:,.0f} KiB'}, socket drops "
        f"{ov['socket_drops']:,}; normal again after "
        f"{'-' if rs is None else f'{rs:.2f} s'}; RSS +{(rss1 - rss0) / 2**20:.1f} MiB; CPU "
        f"{server} {ov['server_cpu_share'] or 0:.0%}, lab {ov['lab_cpu_share'] or 0:.0%}, "
        f"dnsperf {o.dnsperf_cpu_share:.0%}"
    )


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (the lab listens on port 53, as Unbound only asks port 53)")
        return 2
    tools = ensure_tools(nsd=a.lab == "nsd")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    t_start = time.monotonic()
    record: dict[str, Any] = {
        "timestamp": stamp,
        "params": vars(a) | {"mode": "quick" if a.quick else "full"},
        "machine": machine_info(tools),
        "rootwalk": {},
        "unbound": {},
    }
    print(f"bench: {record['machine']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="rootwalk-bench-") as tmp:
        work = Path(tmp)
        base = random.randint(20000, 40000)
        s = Setup(a.net, a.lab_domains, work, rootwalk_port=base, unbound_port=base + 1)
        hot_list = queries.hot_names(a.hot_names, 0)
        hot = queries.write(work / "hot.txt", hot_list)
        signed = queries.signed_hot_names(a.signed_names)
        hot_do = queries.write(work / "hot-do.txt", queries.interleave(hot_list, signed))
        mem = queries.per_domain_names(0, a.mem_domains)
        cold = queries.write(work / "cold.txt", mem[: a.cold_names])
        signed_cold = queries.signed_cold_names(a.signed_cold_names)
        s.signed_cold = (
            queries.write(work / "cold-signed.txt", signed_cold) if signed_cold else None
        )
        rest = (
            queries.write(work / "rest.txt", mem[a.cold_names :])
            if mem[a.cold_names :] and a.memory
            else None
        )
        log(
            f"lab ({a.lab}): {a.lab_domains} domains on {a.net}.0.0/16 port 53; "
            f"servers on {s.address}"
        )
        try:
            lab = start_lab(s, a.lab, tools)
            try:
                record["lab_pids"] = lab.pids()
                run_all(a, s, lab, tools, hot, hot_do, cold, rest, record)
            finally:
                lab.stop()
        finally:
            record["elapsed_s"] = time.monotonic() - t_start
            record["logs"] = {
                str(p.relative_to(work)): p.read_text(errors="replace")[-20000:]
                for p in work.rglob("*.log")
            }
            rs = report.rows(record)
            record["table"] = rs
            report.write_json(RESULTS / f"{stamp}.json", record)
            why = report.write_chart(RESULTS / f"{stamp}.png", record)
            print()
            print(f"rootwalk vs Unbound, {record['params']['mode']} mode, "
                  f"{record['machine']['nproc']} CPUs ({record['machine']['cpu_model']}), "
                  f"{record['elapsed_s']:.0f} s")  # fmt: skip
            print(report.table(rs))
            print(f"\nraw numbers: {RESULTS / f'{stamp}.json'}")
            print(f"chart: {RESULTS / f'{stamp}.png'}" if why is None else f"no chart: {why}")
    return 0


def run_all(
    a: argparse.Namespace,
    s: Setup,
    lab: Lab,
    tools: dict[str, str],
    hot: Path,
    hot_do: Path,
    cold: Path,
    rest: Path | None,
    record: dict[str, Any],
) -> None:  # noqa: E501
    rw, ub = record["rootwalk"], record["unbound"]

    def rw_stats() -> dict[str, int]:
        return rootwalk_stats(s, validate=True)

    def rw_stats_plain() -> dict[str, int]:
        return rootwalk_stats(s, validate=False)

    if "hit" in a.only:
        log(f"scenario 1: cache hit, {a.rounds} interleaved rounds")
        with (
            running(lambda: start_rootwalk(s, tag="-hit")) as prw,
            running(lambda: start_unbound(s, tools, tag="-hit")) as pub,
            running(lambda: start_floor(s, s.unbound_port + 1)) as pfl,
        ):
            fl = record["floor"] = {}
            servers = [
                ("rootwalk", s.rootwalk_port, [prw.pid], rw),
                ("unbound", s.unbound_port, [pub.pid], ub),
                ("floor", s.unbound_port + 1, [pfl.pid], fl),
            ]
            for name, port, pids, rec in servers:
                warm(s, name, port, hot, rec)
                if a.server_cpus is not None:
                    for pid in pids:
                        pin(pid, a.server_cpus)
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in servers}
            for i in range(a.rounds):
                # Rotate the order so drift on a shared machine hits every server alike.
                for name, port, pids, _ in servers[i % 3 :] + servers[: i % 3]:
                    rounds[name].append(hit_round(a, s, name, port, pids, hot))
            for name, _, _, rec in servers:
                median_round(rounds[name], rec)
            c8 = dnsperf.run(
                s.address, s.rootwalk_port, str(hot), limit=a.duration, clients=8, cpus=a.load_cpus
            )
            rw["hit_c8"] = c8.summary()
            log(f"rootwalk: cache hit, 8 clients: {c8.qps:,.0f} qps")
            # The same with DO=1, the cache-hit names plus secure ones (AD, RRSIGs, NSEC and
            # NSEC3 proofs): validated answers must stay on the fast path too.
            log(f"cache hit with DO=1 ({hot_do.name}), {a.rounds} interleaved rounds")
            do_servers = servers[:2]
            for name, port, _, rec in do_servers:
                warm(s, name, port, hot_do, rec, dnssec=True)
            do_rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in do_servers}
            for i in range(a.rounds):
                for name, port, pids, _ in do_servers[i % 2 :] + do_servers[: i % 2]:
                    st = rw_stats if name == "rootwalk" else None
                    do_rounds[name].append(
                        hit_round(a, s, name, port, pids, hot_do, dnssec=True, stats=st)
                    )
            for name, _, _, rec in do_servers:
                median_round(do_rounds[name], rec, "_do")
            lines = [x for x in hot_do.read_text().splitlines() if x.strip()]
            same = record["agree_do"] = agree.compare(
                (s.address, s.rootwalk_port), (s.address, s.unbound_port), lines
            )
            log(
                f"answers with DO, rootwalk vs Unbound: {same['same']}/{same['questions']} "
                f"the same, AD set {same['ad_a']} / {same['ad_b']}"
                + "".join(f"\n  {d}" for d in same["differences"][:10])
            )
            if a.profile:
                with profiled(prw.pid, a.rate_duration, record, "hit", native=True):
                    dnsperf.run(s.address, s.rootwalk_port, str(hot), limit=a.rate_duration,
                                max_qps=a.rate)  # fmt: skip
    if "cold" in a.only:
        log("scenarios 2, 3 and 5: cold cache, memory, then overload (fresh servers)")
        with running(lambda: start_rootwalk(s, tag="-cold")) as p:
            seconds = min(a.cold_limit, 20.0)
            profiling = profiled(p.pid, seconds, record, "cold", native=False)
            with profiling if a.profile else nullcontext():
                cold_and_memory(
                    a, s, lab, "rootwalk", s.rootwalk_port, p.pid, cold, rest, rw, rw_stats
                )
            if s.signed_cold is not None:
                # Never-seen secure names on the same server, its keys now cached: what
                # checking each answer's signatures costs (the cold set is unsigned domains).
                seconds = min(max(a.signed_cold_names / 500, 2.0), 20.0)
                profiling = profiled(p.pid, seconds, record, "cold-signed", native=False)
                with profiling if a.profile else nullcontext():
                    rw["cold_signed"] = cold_run(
                        a, s, lab, "rootwalk", s.rootwalk_port, p.pid, s.signed_cold,
                        validating=True, stats=rw_stats,
                    )  # fmt: skip
            overload_run(a, s, lab, "rootwalk", s.rootwalk_port, p.pid, rw)
        with running(lambda: start_unbound(s, tools, tag="-cold")) as p:
            cold_and_memory(a, s, lab, "unbound", s.unbound_port, p.pid, cold, rest, ub)
            if s.signed_cold is not None:
                ub["cold_signed"] = cold_run(
                    a, s, lab, "unbound", s.unbound_port, p.pid, s.signed_cold, validating=True
                )
            overload_run(a, s, lab, "unbound", s.unbound_port, p.pid, ub)
    if "novalidate" in a.only:
        # The same cold questions on fresh servers with validation off in both (rootwalk
        # [dnssec] enabled = false, Unbound module-config "iterator"): the gap to the
        # validating run is what validation costs each of them.
        log("scenario 2b: cold cache without validation (fresh servers)")
        with running(lambda: start_rootwalk(s, tag="-cold-plain", validate=False)) as p:
            rw["cold_novalidate"] = cold_run(
                a, s, lab, "rootwalk", s.rootwalk_port, p.pid, cold, validating=False,
                stats=rw_stats_plain,
            )  # fmt: skip
            if s.signed_cold is not None:
                rw["cold_signed_novalidate"] = cold_run(
                    a, s, lab, "rootwalk", s.rootwalk_port, p.pid, s.signed_cold,
                    validating=False, stats=rw_stats_plain,
                )  # fmt: skip
        with running(lambda: start_unbound(s, tools, tag="-cold-plain", validate=False)) as p:
            ub["cold_novalidate"] = cold_run(
                a, s, lab, "unbound", s.unbound_port, p.pid, cold, validating=False
            )
            if s.signed_cold is not None:
                ub["cold_signed_novalidate"] = cold_run(
                    a, s, lab, "unbound", s.unbound_port, p.pid, s.signed_cold,
                    validating=False,
                )  # fmt: skip
    if "workers" in a.only:
        log("scenario 4: rootwalk --workers 2 (each worker has its own cache)")
        with running(lambda: start_rootwalk(s, workers=2, tag="-workers")) as p:
            kids = children(p.pid)
            rw["workers_pids"] = kids
            # SO_REUSEPORT spreads flows (source ports) over the workers: warm both caches by
            # sending the names several times from 8 client sockets, bounded in time.
            w = dnsperf.run(s.address, s.rootwalk_port, str(hot), limit=max(a.duration / 2, 5),
                            clients=8, maxruns=4, outstanding=100)  # fmt: skip
            log(f"rootwalk x2: warmed ({w.completed}/{w.sent}, lost {w.lost})")
            per0, sup0, sys0 = [cpu_seconds(k) for k in kids], cpu_seconds(p.pid), system_cpu()
            r = dnsperf.run(s.address, s.rootwalk_port, str(hot), limit=a.duration, clients=8)
            per1, sup1 = [cpu_seconds(k) for k in kids], cpu_seconds(p.pid)
            rw["workers_system_cpu"] = system_cpu_delta(sys0, r.wall)
            rw["workers_supervisor_cpu_share"] = (sup1 - sup0) / r.wall
            cpu0, cpu1 = sum(per0), sum(per1)
            rw["workers"] = r.summary() | {
                "workers": 2,
                "per_worker_cpu_share": [(y - x) / r.wall for x, y in zip(per0, per1, strict=True)],
                "workers_cpu_s": cpu1 - cpu0,
                "workers_cpu_share": (cpu1 - cpu0) / r.wall,
            }
            log(
                f"rootwalk x2: {r.qps:,.0f} qps (8 clients), workers CPU "
                f"{(cpu1 - cpu0) / r.wall:.0%} of one core "
                f"({', '.join(f'{x:.0%}' for x in rw['workers']['per_worker_cpu_share'])}), "
                f"machine {rw['workers_system_cpu']}, dnsperf CPU "
                f"{r.dnsperf_cpu_share:.0%}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
