"""The Markdown report of one run: throughput with ratios to raw SQL and to the peers,
latencies, scale, memory, and the targets of issue 7 marked met or not.
"""

from typing import Any


def _get(d: dict, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def _rate(r: dict | None) -> float:
    return float(r.get("jobs_per_s", 0)) if isinstance(r, dict) else 0.0


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def _lat(r: dict, *ops: str) -> str:
    parts = []
    for op in ops:
        s = _get(r, "latency_ms", op)
        if s and s.get("n"):
            parts.append(f"{op} {s['p50']}/{s['p99']}")
    return ", ".join(parts) or "-"


def markdown(res: dict) -> str:
    sc = res["scenarios"]
    raw = sc.get("raw", {})
    lines = [
        f"# emitrun bench — {res['at']}{' (quick)' if res.get('quick') else ''}",
        "",
        f"Machine: {res['machine']['cpus']} CPUs, load average at start "
        f"{', '.join(f'{x:.2f}' for x in res['machine']['loadavg_at_start'])}, Python "
        f"{res['machine']['python']}, PostgreSQL {res['machine']['postgres']}. "
        f"Wall time {res.get('wall_seconds', '?')} s."
        + (
            f" Re-run at {res['rerun']['at']}: {', '.join(res['rerun']['scenarios'])}."
            if res.get("rerun")
            else ""
        ),
        "",
        "Layout: " + "; ".join(f"{k}: {v}" for k, v in res["layout"].items()) + ".",
        "",
        "## Throughput (jobs/s)",
        "",
        "| scenario | clients | jobs/s | vs raw | call p50/p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    raw_events = _rate(raw.get("lifecycle_events"))
    for name, r in raw.items():
        base = raw_events if "lifecycle" in name or "claim" in name or "batched" in name else 0
        lines.append(
            f"| raw SQL {name} | {r['connections']} conns | {r['jobs_per_s']} | "
            f"{_ratio(r['jobs_per_s'], base) if base else '-'} | - | - |"
        )
    raw_insert = _rate(raw.get("insert_batch_100"))
    for name, r in sc.get("enqueue", {}).items():
        ratio = _ratio(_rate(r), raw_insert) if name.startswith("bulk") else "-"
        lines.append(
            f"| HTTP {name} | {r['clients']} | {r['jobs_per_s']} | {ratio} | "
            f"{_lat(r, 'create', 'bulk100')} | {sum(r['errors'].values())} |"
        )
    for name, r in sc.get("lifecycle", {}).items():
        base = _rate(raw.get("claim_is_ack_events")) if name.startswith("claim") else raw_events
        lines.append(
            f"| HTTP {name} | {r['clients']} | {r['jobs_per_s']} | {_ratio(_rate(r), base)} | "
            f"{_lat(r, 'poll10', 'claim10', 'claim50', 'ack', 'complete', 'batch_ack', 'batch_complete')}"
            f" | {sum(r['errors'].values())} |"
        )
    for name, r in sc.get("peers", {}).items():
        if "error" in r:
            lines.append(f"| peer {name} | - | failed | - | - | - |")
        else:
            lines.append(f"| peer {r['peer']} | {r['workers']} | {r['jobs_per_s']} | - | - | - |")
    lines += _serving(sc.get("serving"))
    lines += _dispatch(sc.get("dispatch"))
    lines += _scale(sc.get("scale"))
    lines += _memory(res.get("memory", {}))
    if res.get("failed"):
        lines += ["", f"Scenarios that failed: {res['failed']}"]
    lines += ["", "## Targets (issue 7)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in targets(res)]
    return "\n".join(lines) + "\n"


def _serving(s: dict | None) -> list[str]:
    if not s:
        return []
    lines = ["", "## Serving: single creates, 16 clients", "", "| server | req/s | p50/p99 ms |"]
    lines.append("|---|---|---|")
    for name, r in s.items():
        c = _get(r, "latency_ms", "create", default={})
        lines.append(f"| {name} | {r['jobs_per_s']} | {c.get('p50')}/{c.get('p99')} |")
    return lines


def _dispatch(d: dict | None) -> list[str]:
    if not d:
        return []
    lat = d["created_to_received_ms"]
    return [
        "",
        "## Dispatch latency (long-poll)",
        "",
        f"Producer at {d['rate_target']} jobs/s (sent {d['rate_sent']}/s), "
        f"{d['waiting_workers']} workers waiting in long-polls; {d['delivered']} delivered. "
        f"Created → received by a worker: p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms, "
        f"max {lat.get('max')} ms. Errors: {d['errors'] or 'none'}.",
    ]


def _scale(s: dict | None) -> list[str]:
    if not s:
        return []
    ops = ["http_claim1", "list50", "list50_completed", "list50_next_page", "stats",
           "dashboard_jobs_page"]  # fmt: skip
    lines = [
        "",
        "## Scale: finished jobs in the space (p50 / p95 ms)",
        "",
        "| finished jobs | raw claim | " + " | ".join(ops) + " | dead tuples |",
        "|---" * (len(ops) + 3) + "|",
    ]
    for level, r in s.items():
        raw = r["raw_claim1_ms"]
        cells = []
        for op in ops:
            v = _get(r, "latency_ms", op)
            cells.append(f"{v['p50']} / {v['p95']}" if v and v.get("n") else "-")
        lines.append(
            f"| {level.removeprefix('finished_')} | {raw['p50']} / {raw['p95']} | "
            + " | ".join(cells)
            + f" | {r['table']['dead']} |"
        )
    errors = {k: v["errors"] for k, v in s.items() if v["errors"]}
    if errors:
        lines.append(f"\nErrors: {errors}")
    return lines


def _memory(m: dict) -> list[str]:
    if not m:
        return []
    lines = ["", "## Memory (RSS MB, process tree)", "", "| process | at rest | under load |"]
    lines.append("|---|---|---|")
    for name, mb in m.get("at_rest_mb", {}).items():
        lines.append(f"| {name} | {mb} | {m.get('under_load_mb', {}).get(name, '-')} |")
    return lines


def targets(res: dict) -> list[tuple[str, str, bool]]:
    sc = res["scenarios"]
    raw, life = sc.get("raw", {}), sc.get("lifecycle", {})
    out = []
    raw_events = _rate(raw.get("lifecycle_events"))
    single = max((_rate(v) for k, v in life.items() if k.startswith("poll_ack")), default=0)
    if raw_events and single:
        out.append(
            (
                "HTTP lifecycle with events ≥ 50% of raw SQL with events",
                f"{single} vs {raw_events} jobs/s = {single / raw_events:.0%}",
                single >= 0.5 * raw_events,
            )
        )
    batch = max(
        (_rate(v) for k, v in life.items() if "batch" in k),
        default=0,
    )
    celery = _rate(_get(sc, "peers", "celery"))
    if batch and celery:
        out.append(
            (
                "with batch endpoints, ahead of Celery + Redis",
                f"{batch} vs {celery} jobs/s = {batch / celery:.2f}x",
                batch > celery,
            )
        )
    bulk = max((_rate(v) for k, v in sc.get("enqueue", {}).items() if "bulk" in k), default=0)
    raw_insert = _rate(raw.get("insert_batch_100"))
    if bulk and raw_insert:
        out.append(
            (
                "bulk create over HTTP ≥ 50% of raw batched insert",
                f"{bulk} vs {raw_insert} jobs/s = {bulk / raw_insert:.0%}",
                bulk >= 0.5 * raw_insert,
            )
        )
    lat = _get(sc, "dispatch", "created_to_received_ms", default={})
    rate = _get(sc, "dispatch", "rate_target", default=200)
    if lat.get("n"):
        out.append(
            (
                "enqueue → delivered at 200 jobs/s: p50 ≤ 10 ms, p99 ≤ 50 ms",
                f"p50 {lat['p50']} ms, p99 {lat['p99']} ms"
                + ("" if rate == 200 else f" (measured at {rate} jobs/s)"),
                rate >= 200 and lat["p50"] <= 10 and lat["p99"] <= 50,
            )
        )
    scale = sc.get("scale", {})
    if len(scale) > 1:
        first, last = scale[next(iter(scale))], scale[list(scale)[-1]]
        level = list(scale)[-1].removeprefix("finished_")
        for label, get in (
            ("raw SQL claim", lambda r: r["raw_claim1_ms"]["p50"]),
            ("HTTP claim", lambda r: _get(r, "latency_ms", "http_claim1", "p50", default=0)),
        ):
            a, b = get(first), get(last)
            if a and b:
                out.append(
                    (
                        f"{label} p50 at {level} finished ≤ 1.2x at 0",
                        f"{b} vs {a} ms = {b / a:.2f}x",
                        b <= 1.2 * a,
                    )
                )
        for op, label in (
            ("list50", "API job list"),
            ("list50_completed", "API job list, status filter"),
            ("list50_next_page", "API job list, next page (cursor)"),
            ("dashboard_jobs_page", "dashboard jobs page"),
        ):
            v = _get(last, "latency_ms", op)
            failed = {k: n for k, n in last.get("errors", {}).items() if k.split()[0] == op}
            if failed:
                out.append(
                    (f"{label} at {level} jobs: p95 ≤ 100 ms", f"not measured: {failed}", False)
                )
            elif v and v.get("n"):
                out.append(
                    (
                        f"{label} at {level} jobs: p95 ≤ 100 ms",
                        f"p95 {v['p95']} ms",
                        v["p95"] <= 100,
                    )
                )
    return out
