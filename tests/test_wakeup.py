"""Long-poll wake-ups: n new jobs wake n waiting pollers of a process, not all of them."""

import threading
import time
import uuid

import psycopg
import pytest

from jobs import lifecycle, wakeup
from tests.conftest import SYSTEM
from tests.test_background_celery import database_url

WAITERS = 5
# Waiters time out after this; a wake well before it was a real wake, not the timeout.
TIMEOUT = 3.0


class Waiters:
    """WAITERS threads waiting on one key; records when each returned."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.returned: list[float] = []
        self.threads = [threading.Thread(target=self._wait) for _ in range(WAITERS)]
        for t in self.threads:
            t.start()
        time.sleep(0.5)  # all of them asleep in wait()

    def _wait(self) -> None:
        seen = wakeup.version(self.key)
        wakeup.wait(self.key, seen, timeout=TIMEOUT)
        self.returned.append(time.monotonic())

    def woken_within(self, since: float, seconds: float) -> int:
        time.sleep(seconds)
        return sum(1 for t in self.returned if t - since < seconds)

    def join(self) -> None:
        for t in self.threads:
            t.join(TIMEOUT + 2)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 3])
def test_n_notifications_wake_n_waiters(count):
    waiters = Waiters(str(uuid.uuid4()))
    sent = time.monotonic()
    wakeup.notify(waiters.key, count)
    assert waiters.woken_within(sent, 1.0) == count
    waiters.join()
    assert len(waiters.returned) == WAITERS  # the rest at their timeout, none stuck


@pytest.mark.django_db
def test_a_waiter_that_checks_after_the_wake_does_not_sleep():
    key = str(uuid.uuid4())
    seen = wakeup.version(key)
    wakeup.notify(key, 1)
    began = time.monotonic()
    assert wakeup.wait(key, seen, timeout=TIMEOUT) is True
    assert time.monotonic() - began < 0.5


@pytest.mark.django_db
def test_another_process_wakes_one_waiter_here():
    waiters = Waiters(str(uuid.uuid4()))
    wakeup.ensure_listener()
    with psycopg.connect(database_url(), autocommit=True) as other:
        sent = time.monotonic()
        other.execute(
            "SELECT pg_notify(%s, %s)", [wakeup.CHANNEL, f"{waiters.key} 1 another-process"]
        )
        # The listener may still be connecting: the wake counts once it arrives.
        deadline = sent + 2
        while not waiters.returned and time.monotonic() < deadline:
            time.sleep(0.02)
    assert waiters.woken_within(sent, 0.3 + (time.monotonic() - sent)) == 1
    waiters.join()


@pytest.mark.django_db
def test_creating_jobs_wakes_one_poller_per_job(space, django_capture_on_commit_callbacks):
    waiters = Waiters(str(space.pk))
    specs = [lifecycle.JobSpec(name="work") for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.create_many(space, specs, actor=SYSTEM)
    sent = time.monotonic()
    assert waiters.woken_within(sent, 1.0) == 2
    waiters.join()


def notifications_seen(key: str, action, seconds: float = 0.5) -> list[str]:
    """The wake-up notifications for `key` that other processes would get during `action`."""
    with psycopg.connect(database_url(), autocommit=True) as listen:
        listen.execute(f"LISTEN {wakeup.CHANNEL}")
        action()
        return [n.payload for n in listen.notifies(timeout=seconds) if n.payload.startswith(key)]


@pytest.mark.django_db(transaction=True)  # NOTIFY is sent at commit
def test_a_waiter_here_takes_the_job_and_no_other_process_is_asked():
    waiters = Waiters(str(uuid.uuid4()))
    assert notifications_seen(waiters.key, lambda: wakeup.notify(waiters.key, 1, "work")) == []
    assert len(waiters.returned) == 1
    waiters.join()


@pytest.mark.django_db(transaction=True)
def test_jobs_without_a_waiter_here_are_announced_to_the_other_processes():
    key = str(uuid.uuid4())
    (payload,) = notifications_seen(key, lambda: wakeup.notify(key, 3, "work"))
    assert payload.split()[1] == "3"
    assert payload.split()[3] == "work"
    waiters = Waiters(str(uuid.uuid4()))  # 5 here: 2 of 7 jobs go elsewhere
    (payload,) = notifications_seen(waiters.key, lambda: wakeup.notify(waiters.key, 7))
    assert payload.split()[1] == "2"
    waiters.join()


@pytest.mark.django_db
def test_only_waiters_for_the_jobs_queue_are_woken():
    key = str(uuid.uuid4())
    woken: dict[str, float] = {}

    def wait(names: list[str] | None, label: str) -> None:
        if wakeup.wait(key, wakeup.version(key), timeout=TIMEOUT, names=names):
            woken[label] = time.monotonic()

    threads = [
        threading.Thread(target=wait, args=(["emails"], "emails")),
        threading.Thread(target=wait, args=(["images", "video"], "images")),
    ]
    for t in threads:
        t.start()
    time.sleep(0.3)
    wakeup.notify(key, 1, "images")
    time.sleep(0.3)
    assert list(woken) == ["images"]
    wakeup.notify(key, 1, None)  # a job of any queue (e.g. from an older sender) wakes anyone
    for t in threads:
        t.join(TIMEOUT + 1)
    assert sorted(woken) == ["emails", "images"]
