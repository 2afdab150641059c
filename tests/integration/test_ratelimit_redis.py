"""The Redis rate limiter against the real Redis on 127.0.0.1:6379 (skipped without it, except
in CI, where it must be there). Every test uses its own limit name, so runs cannot collide."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ruang.ratelimit import (
    Limit,
    RateLimited,
    RateLimiter,
    RateLimiterUnavailable,
    RedisRateLimiter,
)
from tests.conftest import require

REDIS_URL = os.environ.get("RUANG_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        await redis.ping()
        available = True
    except (RedisError, OSError):
        available = False
    if not available:
        await redis.aclose()
    require(available, f"Redis at {REDIS_URL}")
    yield redis
    await redis.aclose()


@pytest.fixture
async def name(client: aioredis.Redis) -> AsyncIterator[str]:
    """A limit name of this test's own (and its prefix); their keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    yield name
    keys = [key async for key in client.scan_iter(match=f"ruang:rl:{name}*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def limiter() -> AsyncIterator[RedisRateLimiter]:
    limiter = RedisRateLimiter(REDIS_URL)
    yield limiter
    await limiter.close()


@pytest.mark.redis
async def test_n_events_pass_and_the_next_is_refused(limiter: RedisRateLimiter,
                                                     name: str) -> None:
    limit = Limit(name, 3, 60.0)
    for _ in range(3):
        await limiter.hit(limit, "203.0.113.7")
    with pytest.raises(RateLimited) as info:
        await limiter.hit(limit, "203.0.113.7")
    assert info.value.limit is limit
    assert 59.0 < info.value.retry_after <= 60.0
    assert info.value.retry_after_header == "60"
    assert 59.0 < await limiter.peek(limit, "203.0.113.7") <= 60.0
    await limiter.hit(limit, "203.0.113.8")  # another key
    await limiter.hit(Limit(f"{name}-b", 1, 60.0), "203.0.113.7")  # another limit


@pytest.mark.redis
async def test_two_instances_share_counts(client: aioredis.Redis, name: str) -> None:
    limit = Limit(name, 4, 60.0)
    one: RateLimiter = RedisRateLimiter(REDIS_URL)
    two: RateLimiter = RedisRateLimiter(client)  # one made from a URL, one given a client
    try:
        await one.hit(limit, "alice")
        await two.hit(limit, "alice")
        await one.hit(limit, "alice")
        assert await two.peek(limit, "alice") == 0.0
        await two.hit(limit, "alice")
        for limiter in (one, two):
            with pytest.raises(RateLimited):
                await limiter.hit(limit, "alice")
            assert await limiter.peek(limit, "alice") > 0
        await one.reset(limit, "alice")
        await two.hit(limit, "alice")
    finally:
        await one.close()
        await two.close()
    assert await client.ping()  # closing the limiter left the client it was given open


@pytest.mark.redis
async def test_concurrent_hits_are_counted_atomically(client: aioredis.Redis,
                                                      name: str) -> None:
    limit = Limit(name, 5, 60.0)
    limiters = [RedisRateLimiter(REDIS_URL) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(limiters[i % 4].hit(limit, "k") for i in range(40)), return_exceptions=True)
    finally:
        for limiter in limiters:
            await limiter.close()
    assert sum(r is None for r in results) == 5
    assert all(r is None or isinstance(r, RateLimited) for r in results)
    assert await client.zcard(RedisRateLimiter.redis_key(limit, "k")) == 5


@pytest.mark.redis
async def test_keys_are_namespaced_hashed_and_expire(limiter: RedisRateLimiter,
                                                     client: aioredis.Redis, name: str) -> None:
    limit = Limit(name, 2, 1.0)
    hostile = "ruang:rl:* \r\n" + "x" * 10_000
    await limiter.hit(limit, hostile)
    keys = [key async for key in client.scan_iter(match=f"ruang:rl:{name}:*")]
    assert keys == [RedisRateLimiter.redis_key(limit, hostile).encode()]
    assert len(keys[0]) == len(f"ruang:rl:{name}:") + 64
    ttl = await client.pttl(keys[0])
    assert 0 < ttl <= 1000
    await asyncio.sleep(1.1)
    assert await client.exists(keys[0]) == 0  # gone by itself


@pytest.mark.redis
async def test_allowed_again_after_the_window(limiter: RedisRateLimiter, name: str) -> None:
    limit = Limit(name, 2, 1.0)
    await limiter.hit(limit, "k")
    await asyncio.sleep(0.4)
    await limiter.hit(limit, "k")
    with pytest.raises(RateLimited) as info:
        await limiter.hit(limit, "k")
    assert 0.1 < info.value.retry_after < 0.65  # the first event leaves at t=1.0
    await asyncio.sleep(info.value.retry_after + 0.02)
    await limiter.hit(limit, "k")  # the window slid past the first event only
    with pytest.raises(RateLimited) as info:
        await limiter.hit(limit, "k")
    assert 0 < info.value.retry_after < 0.45  # the second leaves at t=1.4


@pytest.mark.redis
async def test_peek_does_not_count(limiter: RedisRateLimiter, name: str) -> None:
    limit = Limit(name, 2, 60.0)
    for _ in range(10):
        assert await limiter.peek(limit, "k") == 0.0
    await limiter.hit(limit, "k")
    assert await limiter.peek(limit, "k") == 0.0
    await limiter.hit(limit, "k")
    assert await limiter.peek(limit, "k") > 59.0
    with pytest.raises(RateLimited):
        await limiter.hit(limit, "k")


@pytest.mark.redis
async def test_reset_forgets_the_key(limiter: RedisRateLimiter, client: aioredis.Redis,
                                     name: str) -> None:
    limit = Limit(name, 1, 60.0)
    await limiter.hit(limit, "alice")
    await limiter.hit(limit, "bob")
    await limiter.reset(limit, "alice")
    assert await client.exists(RedisRateLimiter.redis_key(limit, "alice")) == 0
    await limiter.hit(limit, "alice")
    with pytest.raises(RateLimited):
        await limiter.hit(limit, "bob")
    await limiter.reset(limit, "nobody")


@pytest.mark.redis
async def test_refused_attempts_are_not_stored(limiter: RedisRateLimiter,
                                               client: aioredis.Redis, name: str) -> None:
    limit = Limit(name, 2, 60.0)
    for _ in range(2):
        await limiter.hit(limit, "k")
    for _ in range(20):
        with pytest.raises(RateLimited):
            await limiter.hit(limit, "k")
    assert await client.zcard(RedisRateLimiter.redis_key(limit, "k")) == 2


async def test_unreachable_redis_raises_rate_limiter_unavailable() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0")
    limit = Limit("unreachable", 1, 60.0)
    started = time.monotonic()
    try:
        with pytest.raises(RateLimiterUnavailable, match="Redis is unavailable"):
            await limiter.hit(limit, "k")
        with pytest.raises(RateLimiterUnavailable):
            await limiter.peek(limit, "k")
        with pytest.raises(RateLimiterUnavailable) as info:
            await limiter.reset(limit, "k")
        assert isinstance(info.value.__cause__, RedisError | OSError)
    finally:
        await limiter.close()
    assert time.monotonic() - started < 5.0
