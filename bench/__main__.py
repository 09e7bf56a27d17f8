"""`python -m bench [--quick] [--only a,b]`: run the suite, print and save the report."""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench import load, report, sql, workloads
from bench.stack import ROOT, Config, Stack

SCENARIOS = ["raw", "enqueue", "lifecycle", "dispatch", "serving", "scale", "peers"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true", help="shorter runs, scale up to 100k")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma list of scenarios")
    parser.add_argument("--merge", help="a results JSON whose other scenarios to keep")
    args = parser.parse_args()
    only = set(args.only.split(","))
    seconds = 2.0 if args.quick else 5.0
    stack = Stack(Config())
    started = time.time()
    results: dict = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "layout": layout(stack.cfg),
        "scenarios": {},
    }
    print("preparing database and starting servers ...", flush=True)
    try:
        stack.prepare_database()
        stack.start()
        time.sleep(2)
        results["memory"] = {"at_rest_mb": stack.rss_mb()}
        ctx = context(stack)
        for name in SCENARIOS:
            if name in only:
                print(f"== {name}", flush=True)
                fn = globals()[f"scenario_{name}"]
                try:
                    results["scenarios"][name] = fn(stack, ctx, seconds, args.quick, results)
                except Exception as exc:  # noqa: BLE001 - report it and run the others
                    print(f"   {name} failed: {exc!r}", flush=True)
                    results.setdefault("failed", {})[name] = repr(exc)
    finally:
        stack.stop()
    results["wall_seconds"] = round(time.time() - started)
    if args.merge:
        results = merged(json.loads(Path(args.merge).read_text()), results)
    save(results)


def merged(earlier: dict, later: dict) -> dict:
    """The earlier run with the later run's scenarios (re-run ones) put in."""
    earlier["scenarios"].update(later["scenarios"])
    for name in later["scenarios"]:
        earlier.get("failed", {}).pop(name, None)
    earlier["wall_seconds"] = earlier.get("wall_seconds", 0) + later["wall_seconds"]
    earlier["rerun"] = {"at": later["at"], "scenarios": sorted(later["scenarios"])}
    return earlier


def context(stack: Stack) -> dict:
    seed = stack.seed
    return {
        "port": stack.cfg.wsgi_port,
        "token": seed["token"],
        "space_id": seed["space_id"],
        "base": f"/api/v1/spaces/{seed['space_id']}",
        "url": stack.cfg.database_url,
    }


def scenario_raw(stack: Stack, ctx: dict, seconds: float, quick: bool, _: dict) -> dict:
    url, space = ctx["url"], ctx["space_id"]
    out = {}
    variants = {
        "lifecycle_no_events": partial(sql.lifecycle, space=space, events=False),
        "lifecycle_events": partial(sql.lifecycle, space=space, events=True),
        "claim_is_ack_events": partial(sql.claim_ack, space=space),
        "batched_events": partial(sql.batched, space=space),
    }
    for name, step in variants.items():
        sql.reset(url)
        sql.fill(url, space, 20_000)
        out[name] = sql.run(url, step, 16, seconds)
    sql.reset(url)
    out["insert_batch_100"] = sql.run(url, partial(sql.insert100, space=space), 16, seconds)
    sql.reset(url)
    return out


def scenario_enqueue(stack: Stack, ctx: dict, seconds: float, quick: bool, _: dict) -> dict:
    out = {}
    for clients in (1, 4, 16):
        out[f"create_{clients}"] = load.run(workloads.create, ctx, clients, seconds)
    out["bulk100_4"] = load.run(workloads.bulk, ctx, 4, seconds)
    sql.reset(ctx["url"])
    return out


def scenario_lifecycle(stack: Stack, ctx: dict, seconds: float, quick: bool, res: dict) -> dict:
    out = {}
    plan = [
        ("poll_ack_complete", workloads.lifecycle, (4, 16, 64), 10_000),
        ("poll_batch_ack_complete", workloads.lifecycle_batch, (4, 16, 64), 20_000),
        ("claim_complete", workloads.claim, (16,), 10_000),
        ("claim_batch_complete", workloads.claim_batch, (16,), 20_000),
        ("claim50_batch_complete", workloads.claim_batch50, (16,), 30_000),
    ]
    peak: dict[str, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            for name, mb in stack.rss_mb().items():
                peak[name] = max(peak.get(name, 0), mb)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    wctx = {**ctx, "idle_sleep": 0.01}
    for name, step, sizes, prefill in plan:
        for clients in sizes:
            sql.reset(ctx["url"])
            sql.fill(ctx["url"], ctx["space_id"], prefill)
            r = load.run(step, wctx, clients, seconds)
            r["drained"] = r["jobs"] >= prefill * 0.95
            if name == "poll_ack_complete" and clients == 64:
                r["table_after"] = sql.table_health(ctx["url"])
            out[f"{name}_{clients}"] = r
    stop.set()
    sampler.join()
    res["memory"]["under_load_mb"] = peak
    sql.reset(ctx["url"])
    return out


def scenario_dispatch(stack: Stack, ctx: dict, seconds: float, quick: bool, _: dict) -> dict:
    # Enough producer connections that a slow answer does not hold the rate back.
    rate, producers, waiters = int(os.environ.get("BENCH_DISPATCH_RATE", "200")), 16, 8
    run_for = max(seconds * 2, 5.0)
    results: dict = {}
    wctx = {**ctx}
    pctx = {**ctx, "interval": producers / rate}
    workers = threading.Thread(
        target=lambda: results.update(
            workers=load.run(workloads.long_poll, wctx, waiters, run_for + 2, processes=1)
        )
    )
    workers.start()
    time.sleep(1.0)
    producer = load.run(workloads.produce, pctx, producers, run_for, processes=1)
    workers.join()
    sql.reset(ctx["url"])
    w = results["workers"]
    return {
        "rate_target": rate,
        "rate_sent": producer["jobs_per_s"],
        "waiting_workers": waiters,
        "delivered": w["jobs"],
        "created_to_received_ms": w["latency_ms"].get("dispatch", {"n": 0}),
        "create_ms": producer["latency_ms"].get("create", {}),
        "errors": {**producer["errors"], **w["errors"]},
    }


def scenario_serving(stack: Stack, ctx: dict, seconds: float, quick: bool, _: dict) -> dict:
    """The same single-create load on gunicorn gthread (WSGI) and on uvicorn (ASGI)."""
    out = {}
    for name, port in (("gunicorn_gthread", stack.cfg.wsgi_port), ("uvicorn", stack.cfg.asgi_port)):
        out[name] = load.run(workloads.create, {**ctx, "port": port}, 16, seconds)
        sql.reset(ctx["url"])
    return out


def scenario_scale(stack: Stack, ctx: dict, seconds: float, quick: bool, _: dict) -> dict:
    url, space = ctx["url"], ctx["space_id"]
    levels = [0, 100_000] if quick else [0, 100_000, 1_000_000]
    out = {}
    have = 0
    sql.reset(url)
    for level in levels:
        if level > have:
            sql.fill(url, space, level - have, status="completed", age_days=2)
            have = level
        with sql.psycopg.connect(url, autocommit=True) as conn:
            # The previous level's claimed and pending jobs go, with their events.
            gone = "SELECT id FROM jobs_job WHERE status <> 'completed'"
            conn.execute(f"DELETE FROM jobs_jobevent WHERE job_id IN ({gone})")
            conn.execute(f"DELETE FROM jobs_job WHERE id IN ({gone})")
            conn.execute("VACUUM ANALYZE jobs_job")
            # The fill's writes are flushed now, not by a checkpoint under the probes.
            conn.execute("CHECKPOINT")
        sql.fill(url, space, 1000)
        time.sleep(2)  # autovacuum and the servers settle
        out[f"finished_{level}"] = probe(stack, ctx, quick)
    sql.reset(url)
    return out


def probe(stack: Stack, ctx: dict, quick: bool) -> dict:
    n = 100 if quick else 200
    api = load.Client(ctx["port"], ctx["token"])
    for _ in range(n):
        api.call("http_claim1", "POST", "/api/v1/jobs/claim", {"limit": 1, "queue_name": "bench"})
    base = ctx["base"]
    for _ in range(n // 2):
        api.call("list50", "GET", f"{base}/jobs?limit=50")
        api.call("list50_completed", "GET", f"{base}/jobs?limit=50&status=completed")
        cursor = api.last_headers.get("X-Next-Cursor")
        if cursor:
            api.call(
                "list50_next_page", "GET", f"{base}/jobs?limit=50&status=completed&cursor={cursor}"
            )
        api.call("stats", "GET", "/api/v1/jobs/stats")
    seed = stack.seed
    page = load.Client(ctx["port"], cookie=f"sessionid={seed['session']}")
    for _ in range(n // 4):
        page.call("dashboard_jobs_page", "GET", f"/o/{seed['org']}/s/{seed['space']}/jobs/")
    lat = {op: load.summary(v) for op, v in {**api.lat, **page.lat}.items()}
    return {
        "raw_claim1_ms": sql.claim_latency(ctx["url"], ctx["space_id"], n),
        "latency_ms": lat,
        "errors": {**api.errors, **page.errors},
        "table": sql.table_health(ctx["url"]),
    }


def scenario_peers(stack: Stack, ctx: dict, seconds: float, quick: bool, _: dict) -> dict:
    n = 1000 if quick else 3000
    out = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for peer in ("procrastinate", "celery"):
        proc = subprocess.run(
            [sys.executable, "-m", "bench.peers", peer, str(n)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if proc.returncode != 0:
            out[peer] = {"error": proc.stderr[-2000:]}
        else:
            out[peer] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def machine() -> dict:
    pg = subprocess.run(
        ["psql", Config().pg + "/postgres", "-Atc", "show server_version"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return {
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "python": sys.version.split()[0],
        "postgres": pg,
    }


def layout(cfg: Config) -> dict:
    return {
        "rest_and_dashboard": f"gunicorn gthread, {cfg.web_workers} workers x {cfg.web_threads}"
        " threads (WSGI)",
        "streams": f"uvicorn, {cfg.stream_workers} workers (ASGI)",
        "background": "celery worker --concurrency 2, celery beat",
        "db_pool_per_process": cfg.pool,
        "load_generator": "same machine, 2 processes of threads, keep-alive connections",
    }


def save(results: dict) -> None:
    stamp = results["at"].replace(":", "").replace("-", "")
    out_dir = ROOT / "bench" / "results"
    (out_dir / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    md = report.markdown(results)
    (out_dir / "latest.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
