"""API token scopes: the granular ones of the docs, and the shorthands that expand to them."""

CREATE = "jobs:create"
READ = "jobs:read"
POLL = "jobs:poll"
ACK = "jobs:ack"
PROGRESS = "jobs:progress"
EVENT = "jobs:event"
COMPLETE = "jobs:complete"
FAIL = "jobs:fail"
KILL = "jobs:kill"
KEEPALIVE = "jobs:keepalive"
READ_PROGRESS = "jobs:read:progress"
MANAGE = "jobs:manage"  # retry, cancel, priority, DLQ, queue pause/resume/config/delete

GRANULAR = (
    CREATE,
    READ,
    POLL,
    ACK,
    PROGRESS,
    EVENT,
    COMPLETE,
    FAIL,
    KILL,
    KEEPALIVE,
    READ_PROGRESS,
    MANAGE,
)

WRITE_SET = (ACK, PROGRESS, EVENT, COMPLETE, FAIL, KILL, KEEPALIVE)
SHORTHANDS: dict[str, tuple[str, ...]] = {
    "jobs:worker": (READ, POLL, *WRITE_SET, READ_PROGRESS),
    "jobs:write": WRITE_SET,
    "jobs:admin": GRANULAR,
}

DESCRIPTIONS = {
    CREATE: "Create new jobs",
    READ: "List jobs, get job details, and use space/job streams",
    POLL: "Claim pending jobs from the queue",
    ACK: "Acknowledge receipt of a polled job",
    PROGRESS: "Send progress updates",
    EVENT: "Publish checkpoint and custom events",
    COMPLETE: "Mark jobs as completed",
    FAIL: "Fail jobs (retry or mark dead)",
    KILL: "Force-stop jobs and mark killed",
    KEEPALIVE: "Extend a running job's timeout",
    READ_PROGRESS: "Read job progress via API or single-job WebSocket stream only",
    MANAGE: "Retry, cancel and re-prioritise jobs; manage the dead-letter queue and queues",
}


def expand(requested: list[str] | tuple[str, ...]) -> list[str]:
    """Granular scopes for a list of scopes and shorthands. Raises ValueError on unknown ones."""
    out: set[str] = set()
    unknown = []
    for raw in requested:
        scope = raw.strip()
        if scope in SHORTHANDS:
            out.update(SHORTHANDS[scope])
        elif scope in GRANULAR:
            out.add(scope)
        else:
            unknown.append(scope)
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
    if not out:
        raise ValueError("at least one scope is required")
    return sorted(out)
