"""Sample the running servers with py-spy under one workload: `python -m bench.spy STEP
[CLIENTS] [SECONDS]` (STEP: a function of bench/workloads.py, e.g. lifecycle,
lifecycle_batch, create, bulk, claim).

Starts the bench stack, fills the queue, runs the load while py-spy samples every
gunicorn worker, and prints the functions that hold the most samples: by own time
(where the CPU goes) and by total time (what a request spends in each layer).
Only the thread holding the GIL is sampled, so waiting (on PostgreSQL, Redis, a\nlong-poll) does not count: the percentages are of Python's own CPU time.
"""

import collections
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import load, sql, workloads
from bench.__main__ import context
from bench.stack import Config, Stack, children


def main() -> None:
    step_name = sys.argv[1] if len(sys.argv) > 1 else "lifecycle"
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    step = getattr(workloads, step_name)
    stack = Stack(Config())
    stack.prepare_database()
    stack.start()
    try:
        ctx = {**context(stack), "idle_sleep": 0.01}
        sql.fill(ctx["url"], ctx["space_id"], 50_000)
        pids = children(stack.procs["gunicorn"].pid)
        out = Path(tempfile.mkdtemp()) / "spy"
        spies = [start_spy(pid, seconds, Path(f"{out}-{pid}.txt")) for pid in pids]
        result: dict = {}
        before = cpu_by_process()
        runner = threading.Thread(
            target=lambda: result.update(load.run(step, ctx, clients, seconds))
        )
        runner.start()
        runner.join()
        after = cpu_by_process()
        for spy in spies:
            spy.wait(30)
        print(f"{step_name}, {clients} clients: {result.get('jobs_per_s')} jobs/s")
        print("CPU seconds by process during the run (2 cores: at most 2 per second):")
        for name in sorted(after, key=lambda n: -(after[n] - before.get(n, 0))):
            used = after[name] - before.get(name, 0)
            if used > 0.05:
                print(f"  {used:7.2f}  {name}")
        report([Path(f"{out}-{pid}.txt") for pid in pids])
    finally:
        stack.stop()


def start_spy(pid: int, seconds: float, output: Path) -> subprocess.Popen:
    argv = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--format",
        "raw",
    ]
    argv += ["--gil", "--nonblocking", "--duration", str(int(seconds)), "--output", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_by_process() -> dict[str, float]:
    """CPU seconds (user + system) used so far by every process, summed by command name
    (py-spy's own samplers are counted under py-spy).
    """
    tick = os.sysconf("SC_CLK_TCK")
    out: collections.Counter = collections.Counter()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        argv = " ".join(a.decode(errors="replace") for a in cmdline[:4])
        if name.startswith("postgres") or argv.startswith("postgres"):
            name = "postgres"
        else:
            for key in ("gunicorn", "uvicorn", "celery", "-m bench"):
                if key in argv:
                    name = key if key != "-m bench" else "load generator"
                    break
        out[name] += (int(fields[11]) + int(fields[12])) / tick
        out[f"{name} (system)"] += int(fields[12]) / tick
    return out


def report(files: list[Path], top: int = 45) -> None:
    own: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    samples = 0
    for file in files:
        if not file.exists():
            continue
        for line in file.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            n = int(count)
            samples += n
            own[_short(frames[-1])] += n
            for frame in set(map(_short, frames)):
                total[frame] += n
    print(f"{samples} samples")
    for title, counter in (("own", own), ("total", total)):
        print(f"-- by {title} time")
        for frame, n in counter.most_common(top):
            print(f"{100 * n / max(samples, 1):5.1f}%  {frame}")


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for cut in ("site-packages/", "/work/main/", "python3.11/"):
        if cut in where:
            where = where.split(cut, 1)[1]
    return f"{name} {where.rsplit(':', 1)[0]}"


if __name__ == "__main__":
    main()
