"""The summary table, the JSON record and the PNG chart of a bench run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _fmt(x: Any, digits: int = 0) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, int) or digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def rows(r: dict[str, Any]) -> list[Row]:
    """One row per metric: rootwalk, Unbound, ratio rootwalk/Unbound, target, verdict."""
    rw, ub = r.get("rootwalk", {}), r.get("unbound", {})
    out: list[Row] = []

    def add(
        metric: str,
        a: float | None,
        b: float | None,
        target: str,
        ok: bool | None,
        digits: int = 0,
        ratio: float | None = None,
        b_text: str | None = None,
    ) -> None:
        ratio = _ratio(a, b) if ratio is None else ratio
        out.append(
            {
                "metric": metric,
                "rootwalk": a,
                "unbound": b,
                "ratio": ratio,
                "target": target,
                "verdict": "-" if ok is None else ("PASS" if ok else "MISS"),
                "text": [_fmt(a, digits), b_text or _fmt(b, digits), _fmt(ratio, 2)],
            }
        )

    def get(d: dict[str, Any], *keys: str) -> Any:
        for k in keys:
            if not isinstance(d, dict) or k not in d:
                return None
            d = d[k]
        return d

    a, b = get(rw, "hit", "qps"), get(ub, "hit", "qps")
    q = _ratio(a, b)
    add("cache-hit qps (1 client)", a, b, "ratio >= 0.8", None if q is None else q >= 0.8)
    a, b = get(rw, "hit", "avg_latency_ms"), get(ub, "hit", "avg_latency_ms")
    add("cache-hit avg latency (ms)", a, b, "", None, 3)
    a, b = get(rw, "rate", "cpu_us_per_query"), get(ub, "rate", "cpu_us_per_query")
    q = _ratio(a, b)
    add("CPU us/query at fixed rate", a, b, "ratio <= 1.25", None if q is None else q <= 1.25, 1)
    fl = r.get("floor", {})
    a, b = get(fl, "hit", "qps"), get(ub, "hit", "qps")
    add("  Python floor qps (pre-built bytes)", a, b, "", None)
    a, b = get(fl, "rate", "cpu_us_per_query"), get(ub, "rate", "cpu_us_per_query")
    add("  Python floor CPU us/query", a, b, "", None, 1)
    a, b = get(rw, "rate", "achieved_qps"), get(ub, "rate", "achieved_qps")
    add(f"  rate achieved (asked {r.get('params', {}).get('rate')})", a, b, "", None)

    # DO=1 (dnsperf -D), the cache-hit names plus secure ones: the fast path must hold.
    def was(x: float | None) -> str:
        return "" if x is None else f" (without DO {x:.2f})"

    plain_q = _ratio(get(rw, "hit", "qps"), get(ub, "hit", "qps"))
    a, b = get(rw, "hit_do", "qps"), get(ub, "hit_do", "qps")
    q = _ratio(a, b)
    add("cache-hit qps, DO=1 (+ secure names)", a, b, "ratio >= 0.8" + was(plain_q),
        None if q is None else q >= 0.8)  # fmt: skip
    plain_cpu = _ratio(get(rw, "rate", "cpu_us_per_query"), get(ub, "rate", "cpu_us_per_query"))
    a, b = get(rw, "rate_do", "cpu_us_per_query"), get(ub, "rate_do", "cpu_us_per_query")
    q = _ratio(a, b)
    add("CPU us/query at fixed rate, DO=1", a, b, "ratio <= 1.25" + was(plain_cpu),
        None if q is None else q <= 1.25, 1)  # fmt: skip
    fast = get(rw, "rate_do", "fast_share")
    add("  rootwalk answers from the fast path, DO=1 (%)", None if fast is None else fast * 100,
        None, ">= 99 %", None if fast is None else fast >= 0.99, 1, ratio=None)  # fmt: skip
    same = r.get("agree_do")
    if isinstance(same, dict):
        add("  answers agree with Unbound, DO=1 (rcode, AD, data)", same.get("same"),
            same.get("questions"), "all", same.get("same") == same.get("questions"),
            ratio=None, b_text=f"of {_fmt(same.get('questions'))}")  # fmt: skip
        out[-1]["text"][2] = "-"
        add("  answers with AD, DO=1", same.get("ad_a"), same.get("ad_b"), "", None, ratio=None)
    a, b = get(rw, "cold", "qps"), get(ub, "cold", "qps")
    lost_rw, lost_ub = get(rw, "cold", "lost"), get(ub, "cold", "lost")
    q = _ratio(a, b)
    ok = None if q is None else (q >= 0.3 and lost_rw == 0)
    add(f"cold resolutions/s, validating (-c {r.get('params', {}).get('clients')})", a, b,
        "ratio >= 0.3, 0 lost", ok)  # fmt: skip
    a, b = get(rw, "cold", "p50_ms"), get(ub, "cold", "p50_ms")
    add("cold p50 latency (ms)", a, b, "", None, 2)
    a, b = get(rw, "cold", "p99_ms"), get(ub, "cold", "p99_ms")
    add("cold p99 latency (ms)", a, b, "", None, 2)
    add(
        "cold lost queries",
        lost_rw,
        lost_ub,
        "0 lost",
        None if lost_rw is None else lost_rw == 0,
        ratio=None,
    )
    a, b = get(rw, "cold", "servfail_existing"), get(ub, "cold", "servfail_existing")
    add("cold SERVFAIL for existing names", a, b, "0", None if a is None else a == 0, ratio=None)
    a, b = get(rw, "cold", "cpu_us_per_resolution"), get(ub, "cold", "cpu_us_per_resolution")
    add("cold CPU us/resolution, validating", a, b, "", None)

    def pct(x: float | None) -> float | None:
        return None if x is None else x * 100

    lab = get(rw, "cold", "lab") or get(ub, "cold", "lab") or "?"

    def cpu_shares(part: str, suffix: str) -> None:
        """Who used the CPU in a cold run: the resolver, the lab, the load generator."""
        for label, key in (
            ("resolver", "server_cpu_share"),
            (f"lab ({lab})", "lab_cpu_share"),
            ("dnsperf", "dnsperf_cpu_share"),
        ):
            a, b = pct(get(rw, part, key)), pct(get(ub, part, key))
            add(f"  cold CPU % of a core, {label}{suffix}", a, b, "", None, ratio=None)

    cpu_shares("cold", "")
    # The same cold questions with validation off in both (fresh servers, same run).
    a, b = get(rw, "cold_novalidate", "qps"), get(ub, "cold_novalidate", "qps")
    plain = _ratio(a, b)
    add("cold resolutions/s, no validation", a, b, "", None)
    a, b = (
        get(rw, "cold_novalidate", "cpu_us_per_resolution"),
        get(ub, "cold_novalidate", "cpu_us_per_resolution"),
    )
    add("cold CPU us/resolution, no validation", a, b, "", None)
    cpu_shares("cold_novalidate", ", no validation")
    lost, sf = get(rw, "cold_novalidate", "lost"), get(rw, "cold_novalidate", "servfail_existing")
    a, b = get(ub, "cold_novalidate", "lost"), get(ub, "cold_novalidate", "servfail_existing")
    if lost is not None or a is not None:
        add("  cold lost / SERVFAIL for existing names, no validation",
            None, None, "0", None if lost is None else lost == 0 and sf == 0, ratio=None,
            b_text=f"{_fmt(a)} / {_fmt(b)}")  # fmt: skip
        out[-1]["text"][0] = f"{_fmt(lost)} / {_fmt(sf)}"
    # What validation costs each: extra CPU per cold resolution, and the ratio kept.
    costs = []
    for d in (rw, ub):
        v, n = (
            get(d, "cold", "cpu_us_per_resolution"),
            get(d, "cold_novalidate", "cpu_us_per_resolution"),
        )
        costs.append(None if v is None or n is None else v - n)
    add("validation's CPU us per cold resolution", costs[0], costs[1], "", None)
    val = _ratio(get(rw, "cold", "qps"), get(ub, "cold", "qps"))
    add("cold ratio validating / ratio without", None, None,
        ">= 0.3 and the same as without (>= 0.9x)",
        None if val is None or plain is None else val >= 0.3 and val >= 0.9 * plain,
        2, ratio=_ratio(val, plain))  # fmt: skip
    # Never-seen secure names (wildcards of signed zones), keys already cached.
    a, b = get(rw, "cold_signed", "qps"), get(ub, "cold_signed", "qps")
    sv = _ratio(a, b)
    add("cold secure names/s, validating (wildcards)", a, b, "", None)
    kept = len(out) - 1
    a, b = get(rw, "cold_signed_novalidate", "qps"), get(ub, "cold_signed_novalidate", "qps")
    sp = _ratio(a, b)
    add("cold secure names/s, no validation", a, b, "", None)
    if sv is not None and sp is not None:
        out[kept]["target"] = f"ratio kept: {sv / sp:.2f}x"
    pairs: list[tuple[Any, Any]] = []
    for key in ("cold_signed", "cold_signed_novalidate"):
        a, b = get(rw, key, "cpu_us_per_resolution"), get(ub, key, "cpu_us_per_resolution")
        add(f"  CPU us/resolution, {'validating' if key == 'cold_signed' else 'not'}",
            a, b, "", None)  # fmt: skip
        pairs.append((a, b))
    (va, vb), (na, nb) = pairs
    add("  validation's CPU us per secure answer",
        None if va is None or na is None else va - na,
        None if vb is None or nb is None else vb - nb, "", None)  # fmt: skip
    for label, key in (("resolver", "server_cpu_share"), (f"lab ({lab})", "lab_cpu_share")):
        a, b = pct(get(rw, "cold_signed", key)), pct(get(ub, "cold_signed", key))
        add(f"  CPU % of a core, {label}, validating", a, b, "", None, ratio=None)
    a, b = (
        get(rw, "cold", "upstream_per_resolution"),
        get(rw, "cold_novalidate", "upstream_per_resolution"),
    )
    if a is not None or b is not None:
        add("  rootwalk upstream queries/resolution, validating / not", None, None, "", None,
            ratio=_ratio(a, b))  # fmt: skip
        out[-1]["text"][0] = f"{_fmt(a, 2)} / {_fmt(b, 2)}"
    factor = r.get("params", {}).get("overload_factor")
    a, b = get(rw, "overload", "asked_qps"), get(ub, "overload", "asked_qps")
    add(f"overload: asked qps ({factor}x cold capacity)", a, b, "", None, ratio=None)
    a, b = get(rw, "overload", "sent_qps"), get(ub, "overload", "sent_qps")
    add("  overload: sent qps", a, b, "", None, ratio=None)
    a, b = get(rw, "overload", "in_time_qps"), get(ub, "overload", "in_time_qps")
    add("overload: answers in time/s", a, b, "", None)
    a, b = pct(get(rw, "overload", "in_time_share")), pct(get(ub, "overload", "in_time_share"))
    ok = None if a is None else a >= 70
    add("overload: answers in time, % of capacity", a, b, ">= 70 %", ok, ratio=None)
    a, b = get(rw, "overload", "peak_rx_queue_bytes"), get(ub, "overload", "peak_rx_queue_bytes")
    a, b = (None if x is None else x / 1024 for x in (a, b))
    add("overload: peak socket rx queue (KiB)", a, b, "", None, ratio=None)
    a, b = get(rw, "overload", "socket_drops"), get(ub, "overload", "socket_drops")
    add("overload: socket drops", a, b, "", None, ratio=None)
    a, b = get(rw, "overload", "recovery_s"), get(ub, "overload", "recovery_s")
    ok = None if get(rw, "overload") is None else (a is not None and a <= 1.0)
    limit = get(rw, "overload", "recovery_limit_s") or get(ub, "overload", "recovery_limit_s")
    add("overload: normal again after (s)", a, b, "<= 1 s", ok, 2, ratio=None)
    for col, d in ((0, rw), (1, ub)):  # probed for the whole limit, never normal again
        if get(d, "overload", "probes_sent") and get(d, "overload", "recovery_s") is None:
            out[-1]["text"][col] = f"> {limit:g}"
    a, b = get(rw, "overload", "rss_growth"), get(ub, "overload", "rss_growth")
    a, b = (None if x is None else x / 2**20 for x in (a, b))
    add("overload: RSS growth (MiB)", a, b, "", None, 1, ratio=None)
    a, b = pct(get(rw, "overload", "lab_cpu_share")), pct(get(ub, "overload", "lab_cpu_share"))
    add(f"  overload CPU % of a core, lab ({lab})", a, b, "", None, ratio=None)
    a, b = get(rw, "memory", "bytes_per_rrset"), get(ub, "memory", "bytes_per_rrset")
    q = _ratio(a, b)
    add("bytes per RRset", a, b, "ratio <= 3", None if q is None else q <= 3)
    w2, w1 = get(rw, "workers", "qps"), get(rw, "hit_c8", "qps")
    q = _ratio(w2, w1)
    add(
        "workers=2 qps (8 clients)",
        w2,
        None,
        ">= 1.5x 1 worker",
        None if q is None else q >= 1.5,
        ratio=q,
        b_text="1 worker: " + _fmt(w1),
    )
    return out


def table(rs: list[Row]) -> str:
    head = ["metric", "rootwalk", "Unbound", "ratio", "target", "PASS/MISS"]
    body = [[x["metric"], *x["text"], x["target"], x["verdict"]] for x in rs]
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    lines = []
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in body:
        cells = [
            str(c).ljust(w) if i in (0, 4, 5) else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")


def write_chart(path: Path, r: dict[str, Any]) -> str | None:
    """qps bars and cold latency percentiles; None when written, else why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    rw, ub = r.get("rootwalk", {}), r.get("unbound", {})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = ["cache hit", "fixed rate", "cold"]
    keys = [("hit", "qps"), ("rate", "achieved_qps"), ("cold", "qps")]

    def val(d: dict[str, Any], k: tuple[str, str]) -> float:
        return float(d.get(k[0], {}).get(k[1]) or 0)

    xs = range(len(labels))
    ax1.bar([x - 0.2 for x in xs], [val(rw, k) for k in keys], 0.4, label="rootwalk")
    ax1.bar([x + 0.2 for x in xs], [val(ub, k) for k in keys], 0.4, label="Unbound")
    ax1.set_xticks(list(xs), labels)
    ax1.set_ylabel("queries per second")
    if any(val(d, k) > 0 for d in (rw, ub) for k in keys):
        ax1.set_yscale("log")
    ax1.set_title("throughput (log scale)")
    ax1.legend()
    ps = ["p50", "p90", "p99", "p99.9"]
    for d, name in ((rw, "rootwalk"), (ub, "Unbound")):
        cold = d.get("cold", {})
        ys = [cold.get(f"{p}_ms") for p in ps]
        if any(y is not None for y in ys):
            ax2.plot(ps, [y or 0 for y in ys], marker="o", label=name)
    ax2.set_ylabel("ms")
    ax2.set_title("cold-cache latency percentiles")
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend()
    fig.suptitle(f"rootwalk vs Unbound ({r.get('params', {}).get('mode')} mode)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
