from django.conf import settings
from django.db import connection


def test_suite_runs_on_postgresql_and_redis(db):
    assert connection.vendor == "postgresql"
    assert settings.REDIS_URL.startswith("redis://")


def test_worker_loop_over_http(api, space):
    r = api.producer.post("/api/v1/jobs", {"name": "send-email", "payload": {"to": "a@b.c"}})
    assert r.status_code == 201, r.content
    r = api.worker.post(f"/api/v1/spaces/{space.id}/jobs/poll", {"limit": 5})
    job = r.json()["jobs"][0]
    url = f"/api/v1/jobs/{job['id']}"
    assert api.worker.post(f"{url}/ack", {"lease_id": job["lease_id"]}).status_code == 200
    r = api.worker.post(f"{url}/complete", {"lease_id": job["lease_id"], "result": {"ok": 1}})
    assert r.json()["job"]["status"] == "completed"


def test_the_redis_cache_shares_one_client_per_pool_across_threads():
    import threading

    from django.core.cache import caches

    from emitrun.cache import SharedClientRedisCache

    cache = caches["default"]
    assert isinstance(cache, SharedClientRedisCache)
    assert cache._cache.get_client() is cache._cache.get_client(write=True)
    errors = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                cache.set(f"smoke:{n}:{i}", i, 30)
                assert cache.get(f"smoke:{n}:{i}") == i
                assert cache.incr(f"smoke:{n}:{i}") == i + 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
