"""Random interleavings of every lifecycle transition, from several workers, with leases both
current and stale, checked against the invariants of the state machine after every step.
"""

import datetime as dt

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from emitrun.errors import DomainError
from jobs import lifecycle
from jobs.models import LEASED, TERMINAL, Job, JobEvent, Status
from tests.conftest import SYSTEM
from tests.factories import SpaceFactory

WORKERS = st.sampled_from(["w1", "w2", "w3"])
EXAMPLES = 15  # docs/reliability.md: bounded for CI time


class Lifecycle(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.space = SpaceFactory()
        self.leases: dict[str, list[str]] = {}  # job id -> every lease handed out, in order
        self.terminal: dict[str, str] = {}  # job id -> terminal status last seen
        self.retried: set[str] = set()  # jobs an operator retried since the last check

    def job(self, job_id: str) -> Job:
        return Job.objects.get(pk=job_id)

    @rule(target=jobs, max_retries=st.integers(0, 2))
    def create(self, max_retries: int) -> str:
        spec = lifecycle.JobSpec(name="sm", max_retries=max_retries, timeout_seconds=30)
        job = lifecycle.create(self.space, spec, actor=SYSTEM).job
        self.leases[str(job.id)] = []
        return str(job.id)

    @rule(worker=WORKERS, limit=st.integers(1, 3), running=st.booleans())
    def claim(self, worker: str, limit: int, running: bool) -> None:
        if running:
            got = lifecycle.claim_running(
                self.space, limit=limit, worker_id=worker, lease_seconds=30, actor=SYSTEM
            )
        else:
            got = lifecycle.poll(self.space, limit=limit, worker_id=worker, actor=SYSTEM)
        for job in got:
            assert job.status in LEASED
            assert str(job.lease_id) not in self.leases[str(job.id)]
            self.leases[str(job.id)].append(str(job.lease_id))

    @rule(
        job_id=jobs,
        action=st.sampled_from(["ack", "progress", "keepalive", "complete", "fail", "give_up"]),
        stale=st.booleans(),
    )
    def worker_call(self, job_id: str, action: str, stale: bool) -> None:
        leases = self.leases[job_id]
        if not leases or (stale and len(leases) < 2):
            return
        lease = leases[0] if stale else leases[-1]
        before = self.job(job_id)
        current = str(before.lease_id) == lease and before.status in LEASED
        calls = {
            "ack": lambda j: lifecycle.ack(j, lease_id=lease, actor=SYSTEM),
            "progress": lambda j: lifecycle.progress(
                j, percent=50, message="half", lease_id=lease, actor=SYSTEM
            ),
            "keepalive": lambda j: lifecycle.keepalive(j, lease_id=lease, actor=SYSTEM),
            "complete": lambda j: lifecycle.complete(j, result={}, lease_id=lease, actor=SYSTEM),
            "fail": lambda j: lifecycle.fail(j, error="boom", lease_id=lease, actor=SYSTEM),
            "give_up": lambda j: lifecycle.fail(
                j, error="fatal", retry=False, lease_id=lease, actor=SYSTEM
            ),
        }
        try:
            calls[action](before)
        except DomainError:
            pass
        else:
            assert current, f"{action} with a stale lease was accepted"
        if not current:  # a stale lease never changes a job
            after = self.job(job_id)
            assert (after.status, after.lease_id, after.attempts, after.updated_at) == (
                before.status,
                before.lease_id,
                before.attempts,
                before.updated_at,
            )

    @rule(job_id=jobs, action=st.sampled_from(["kill", "retry", "cancel"]))
    def operator_call(self, job_id: str, action: str) -> None:
        call = getattr(lifecycle, action)
        try:
            call(self.job(job_id), actor=SYSTEM)
        except DomainError:
            return
        if action == "retry":
            self.retried.add(job_id)

    @rule(minutes=st.integers(1, 120))
    def time_passes(self, minutes: int) -> None:
        lifecycle.settle(now=timezone.now() + dt.timedelta(minutes=minutes), space=self.space)

    @rule(job_id=consumes(jobs))
    def forget(self, job_id: str) -> None:
        """Lets the bundle shrink, so later rules pick among fewer jobs."""

    @invariant()
    def every_job_is_in_exactly_one_valid_state(self) -> None:
        for job in Job.objects.filter(space=self.space):
            key = str(job.id)
            assert job.status in Status.values
            assert job.attempts <= job.max_retries + 1
            if job.status in LEASED:
                assert job.lease_id is not None
            was = self.terminal.get(key)
            if was is not None and key not in self.retried:
                assert job.status == was, f"{was} job moved to {job.status} without a retry"
            if was == Status.COMPLETED:
                assert job.status == Status.COMPLETED
            if job.status in TERMINAL:
                self.terminal[key] = job.status
            else:
                self.terminal.pop(key, None)
        completions = JobEvent.objects.filter(job__space=self.space, type="job.completed")
        per_job = completions.values_list("job_id", flat=True)
        assert len(list(per_job)) == len(set(per_job))
        self.retried.clear()


@pytest.mark.timeout(900)
@pytest.mark.django_db
def test_lifecycle_invariants_hold_under_random_interleavings():
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
