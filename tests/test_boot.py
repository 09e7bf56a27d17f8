"""A web worker's boot: the URLconf loaded, and what it made frozen out of the collector's way."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import gc, json, sys
import {module}
print(json.dumps({{
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
    "views_loaded": "jobs.api.worker" in sys.modules,
}}))
"""


@pytest.mark.parametrize("module", ["emitrun.wsgi", "emitrun.asgi"])
def test_a_worker_boots_with_its_views_loaded_and_its_objects_frozen(module):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "emitrun.settings"}
    out = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    boot = json.loads(out.stdout.strip().splitlines()[-1])
    assert boot["views_loaded"]
    # A full collection walks only what was made after boot: a small part of what is there.
    assert boot["frozen"] > 50_000
    assert boot["tracked"] < boot["frozen"] // 10
