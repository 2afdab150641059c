"""Rate limits for login, sign-up, invitations and password resets, per IP and per account.

A :class:`Limit` says how many events a key may have in a period ("5/15min"). A limiter counts
events per (limit, key) and raises :class:`RateLimited` (with ``retry_after`` in seconds) when
one more would go over; the API answers that with 429 and a ``Retry-After`` header.

Algorithm: an exact sliding-window log. A key may have at most ``count`` events in *any*
window of ``per`` seconds; the limiter keeps the times of the key's recent events (never more
than ``count`` of them) and refuses an event while ``count`` of them are younger than ``per``.
``retry_after`` is then exactly the time until the oldest of those leaves the window. Refused
attempts are not counted, so someone who keeps hammering is let in again on time rather than
locked out for good (the per-IP limit is what slows a flood). Compared with a token bucket or
GCRA, which would let a key have up to about twice ``count`` events in a window, this is the
strict reading of "5 per 15 minutes" that brute-force protection wants; its cost is memory
proportional to ``count``, hence the cap :data:`MAX_COUNT` (these limits are small).

Keys are arbitrary user input (IPs, usernames, emails): they are never stored as given but as
their SHA-256, so every key is short, of fixed length and safe in a Redis key name.

:class:`MemoryRateLimiter` counts in this process only (one server). Its memory is bounded:
keys whose window has passed are pruned as it goes, and past ``max_keys`` keys it forgets the
ones least recently hit, so a flood of random keys cannot exhaust memory.

:class:`RedisRateLimiter` shares counts between several Ruang processes. Each check is one Lua
script (atomic on the server, timed with the server's clock so processes' clocks do not
matter) on a sorted set ``ruang:rl:{limit.name}:{sha256(key)}`` that expires by itself
(``PEXPIRE``) one window after its last event. (Calling TIME before writing needs Redis 5 or
later, where scripts are replicated by their effects.)

When Redis is unreachable (or answers with an error) the Redis limiter raises
:class:`RateLimiterUnavailable` instead of letting a redis-py exception escape as a 500. It
does not decide between failing open (let the request through, and log) and failing closed
(answer 503): that is the caller's policy, made where the exception is caught.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = [
    "MAX_COUNT",
    "MAX_PERIOD",
    "Limit",
    "MemoryRateLimiter",
    "RateLimited",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisRateLimiter",
    "key_digest",
]

#: The most events a limit may allow per period (the sliding-window log stores one time per
#: event, per key).
MAX_COUNT = 10_000
#: The longest period a limit may have, in seconds (a year).
MAX_PERIOD = 366 * 86400.0

KEY_PREFIX = "ruang:rl:"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)

_UNITS: dict[str, float] = {
    unit: seconds
    for units, seconds in ((("s", "sec", "secs", "second", "seconds"), 1.0),
                           (("m", "min", "mins", "minute", "minutes"), 60.0),
                           (("h", "hr", "hrs", "hour", "hours"), 3600.0),
                           (("d", "day", "days"), 86400.0))
    for unit in units
}

_SPEC = re.compile(r"\s*(?P<count>\d+)\s*(?:/|per\s)\s*(?P<amount>\d+(?:\.\d+)?)?\s*"
                   r"(?P<unit>[A-Za-z]+)\s*", re.ASCII)

_SPEC_HELP = ("expected COUNT/PERIOD such as '10/minute', '5/15min', '100/hour', '20/day' or "
              "'3/30s' (units: s, min, hour, day)")


def _plural(n: float, unit: str) -> str:
    text = f"{n:g}"
    return f"{text} {unit}" if text == "1" else f"{text} {unit}s"


def _duration(seconds: float) -> str:
    """A rough, readable duration: '45 seconds', '3 minutes', '2 hours', '1 day'."""
    if seconds < 60:
        return _plural(max(1, math.ceil(seconds)), "second")
    if seconds < 3600:
        return _plural(math.ceil(seconds / 60), "minute")
    if seconds < 86400:
        return _plural(math.ceil(seconds / 3600), "hour")
    return _plural(math.ceil(seconds / 86400), "day")


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events per ``per`` seconds, under ``name`` (e.g. "login-ip")."""

    name: str
    count: int
    per: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"rate limit name {self.name!r} must be 1-64 letters, digits, "
                             "'.', '-' or '_', starting with a letter or digit")
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            raise ValueError(f"rate limit {self.name!r}: count must be an integer")
        if not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"rate limit {self.name!r}: count must be between 1 and "
                             f"{MAX_COUNT}, not {self.count}")
        if (isinstance(self.per, bool) or not isinstance(self.per, int | float)
                or not 0.001 <= self.per <= MAX_PERIOD):
            raise ValueError(f"rate limit {self.name!r}: the period must be between 0.001 "
                             f"and {MAX_PERIOD:g} seconds, not {self.per!r}")

    @classmethod
    def parse(cls, name: str, spec: str) -> Limit:
        """``Limit.parse("login-ip", "10/minute")``; also "5/15min", "3/30s", "20 per day".

        Raises ValueError, naming the limit and the text, when ``spec`` is not understood.
        """
        match = _SPEC.fullmatch(spec) if isinstance(spec, str) else None
        if match is None:
            raise ValueError(f"rate limit {name!r}: cannot parse {spec!r}: {_SPEC_HELP}")
        unit = match["unit"].lower()
        if unit not in _UNITS:
            raise ValueError(f"rate limit {name!r}: unknown unit {match['unit']!r} in "
                             f"{spec!r}: {_SPEC_HELP}")
        amount = float(match["amount"]) if match["amount"] is not None else 1.0
        if amount <= 0:
            raise ValueError(f"rate limit {name!r}: the period in {spec!r} must be longer "
                             "than zero")
        try:
            return cls(name, int(match["count"]), amount * _UNITS[unit])
        except ValueError as exc:
            raise ValueError(f"{exc} (from {spec!r})") from None

    def describe(self) -> str:
        """'5 per 15 minutes', '10 per minute', '3 per 30 seconds'."""
        unit, amount = "second", self.per
        for name, seconds in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if self.per >= seconds and (self.per / seconds).is_integer():
                unit, amount = name, self.per / seconds
                break
        period = unit if amount == 1 else _plural(amount, unit)
        return f"{self.count} per {period}"


class RateLimited(Exception):
    """Too many events for this key under ``limit``: retry in ``retry_after`` seconds."""

    def __init__(self, limit: Limit, retry_after: float) -> None:
        self.limit = limit
        self.retry_after = max(retry_after, 0.001)
        super().__init__(f"Too many attempts ({limit.describe()} allowed); "
                         f"try again in {_duration(self.retry_after)}.")

    @property
    def message(self) -> str:
        """The sentence to show a person."""
        return str(self.args[0])

    @property
    def retry_after_header(self) -> str:
        """The value of an HTTP ``Retry-After`` header: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiterUnavailable(Exception):
    """The shared store (Redis) could not be asked; the caller chooses to fail open or closed."""


class RateLimiter(Protocol):
    async def hit(self, limit: Limit, key: str) -> None:
        """Count one event for ``key`` under ``limit``; raise RateLimited when over."""

    async def peek(self, limit: Limit, key: str) -> float:
        """Seconds until an event would be allowed (0.0 if now), without counting one."""

    async def reset(self, limit: Limit, key: str) -> None:
        """Forget ``key``'s events under ``limit`` (e.g. after a successful login)."""

    async def close(self) -> None: ...


def key_digest(key: str) -> str:
    """The fixed-length form a key is stored under: the hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class MemoryRateLimiter:
    """Sliding-window counts in this process, with bounded memory (see the module docstring)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self.max_keys = max_keys
        # Per limit, the keys in the order they were last hit, so the front expires first:
        # a key's events all leave the window ``per`` seconds after its latest one.
        self._groups: dict[Limit, OrderedDict[str, deque[float]]] = {}
        self._size = 0

    def __len__(self) -> int:
        """How many keys are held (expired ones may linger until the next hit)."""
        return self._size

    @staticmethod
    def _wait(limit: Limit, events: deque[float], now: float) -> float:
        """Seconds until one more event fits, dropping events that left the window."""
        horizon = now - limit.per
        while events and events[0] <= horizon:
            events.popleft()
        if len(events) < limit.count:
            return 0.0
        # The event whose departure brings the count below the limit (the oldest, unless
        # ``count`` was lowered while events were stored).
        return events[len(events) - limit.count] + limit.per - now

    async def hit(self, limit: Limit, key: str) -> None:
        now = self._clock()
        self._prune(now)
        digest = key_digest(key)
        group = self._groups.get(limit)
        events = group.get(digest) if group is not None else None
        if group is None or events is None:
            if self._size >= self.max_keys:
                self._evict()
            group = self._groups.setdefault(limit, OrderedDict())
            events = deque()
            group[digest] = events
            self._size += 1
        wait = self._wait(limit, events, now)
        if wait > 0:
            raise RateLimited(limit, wait)
        events.append(now)
        group.move_to_end(digest)

    async def peek(self, limit: Limit, key: str) -> float:
        group = self._groups.get(limit)
        events = group.get(key_digest(key)) if group is not None else None
        if not events:
            return 0.0
        return max(0.0, self._wait(limit, deque(events), self._clock()))

    async def reset(self, limit: Limit, key: str) -> None:
        group = self._groups.get(limit)
        if group is not None and group.pop(key_digest(key), None) is not None:
            self._size -= 1
            if not group:
                del self._groups[limit]

    async def close(self) -> None:
        self._groups.clear()
        self._size = 0

    def _prune(self, now: float) -> None:
        """Forget keys all of whose events have left their window."""
        for limit in list(self._groups):
            group = self._groups[limit]
            horizon = now - limit.per
            while group:
                digest, events = next(iter(group.items()))
                if events and events[-1] > horizon:
                    break
                del group[digest]
                self._size -= 1
            if not group:
                del self._groups[limit]

    def _evict(self) -> None:
        """Forget the key, over all limits, whose latest event is the oldest."""
        oldest: tuple[float, Limit, str] | None = None
        for limit, group in self._groups.items():
            digest, events = next(iter(group.items()))
            last = events[-1] if events else -math.inf
            if oldest is None or last < oldest[0]:
                oldest = (last, limit, digest)
        if oldest is not None:
            _, limit, digest = oldest
            del self._groups[limit][digest]
            self._size -= 1
            if not self._groups[limit]:
                del self._groups[limit]


# KEYS[1]: the sorted set; ARGV: count, window (µs), "hit" or "peek", a unique member.
# Scores are the server's time in microseconds. Returns 0 when allowed (and, for "hit",
# counted), else the microseconds until one more event would be allowed.
_SCRIPT = """
local key = KEYS[1]
local count = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- Lua would write these numbers with 14 significant digits; '%.0f' keeps every microsecond.
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - window))
local n = redis.call('ZCARD', key)
if n < count then
  if ARGV[3] == 'hit' then
    redis.call('ZADD', key, string.format('%.0f', now), ARGV[4])
    redis.call('PEXPIRE', key, math.ceil(window / 1000))
  end
  return 0
end
local first = redis.call('ZRANGE', key, n - count, n - count, 'WITHSCORES')
local wait = tonumber(first[2]) + window - now
if wait < 1 then
  wait = 1
end
return math.floor(wait)
"""


class RedisRateLimiter:
    """Sliding-window counts shared through Redis by every process (see the module docstring).

    Given a URL it makes (and closes) its own client, with short timeouts and a single retry
    so a missing Redis fails fast; given a client it uses it as configured and leaves closing
    it to its owner.
    """

    def __init__(self, url_or_client: str | aioredis.Redis) -> None:
        if isinstance(url_or_client, str):
            # A login waits on this: at most two tries of one second each, not redis-py's
            # default of four tries (with backoff) that could hold a request for many seconds.
            self._redis: aioredis.Redis = aioredis.from_url(
                url_or_client, socket_connect_timeout=1.0, socket_timeout=1.0,
                retry=Retry(NoBackoff(), 1))
            self._owned = True
        else:
            self._redis = url_or_client
            self._owned = False
        self._script = self._redis.register_script(_SCRIPT)

    @staticmethod
    def redis_key(limit: Limit, key: str) -> str:
        """The Redis key holding ``key``'s events under ``limit``."""
        return f"{KEY_PREFIX}{limit.name}:{key_digest(key)}"

    async def _run(self, limit: Limit, key: str, mode: str) -> float:
        window = max(1, math.ceil(limit.per * 1_000_000))
        try:
            wait = await self._script(keys=[self.redis_key(limit, key)],
                                      args=[limit.count, window, mode, secrets.token_hex(8)])
        except (RedisError, OSError) as exc:
            raise RateLimiterUnavailable(f"the rate limiter's Redis is unavailable: {exc}") \
                from exc
        return int(wait) / 1_000_000

    async def hit(self, limit: Limit, key: str) -> None:
        wait = await self._run(limit, key, "hit")
        if wait > 0:
            raise RateLimited(limit, wait)

    async def peek(self, limit: Limit, key: str) -> float:
        return await self._run(limit, key, "peek")

    async def reset(self, limit: Limit, key: str) -> None:
        try:
            await self._redis.delete(self.redis_key(limit, key))
        except (RedisError, OSError) as exc:
            raise RateLimiterUnavailable(f"the rate limiter's Redis is unavailable: {exc}") \
                from exc

    async def close(self) -> None:
        if self._owned:
            await self._redis.aclose()
