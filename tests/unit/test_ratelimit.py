"""Rate limits: parsing "N/period", and the in-process sliding-window limiter on a fake clock."""

from __future__ import annotations

import math
import random

import pytest

from ruang.ratelimit import (
    MAX_COUNT,
    Limit,
    MemoryRateLimiter,
    RateLimited,
    RateLimiter,
    RedisRateLimiter,
    key_digest,
)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> MemoryRateLimiter:
    return MemoryRateLimiter(clock=clock)


LOGIN = Limit("login-ip", 3, 60.0)


# --- Limit.parse ------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "count", "per"), [
    ("10/minute", 10, 60.0),
    ("5/15min", 5, 900.0),
    ("100/hour", 100, 3600.0),
    ("20/day", 20, 86400.0),
    ("3/30s", 3, 30.0),
    ("1/second", 1, 1.0),
    ("2/seconds", 2, 1.0),
    ("4/sec", 4, 1.0),
    ("6/m", 6, 60.0),
    ("6/mins", 6, 60.0),
    ("6/minutes", 6, 60.0),
    ("7/h", 7, 3600.0),
    ("7/2hr", 7, 7200.0),
    ("7/hours", 7, 3600.0),
    ("8/d", 8, 86400.0),
    ("8/7days", 8, 7 * 86400.0),
    ("2/0.5s", 2, 0.5),
    ("1/1.5h", 1, 5400.0),
    ("10/MINUTE", 10, 60.0),
    ("  10 / 15 min  ", 10, 900.0),
    ("20 per day", 20, 86400.0),
    (f"{MAX_COUNT}/day", MAX_COUNT, 86400.0),
])
def test_parse_accepts_every_format(spec: str, count: int, per: float) -> None:
    assert Limit.parse("login-ip", spec) == Limit("login-ip", count, per)


@pytest.mark.parametrize("spec", [
    "", "   ", "10", "10/", "/minute", "minute", "ten/minute", "10/minute/2", "1.5/minute",
    "-1/minute", "10/-1min", "10/1e3s", "10/15", "10//minute", "10/fortnight", "10/ms",
    "10/week", "10 minute", "0/minute", "10/0min", "10/0s", f"{MAX_COUNT + 1}/day",
    "10/400days", "10/0.0001s", "\u0661\u0660/minute",
])
def test_parse_rejects_bad_specs_clearly(spec: str) -> None:
    with pytest.raises(ValueError, match="login-ip") as info:
        Limit.parse("login-ip", spec)
    assert repr(spec) in str(info.value)


def test_parse_explains_the_expected_format() -> None:
    with pytest.raises(ValueError, match=r"expected COUNT/PERIOD such as '10/minute'"):
        Limit.parse("login-ip", "lots")
    with pytest.raises(ValueError, match="unknown unit 'fortnight'"):
        Limit.parse("login-ip", "10/fortnight")
    with pytest.raises(ValueError, match=f"count must be between 1 and {MAX_COUNT}"):
        Limit.parse("login-ip", "0/minute")


def test_parse_rejects_a_non_string() -> None:
    with pytest.raises(ValueError, match="cannot parse 10"):
        Limit.parse("login-ip", 10)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "login ip", "login:ip", "-login", "ip/v4", "x" * 65,
                                  "l\u00f6gin", "login\n"])
def test_limit_names_are_safe_in_redis_keys(name: str) -> None:
    with pytest.raises(ValueError, match="rate limit name"):
        Limit(name, 1, 1.0)
    with pytest.raises(ValueError, match="rate limit name"):
        Limit.parse(name, "1/minute")


@pytest.mark.parametrize(("count", "per"), [
    (0, 1.0), (-1, 1.0), (MAX_COUNT + 1, 1.0), (True, 1.0), (1.5, 1.0),
    (1, 0.0), (1, -1.0), (1, math.nan), (1, math.inf), (1, 0.0001), (1, 400 * 86400.0),
    (1, True), (1, "60"),
])
def test_limit_checks_count_and_period(count: object, per: object) -> None:
    with pytest.raises(ValueError, match="'x'"):
        Limit("x", count, per)  # type: ignore[arg-type]


@pytest.mark.parametrize(("limit", "text"), [
    (Limit("a", 10, 60.0), "10 per minute"),
    (Limit("a", 5, 900.0), "5 per 15 minutes"),
    (Limit("a", 100, 3600.0), "100 per hour"),
    (Limit("a", 20, 86400.0), "20 per day"),
    (Limit("a", 3, 30.0), "3 per 30 seconds"),
    (Limit("a", 1, 1.0), "1 per second"),
    (Limit("a", 2, 0.5), "2 per 0.5 seconds"),
    (Limit("a", 2, 90.0), "2 per 90 seconds"),
    (Limit("a", 2, 7200.0), "2 per 2 hours"),
])
def test_describe(limit: Limit, text: str) -> None:
    assert limit.describe() == text


@pytest.mark.parametrize(("retry_after", "header", "when"), [
    (0.2, "1", "1 second"),
    (1.0, "1", "1 second"),
    (1.01, "2", "2 seconds"),
    (44.5, "45", "45 seconds"),
    (150.0, "150", "3 minutes"),
    (2 * 3600.0, "7200", "2 hours"),
    (3 * 86400.0, "259200", "3 days"),
])
def test_rate_limited_message_and_header(retry_after: float, header: str, when: str) -> None:
    exc = RateLimited(Limit("login-ip", 5, 900.0), retry_after)
    assert exc.retry_after == retry_after
    assert exc.retry_after_header == header
    assert exc.message == str(exc)
    assert exc.message == f"Too many attempts (5 per 15 minutes allowed); try again in {when}."


def test_rate_limited_retry_after_is_positive() -> None:
    assert RateLimited(LOGIN, 0.0).retry_after > 0
    assert RateLimited(LOGIN, -3.0).retry_after_header == "1"


# --- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "203.0.113.7", "2001:db8::1", "alice", "a" * 1_000_000,
                                 "ruang:rl:* \r\n\x00", "\u00e9\u00e8 \U0001f600",
                                 "\ud800 lone surrogate"])
async def test_any_key_is_stored_bounded_and_safe(key: str) -> None:
    digest = key_digest(key)
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")
    redis_limiter = RedisRateLimiter("redis://127.0.0.1:1")
    try:
        assert redis_limiter.redis_key(LOGIN, key) == f"ruang:rl:login-ip:{digest}"
    finally:
        await redis_limiter.close()
    limiter = MemoryRateLimiter(clock=FakeClock())
    await limiter.hit(Limit("k", 1, 60.0), key)
    with pytest.raises(RateLimited):
        await limiter.hit(Limit("k", 1, 60.0), key)


def test_distinct_keys_have_distinct_digests() -> None:
    assert key_digest("alice") != key_digest("Alice")
    assert key_digest("a:b") != key_digest("a\x00b")


# --- MemoryRateLimiter ------------------------------------------------------------------------


def test_limiters_satisfy_the_protocol() -> None:
    memory: RateLimiter = MemoryRateLimiter()
    assert isinstance(memory, MemoryRateLimiter)


async def test_n_events_pass_and_the_next_is_refused(limiter: MemoryRateLimiter,
                                                     clock: FakeClock) -> None:
    for _ in range(3):
        await limiter.hit(LOGIN, "203.0.113.7")
        clock.advance(1.0)
    with pytest.raises(RateLimited) as info:
        await limiter.hit(LOGIN, "203.0.113.7")
    assert info.value.limit is LOGIN
    # The first event (at t=0) leaves the window at t=60; it is now t=3.
    assert info.value.retry_after == pytest.approx(57.0)
    assert info.value.retry_after_header == "57"


async def test_allowed_again_once_the_window_has_passed(limiter: MemoryRateLimiter,
                                                        clock: FakeClock) -> None:
    for _ in range(3):
        await limiter.hit(LOGIN, "k")
    clock.advance(59.999)
    with pytest.raises(RateLimited) as info:
        await limiter.hit(LOGIN, "k")
    assert info.value.retry_after == pytest.approx(0.001)
    clock.advance(0.001)
    for _ in range(3):
        await limiter.hit(LOGIN, "k")
    with pytest.raises(RateLimited) as info:
        await limiter.hit(LOGIN, "k")
    assert info.value.retry_after == pytest.approx(60.0)


async def test_the_window_slides(limiter: MemoryRateLimiter, clock: FakeClock) -> None:
    for _ in range(3):  # events at t=0, 10, 20
        await limiter.hit(LOGIN, "k")
        clock.advance(10.0)
    with pytest.raises(RateLimited) as info:  # t=30
        await limiter.hit(LOGIN, "k")
    assert info.value.retry_after == pytest.approx(30.0)
    clock.advance(30.0)  # t=60: the event at t=0 has left, the others have not
    await limiter.hit(LOGIN, "k")
    with pytest.raises(RateLimited) as info:
        await limiter.hit(LOGIN, "k")
    assert info.value.retry_after == pytest.approx(10.0)
    # No window of 60 s ever held more than 3 events: not a fixed window, not a bucket.
    clock.advance(10.0)
    await limiter.hit(LOGIN, "k")
    with pytest.raises(RateLimited):
        await limiter.hit(LOGIN, "k")


async def test_refused_attempts_are_not_counted(limiter: MemoryRateLimiter,
                                                clock: FakeClock) -> None:
    for _ in range(3):
        await limiter.hit(LOGIN, "k")
    for _ in range(50):
        clock.advance(1.0)
        with pytest.raises(RateLimited):
            await limiter.hit(LOGIN, "k")
    clock.advance(10.0)  # t=60
    await limiter.hit(LOGIN, "k")


async def test_keys_and_limits_are_independent(limiter: MemoryRateLimiter) -> None:
    login_account = Limit("login-account", 3, 60.0)
    one = Limit("invite", 1, 60.0)
    for _ in range(3):
        await limiter.hit(LOGIN, "203.0.113.7")
    with pytest.raises(RateLimited):
        await limiter.hit(LOGIN, "203.0.113.7")
    for _ in range(3):
        await limiter.hit(LOGIN, "203.0.113.8")
        await limiter.hit(login_account, "203.0.113.7")
    await limiter.hit(one, "203.0.113.7")
    with pytest.raises(RateLimited) as info:
        await limiter.hit(one, "203.0.113.7")
    assert info.value.limit is one


async def test_reset_forgets_the_key(limiter: MemoryRateLimiter) -> None:
    for _ in range(3):
        await limiter.hit(LOGIN, "alice")
        await limiter.hit(LOGIN, "bob")
    await limiter.reset(LOGIN, "alice")
    assert await limiter.peek(LOGIN, "alice") == 0.0
    assert await limiter.peek(LOGIN, "bob") > 0
    for _ in range(3):
        await limiter.hit(LOGIN, "alice")
    with pytest.raises(RateLimited):
        await limiter.hit(LOGIN, "alice")
    await limiter.reset(LOGIN, "nobody")
    await limiter.reset(Limit("unused", 1, 1.0), "alice")
    assert len(limiter) == 2


async def test_peek_does_not_count(limiter: MemoryRateLimiter, clock: FakeClock) -> None:
    for _ in range(10):
        assert await limiter.peek(LOGIN, "k") == 0.0
    await limiter.hit(LOGIN, "k")
    clock.advance(5.0)
    await limiter.hit(LOGIN, "k")
    assert await limiter.peek(LOGIN, "k") == 0.0
    await limiter.hit(LOGIN, "k")
    assert await limiter.peek(LOGIN, "k") == pytest.approx(55.0)
    assert await limiter.peek(LOGIN, "k") == pytest.approx(55.0)
    clock.advance(50.0)
    assert await limiter.peek(LOGIN, "k") == pytest.approx(5.0)
    clock.advance(5.0)
    assert await limiter.peek(LOGIN, "k") == 0.0
    await limiter.hit(LOGIN, "k")  # the peeks above left the events as they were
    assert await limiter.peek(LOGIN, "k") == pytest.approx(5.0)


async def test_peek_agrees_with_retry_after(limiter: MemoryRateLimiter,
                                            clock: FakeClock) -> None:
    for _ in range(3):
        await limiter.hit(LOGIN, "k")
        clock.advance(7.0)
    waited = await limiter.peek(LOGIN, "k")
    with pytest.raises(RateLimited) as info:
        await limiter.hit(LOGIN, "k")
    assert info.value.retry_after == waited == pytest.approx(39.0)


async def test_expired_keys_are_pruned(limiter: MemoryRateLimiter, clock: FakeClock) -> None:
    short = Limit("short", 1, 10.0)
    for i in range(1000):
        await limiter.hit(short, f"ip-{i}")
        await limiter.hit(LOGIN, f"ip-{i}")
    assert len(limiter) == 2000
    clock.advance(10.0)
    await limiter.hit(short, "another")
    assert len(limiter) == 1001  # the short limit's keys went; the 60 s limit's stay
    clock.advance(50.0)
    await limiter.hit(short, "another")
    assert len(limiter) == 1
    assert await limiter.peek(LOGIN, "ip-1") == 0.0


async def test_pruning_keeps_a_key_with_recent_events(limiter: MemoryRateLimiter,
                                                      clock: FakeClock) -> None:
    await limiter.hit(LOGIN, "old")
    await limiter.hit(LOGIN, "busy")
    clock.advance(30.0)
    await limiter.hit(LOGIN, "busy")
    await limiter.hit(LOGIN, "busy")
    clock.advance(30.0)  # "old" and the first event of "busy" have left the window
    await limiter.hit(LOGIN, "new")
    assert len(limiter) == 2
    await limiter.hit(LOGIN, "busy")
    with pytest.raises(RateLimited) as info:
        await limiter.hit(LOGIN, "busy")
    assert info.value.retry_after == pytest.approx(30.0)


async def test_a_flood_of_random_keys_is_capped(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(clock=clock, max_keys=100)
    rng = random.Random(7)
    for _ in range(5000):
        await limiter.hit(LOGIN, f"{rng.getrandbits(64):x}")
        clock.advance(0.001)
        assert len(limiter) <= 100
    assert len(limiter) == 100


async def test_the_cap_evicts_the_least_recently_hit_key(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(clock=clock, max_keys=3)
    one = Limit("one", 1, 3600.0)
    other = Limit("other", 1, 60.0)
    await limiter.hit(one, "a")
    clock.advance(1.0)
    await limiter.hit(other, "b")
    clock.advance(1.0)
    await limiter.hit(one, "c")
    clock.advance(1.0)
    await limiter.hit(other, "d")  # over the cap: "a" (hit first) goes, whatever its limit
    assert len(limiter) == 3
    assert await limiter.peek(one, "a") == 0.0
    for limit, key in ((other, "b"), (one, "c"), (other, "d")):
        assert await limiter.peek(limit, key) > 0
    clock.advance(1.0)
    await limiter.hit(one, "e")  # then "b"
    assert await limiter.peek(other, "b") == 0.0
    assert await limiter.peek(one, "c") > 0
    assert len(limiter) == 3


async def test_hitting_an_existing_key_at_the_cap_evicts_nothing(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(clock=clock, max_keys=2)
    two = Limit("two", 2, 60.0)
    await limiter.hit(two, "a")
    await limiter.hit(two, "b")
    await limiter.hit(two, "b")
    await limiter.hit(two, "a")
    assert len(limiter) == 2
    assert await limiter.peek(two, "a") > 0
    assert await limiter.peek(two, "b") > 0


async def test_a_cap_of_one(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(clock=clock, max_keys=1)
    one = Limit("one", 1, 60.0)
    await limiter.hit(one, "a")
    await limiter.hit(Limit("two", 1, 60.0), "a")
    assert len(limiter) == 1
    await limiter.hit(one, "a")  # forgotten, so allowed again


def test_max_keys_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        MemoryRateLimiter(max_keys=0)


async def test_close_forgets_everything(limiter: MemoryRateLimiter) -> None:
    await limiter.hit(LOGIN, "k")
    await limiter.close()
    assert len(limiter) == 0
    assert await limiter.peek(LOGIN, "k") == 0.0


async def test_the_real_clock_by_default() -> None:
    limiter = MemoryRateLimiter()
    await limiter.hit(Limit("x", 1, 3600.0), "k")
    with pytest.raises(RateLimited) as info:
        await limiter.hit(Limit("x", 1, 3600.0), "k")
    assert 3599.0 < info.value.retry_after <= 3600.0
