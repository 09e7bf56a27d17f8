"""The one rule: only jobs/lifecycle changes a job's status, lease or events."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ["emitrun", "orgs", "spaces", "jobs", "notifications"]
ALLOWED = ROOT / "jobs" / "lifecycle"

FORBIDDEN = [
    re.compile(r"JobEvent\.objects\.(create|bulk_create|update|get_or_create)"),
    re.compile(r"(?<!class )\bJobEvent\("),
    re.compile(r"Job\.objects\.[\w().,=\s\[\]\"']*\.update\("),
    re.compile(r"Job\.objects\.(create|bulk_create|update)\("),
    re.compile(r"\bjob\.save\("),
    re.compile(r"\.status\s*=\s*Status\."),
]


def offending_lines() -> list[str]:
    found = []
    for top in SOURCE_DIRS:
        for path in (ROOT / top).rglob("*.py"):
            if ALLOWED in path.parents or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if any(p.search(line) for p in FORBIDDEN):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_only_the_lifecycle_writes_jobs_and_events():
    assert offending_lines() == []


def test_the_check_would_catch_a_stray_write(tmp_path):
    stray = "Job.objects.filter(pk=1).update(status='dead')"
    assert any(p.search(stray) for p in FORBIDDEN)
    assert any(p.search("JobEvent.objects.create(job=j)") for p in FORBIDDEN)
