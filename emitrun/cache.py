"""Django's Redis cache backend, with one Redis client per connection pool.

Django's RedisCacheClient builds a new `redis.Redis` object for every cache call, and
building one sets up its table of response callbacks: on the API's hot path (the
per-address failure throttle reads the cache on every authenticated request) that cost
more than the round trip to Redis. A `redis.Redis` over a connection pool is safe to
share between threads, so each pool gets one, made on first use.
"""

from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)
            client = self._clients.setdefault(index, self._client(connection_pool=pool))
        return client


class SharedClientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = _SharedClientRedisCacheClient

    def count(self, key: str, timeout: int) -> int:
        """Adds one to the counter at `key`, made with `timeout` seconds to live if
        missing, in one round trip (`add` then `incr` take three: SET NX, EXISTS, INCR).
        A script, so the key cannot expire between its steps and come back without one.
        """
        key = self.make_and_validate_key(key)
        client = self._cache.get_client(key, write=True)
        return client.register_script(_COUNT)(keys=[key], args=[timeout])


_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('TTL', KEYS[1]) < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
"""


def count(key: str, timeout: int) -> int:
    """Adds one to a counter in the default cache that lives `timeout` seconds from its
    first count, and returns its value: one round trip on Redis, `add` and `incr` on the
    other backends (the development default).
    """
    backend = caches["default"]
    if isinstance(backend, SharedClientRedisCache):
        return backend.count(key, timeout)
    backend.add(key, 0, timeout=timeout)
    try:
        return backend.incr(key)
    except ValueError:  # expired between add() and incr(): a new window
        backend.add(key, 1, timeout=timeout)
        return 1
