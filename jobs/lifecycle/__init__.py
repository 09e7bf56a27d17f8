"""The job state machine: the only code that changes a job's status, lease or events.

  from              | event                                   | to
  ------------------+-----------------------------------------+------------------------------
  -                 | create, no scheduled_for (or past)      | pending
  -                 | create with future scheduled_for        | scheduled
  scheduled         | its time comes (claim, sweeper)         | pending
  pending           | poll / claim by id                      | delivered (delivery timeout)
  pending           | claim that acks (Spooled claim)         | running (lease)
  delivered         | ack                                     | running (execution timeout)
  delivered         | delivery timeout, no ack                | pending (attempt not counted)
  running           | progress / checkpoint / event / keepalive | running (timeout restarts)
  running           | complete                                | completed
  running           | fail or execution timeout, retries left | scheduled until backoff is due
  running           | fail or execution timeout, none left    | dead
  dead/killed/cancelled | retry (operator, DLQ redrive)       | pending, attempts reset
  any non-terminal  | kill                                    | killed
  scheduled/pending | cancel                                  | cancelled

Every public function runs in one transaction: it checks the transition, makes a
guarded UPDATE on the locked row, appends the JobEvent(s), writes any outbound
Delivery rows, and on commit publishes the events and wakes long-polling workers.
"""

from jobs.lifecycle import bulk
from jobs.lifecycle.batch import ItemOutcome, LeaseItem, ack_many, complete_many
from jobs.lifecycle.callbacks import record_callback
from jobs.lifecycle.claim import claim_one, claim_running, poll
from jobs.lifecycle.core import Actor, ref
from jobs.lifecycle.create import Created, JobSpec, create, create_many, tag_names
from jobs.lifecycle.operator import (
    cancel,
    delete_jobs_of_queue,
    kill,
    purge_dead,
    retry,
    retry_dead,
    set_priority,
)
from jobs.lifecycle.retention import prune_finished
from jobs.lifecycle.sweep import expire_overdue, settle
from jobs.lifecycle.worker import ack, add_event, checkpoint, complete, fail, keepalive, progress

__all__ = [
    "Actor",
    "Created",
    "ItemOutcome",
    "JobSpec",
    "LeaseItem",
    "ack",
    "ack_many",
    "add_event",
    "bulk",
    "cancel",
    "checkpoint",
    "claim_one",
    "claim_running",
    "complete",
    "complete_many",
    "create",
    "create_many",
    "delete_jobs_of_queue",
    "expire_overdue",
    "fail",
    "keepalive",
    "kill",
    "poll",
    "progress",
    "prune_finished",
    "purge_dead",
    "record_callback",
    "ref",
    "retry",
    "retry_dead",
    "set_priority",
    "settle",
    "tag_names",
]
