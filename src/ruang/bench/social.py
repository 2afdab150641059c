"""``ruang bench social``: follow lists, "who I follow here" and people search, at scale.

On a large synthetic network in PostgreSQL, the benchmark:

1. Creates a fresh database (``ruang_bench_social`` unless told otherwise), marked as the
   benchmark's by a comment; a database of that name without the mark is never touched. Runs
   Ruang's own migrations on it, so tables and indexes are exactly the app's, and drops it at
   the end unless ``--keep``.
2. Generates a graph with numpy from a fixed seed: members who joined over two years (more
   of them lately), with usernames, display names and headlines from small word lists; each
   follows about ``follows / members`` others (log-normal, so a few follow thousands), whom
   chosen by a Zipf law (weight 1 / popularity rank), so the most followed have hundreds of
   thousands of followers and most members a handful. No self-follows, no duplicate pairs;
   a follow is dated after both accounts existed; the counts on member rows match.
3. Loads it with COPY (binary for follows, in primary-key order), with the tables' non-unique
   indexes dropped during the load and rebuilt afterwards from their own definitions (the
   index set is checked against the migrated one), then VACUUM ANALYZE.
4. Calls the app's own functions in ``ruang.actions.social`` through a ``Services`` built on
   the database, warmed up, and times each call end to end (SQL round trips, the ORM and the
   response models); EXPLAINs (ANALYZE, BUFFERS) every statement those calls send, for the
   heaviest input and a typical one, and fails (exit status 1) if any reads members, follows
   or search_terms with a sequential scan.

The last line printed is the JSON result; progress goes to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import random
import re
import struct
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

from ruang.bench import report

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/ruang_bench_social"
MARK = "ruang bench social: synthetic data, dropped by the benchmark"
TARGET_P99_MS = 20.0
PAGE = 50            # the app's default page size
ROOM_SIZE = 5000
ROOMS = 20
OUT_DEGREE_SIGMA = 1.2
OUT_DEGREE_MAX = 5000
SEED = 20240611
GUARDED = ("members", "follows", "search_terms")
# Below this many rows PostgreSQL rightly reads a whole table rather than probe an index (tiny
# smoke-test runs): such scans are reported, not failed.
GUARD_MIN_ROWS = 100_000

I64 = npt.NDArray[np.int64]
US = 1_000_000
PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
TWO_YEARS_US = 730 * 86400 * US
PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
PGCOPY_TRAILER = struct.pack("!h", -1)
FOLLOW_ROW = np.dtype([("n", ">i2"), ("l1", ">i4"), ("follower", ">i8"), ("l2", ">i4"),
                       ("followee", ">i8"), ("l3", ">i4"), ("at", ">i8")])
# Shaped like an argon2id hash but of no password: synthetic members cannot log in.
PASSWORD_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$c3ludGhldGljc2FsdA"
                 "$Jm3vJ0j8b1Yz6vB7sX2c0Qe8n5kq1T2yP4w9a7uVh0E")


class BenchError(Exception):
    """The benchmark cannot run: a database it must not touch, or a load that went wrong."""


# --- progress ---------------------------------------------------------------------------------


class Progress:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.t0:7.1f} s] {message}", file=sys.stderr, flush=True)


def _rate(rows: int, seconds: float) -> str:
    return f"{rows:,} rows in {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)"


# --- the graph ----------------------------------------------------------------------------------


@dataclass
class Graph:
    """Members are 0-based here (id = index + 1); times are µs since 2000-01-01 UTC."""

    members: int
    member_created: I64
    follower: I64
    followee: I64
    created: I64
    followers_count: I64
    following_count: I64
    by_rank: I64            # member index of each popularity rank, most popular first
    cum: npt.NDArray[np.float64]  # cumulative Zipf weights over the ranks, ending at 1

    def stats(self) -> dict[str, Any]:
        fc = self.followers_count
        return {"max_followers": int(fc.max()),
                "members_with_100k_followers": int((fc >= 100_000).sum()),
                "members_with_10k_followers": int((fc >= 10_000).sum()),
                "median_followers": float(np.median(fc)),
                "share_with_under_10_followers": round(float((fc < 10).mean()), 3),
                "mean_following": round(float(self.following_count.mean()), 2),
                "max_following": int(self.following_count.max())}


def _distinct(keys: I64) -> I64:
    """Sorted distinct values (np.unique hashes first, much slower on tens of millions)."""
    keys = np.sort(keys)
    keep = np.empty(len(keys), dtype=bool)
    keep[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def make_graph(members: int, follows: int, rng: np.random.Generator, end_us: int) -> Graph:
    if members < 10:
        raise BenchError("use at least 10 members")
    if follows > members * (members - 1) // 4:
        raise BenchError(f"{follows:,} follows is too dense a graph for {members:,} members")
    start_us = end_us - TWO_YEARS_US
    # Sign-ups grow over time (density rising linearly); ids follow sign-up order.
    member_created = np.sort(start_us + (np.sqrt(rng.random(members)) * TWO_YEARS_US)
                             .astype(np.int64))
    by_rank = rng.permutation(members).astype(np.int64)
    cum = np.cumsum(1.0 / np.arange(1, members + 1))
    cum /= cum[-1]

    mean = follows / members
    wish = rng.lognormal(np.log(mean) - OUT_DEGREE_SIGMA ** 2 / 2, OUT_DEGREE_SIGMA, members)
    out = np.minimum(np.floor(wish + rng.random(members)),
                     min(OUT_DEGREE_MAX, members - 1)).astype(np.int64)
    out_p = out / out.sum() if out.sum() else np.full(members, 1 / members)

    def followees(n: int) -> I64:
        ranks = np.minimum(np.searchsorted(cum, rng.random(n), side="right"), members - 1)
        return by_rank[ranks]

    def pairs(a: I64, b: I64) -> I64:
        keep = a != b
        return _distinct(a[keep] * members + b[keep])

    first = np.repeat(np.arange(members, dtype=np.int64), out)
    keys = pairs(first, followees(len(first)))
    del first
    for _ in range(100):
        if len(keys) >= follows:
            break
        need = follows - len(keys)
        extra = rng.choice(members, size=int(need * 1.2) + 16, p=out_p).astype(np.int64)
        keys = _distinct(np.concatenate((keys, pairs(extra, followees(len(extra))))))
    else:
        raise BenchError("could not draw enough distinct follows")
    if len(keys) > follows:
        keys = keys[np.sort(rng.choice(len(keys), follows, replace=False))]
    follower, followee = keys // members, keys % members
    del keys
    since = np.maximum(member_created[follower], member_created[followee])
    created = since + (rng.random(follows) * (end_us - since)).astype(np.int64)
    return Graph(members=members, member_created=member_created, follower=follower,
                 followee=followee, created=created,
                 followers_count=np.bincount(followee, minlength=members).astype(np.int64),
                 following_count=np.bincount(follower, minlength=members).astype(np.int64),
                 by_rank=by_rank, cum=cum)


# --- names --------------------------------------------------------------------------------------


def _names(text: str, sep: str = " ") -> tuple[str, ...]:
    return tuple(w.replace("_", " ") for w in text.split(sep) if w)


# Multi-word entries are written with "_" (or split on "|").
FIRST = _names(
    "Putri Ayu Dewi Sari Rina Indah Wulan Siti Nur Fitri Andi Budi Agus Rizky Dimas Fajar Bayu "
    "Yoga Arif Hendra Joko Eko Made Ketut Wayan Kadek Gede Intan Maya Citra Nadia Raka Tegar "
    "Galih Ánh Linh Hương Minh Tuấn Quang Thảo Nam Trang José María Lucía Miguel Ángel Zoë "
    "Chloé André Mei Jia Wei Hana Yuki Aiko Kenji Arjun Priya Ananya Rahul Somchai Nattaya "
    "Kamal Farah Omar Layla Ahmad Aisyah Hafiz Nurul Zainab Bagus Lestari Wahyu Anggun Reza "
    "Kevin Jessica Michael Stefani Yohanes")
LAST = _names(
    "Santoso Wijaya Saputra Pratama Kusuma Hidayat Siregar Nasution Simanjuntak Lubis Setiawan "
    "Gunawan Halim Tanoto Sutanto Hartono Nugroho Wibowo Suryadi Rahman Nguyễn Trần Lê Phạm "
    "Hoàng Đặng Võ Bùi Đỗ Ramírez García Fernández Müller Dubois Tanaka Sato Suzuki Kim Lee "
    "Park Chen Wang Sharma Patel Reddy Chaiyaporn Srisuk Abdullah Ismail Othman Yusof Tan Lim "
    "Ong Goh Santos Reyes Cruz Bautista Permana Firmansyah Hutapea Sinaga Manurung Tambunan "
    "Purba Kurniawan Susanto Effendi")
ROLES = _names(
    "Founder Podcaster Designer Engineer Teacher Student Musician Producer Writer Photographer "
    "Barista Chef Nurse Doctor Lawyer Investor Streamer DJ Coach Researcher Host Journalist "
    "Marketer Developer Entrepreneur Illustrator Architect")
ORGS = _names(
    "Kopi Labs|Nusantara Media|Sawit Ventures|Pelangi Studio|Saigon Sound|Batik Digital|"
    "Lautan Capital|Merapi Health|Rumah Kode|Jakarta Jazz Club|Bali Surf School|"
    "Universitas Cendana|Kampung Kreatif|Teh Tarik Records|Sekolah Rakyat", "|")
TOPICS = _names(
    "music jazz kpop startups investing crypto football badminton cooking coffee travel "
    "photography design poetry film anime gaming parenting fitness yoga books history politics "
    "AI wellbeing fashion podcasts science")
CITIES = _names(
    "Jakarta Bandung Surabaya Yogyakarta Medan Makassar Denpasar Semarang Malang Palembang Hanoi "
    "Saigon Đà_Nẵng Kuala_Lumpur Singapore Manila Bangkok Cebu Pontianak Manado")
ADJECTIVES = _names(
    "Curious Aspiring Former Full-time Part-time Self-taught Award-winning Retired Proud "
    "Accidental")
HOBBIES = _names("music kopi jazz travel foto dev art chef yoga bola anime buku film")
EXTRAS = ("", "", "", "", " ✨", " 🎧", " 🇮🇩", " (she/her)", " (he/him)")


def _ascii(name: str) -> str:
    from ruang.domain import search

    return re.sub(r"[^a-z]", "", search.normalize(name).replace("đ", "d"))


@dataclass
class Profiles:
    usernames: list[str]
    display_names: list[str]
    headlines: list[str]


def make_profiles(members: int, seed: int) -> Profiles:
    """Unique usernames (3 to 32 letters, digits or _), display names and headlines."""
    r = random.Random(seed)
    first_ascii = {n: _ascii(n) for n in FIRST}
    last_ascii = {n: _ascii(n) for n in LAST}
    seen: set[str] = set()
    usernames, display_names, headlines = [], [], []
    for _ in range(members):
        first, last = r.choice(FIRST), r.choice(LAST)
        fa, la = first_ascii[first], last_ascii[last]
        style = r.randrange(7)
        if style == 0:
            name = fa + la
        elif style == 1:
            name = f"{fa}_{la}"
        elif style == 2:
            name = f"{fa}{r.randrange(1, 10000)}"
        elif style == 3:
            name = f"{fa}_{r.choice(HOBBIES)}"
        elif style == 4:
            name = f"{la}{fa[0]}"
        elif style == 5:
            name = fa.capitalize() + la.capitalize()
        else:
            name = f"the{fa}{la[:1]}"
        name = name[:26]
        while len(name) < 3 or name.lower() in seen:
            name = f"{name[:26]}{r.randrange(10, 100000)}"
        seen.add(name.lower())
        usernames.append(name)

        shape = r.random()
        if shape < 0.8:
            display = f"{first} {last}"
        elif shape < 0.9:
            display = first
        else:
            display = f"{first} {r.choice(FIRST)} {last}"
        display_names.append((display + r.choice(EXTRAS))[:64])

        kind = r.random()
        if kind < 0.4:
            headline = ""
        elif kind < 0.6:
            headline = f"{r.choice(ROLES)} at {r.choice(ORGS)}"
        elif kind < 0.75:
            headline = " · ".join(r.sample(TOPICS, 3))
        elif kind < 0.9:
            headline = f"{r.choice(ROLES)} · {r.choice(CITIES)}"
        else:
            headline = f"{r.choice(ADJECTIVES)} {r.choice(ROLES).lower()} from {r.choice(CITIES)}"
        headlines.append(headline)
    return Profiles(usernames, display_names, headlines)


# --- the database -------------------------------------------------------------------------------


@dataclass
class Target:
    url: URL          # postgresql://... of the bench database
    admin: URL        # the same server's maintenance database

    @property
    def name(self) -> str:
        assert self.url.database
        return self.url.database

    @property
    def dsn(self) -> str:
        return self.url.render_as_string(hide_password=False)

    @property
    def sqlalchemy_url(self) -> str:
        return self.url.set(drivername="postgresql+asyncpg").render_as_string(
            hide_password=False)


def target(database: str | None) -> Target:
    url = make_url(database or DEFAULT_DATABASE)
    if url.get_backend_name() != "postgresql":
        raise BenchError(f"the social benchmark needs PostgreSQL, not {url.drivername}")
    name = url.database or "ruang_bench_social"
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise BenchError(f"use a plain lower-case database name, not {name!r}")
    if name in ("postgres", "template0", "template1"):
        raise BenchError(f"refusing to use the {name!r} database")
    url = url.set(drivername="postgresql", database=name)
    return Target(url=url, admin=url.set(database="postgres"))


async def create_database(t: Target) -> None:
    """Create the bench database; replace one left by an earlier run (``--keep``); refuse to
    touch any other."""
    conn = await asyncpg.connect(t.admin.render_as_string(hide_password=False))
    try:
        row = await conn.fetchrow(
            "SELECT shobj_description(oid, 'pg_database') AS note FROM pg_database "
            "WHERE datname = $1", t.name)
        if row is not None:
            if row["note"] != MARK:
                raise BenchError(f"database {t.name!r} exists and is not one this benchmark "
                                 "created: refusing to touch it (pick another name)")
            await conn.execute(f'DROP DATABASE "{t.name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{t.name}"')
        await conn.execute(f"COMMENT ON DATABASE \"{t.name}\" IS '{MARK}'")
    finally:
        await conn.close()


async def drop_database(t: Target) -> None:
    conn = await asyncpg.connect(t.admin.render_as_string(hide_password=False))
    try:
        note = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            t.name)
        if note == MARK:
            await conn.execute(f'DROP DATABASE "{t.name}" WITH (FORCE)')
    finally:
        await conn.close()


LOADED = ("members", "username_claims", "search_terms", "follows", "rooms", "room_members")


async def _indexes(conn: Any) -> dict[str, tuple[str, str]]:
    rows = await conn.fetch("SELECT indexname, tablename, indexdef FROM pg_indexes "
                            "WHERE schemaname = 'public'")
    return {r["indexname"]: (r["tablename"], r["indexdef"]) for r in rows}


async def _secondary_indexes(conn: Any) -> list[tuple[str, str]]:
    """(name, definition) of the loaded tables' indexes that back no constraint."""
    rows = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "JOIN pg_class c ON c.relname = i.indexname "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname "
        "WHERE i.schemaname = 'public' AND i.tablename = ANY($1::text[]) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid) "
        "ORDER BY i.indexname", list(LOADED))
    return [(r["indexname"], r["indexdef"]) for r in rows]


def _dt(us: int) -> dt.datetime:
    return PG_EPOCH + dt.timedelta(microseconds=us)


def _follow_payload(g: Graph, lo: int, hi: int) -> bytes:
    rows = np.empty(hi - lo, dtype=FOLLOW_ROW)
    rows["n"], rows["l1"], rows["l2"], rows["l3"] = 3, 8, 8, 8
    rows["follower"] = g.follower[lo:hi] + 1
    rows["followee"] = g.followee[lo:hi] + 1
    rows["at"] = g.created[lo:hi]
    return PGCOPY_HEADER + rows.tobytes() + PGCOPY_TRAILER


@dataclass
class Loaded:
    search_terms: int
    rooms: list[list[int]]            # member ids present in each room (room id = index + 1)
    phases: dict[str, float]
    fk_checks_during_load: bool


async def load(t: Target, g: Graph, p: Profiles, rng: np.random.Generator,
               room_size: int, say: Callable[[str], None]) -> Loaded:
    from ruang.domain import search

    phases: dict[str, float] = {}
    conn = await asyncpg.connect(t.dsn)
    try:
        before = await _indexes(conn)
        secondary = await _secondary_indexes(conn)
        for name, _ in secondary:
            await conn.execute(f'DROP INDEX "{name}"')
        say("dropped for the load: " + ", ".join(n for n, _ in secondary))
        await conn.execute("SET synchronous_commit = off")
        # The generator guarantees valid ids: skip the per-row foreign-key triggers when
        # allowed (superuser); the constraints stay as migrated.
        fk_checks = True
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET session_replication_role = replica")
            fk_checks = False
        if fk_checks:
            say("not a superuser: foreign keys are checked row by row (slower load)")

        n = g.members
        t0 = time.monotonic()
        r = random.Random(SEED + 1)
        chunk = 100_000
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            records = []
            for i in range(lo, hi):
                suspended = r.random() < 0.003
                records.append((
                    i + 1, p.usernames[i], p.usernames[i].lower(), p.display_names[i],
                    PASSWORD_HASH, False, _dt(int(g.member_created[i])), p.headlines[i],
                    "", json.dumps(r.sample(TOPICS, r.randrange(4)) if r.random() < 0.5
                                   else []),
                    f"{i + 1}-{r.getrandbits(64):016x}" if r.random() < 0.6 else None,
                    "suspended" if suspended else "active",
                    _dt(int(g.member_created[-1]) + 30 * 86400 * US) if suspended else None,
                    int(g.followers_count[i]), int(g.following_count[i]), 0))
            await conn.copy_records_to_table(
                "members", records=records,
                columns=["id", "username", "username_key", "display_name", "password_hash",
                         "is_admin", "created_at", "headline", "bio", "interests", "avatar_id",
                         "status", "suspended_until", "followers_count", "following_count",
                         "invites_left"])
        await conn.execute("SELECT setval('members_id_seq', $1)", n)
        phases["members"] = time.monotonic() - t0
        say("members: " + _rate(n, phases["members"]))

        t0 = time.monotonic()
        for lo in range(0, n, 200_000):
            hi = min(n, lo + 200_000)
            await conn.copy_records_to_table(
                "username_claims", columns=["username_key", "member_id", "created_at"],
                records=[(p.usernames[i].lower(), i + 1, _dt(int(g.member_created[i])))
                         for i in range(lo, hi)])
        phases["username_claims"] = time.monotonic() - t0
        say("username_claims: " + _rate(n, phases["username_claims"]))

        # Search terms, sorted like the primary key (term COLLATE "C", then member) so the
        # index is built by appending: code point order is UTF-8 byte order.
        t0 = time.monotonic()
        vocab: dict[str, int] = {}
        term_ids: list[int] = []
        owners: list[int] = []
        for i in range(n):
            for term in search.terms(p.usernames[i], p.display_names[i], p.headlines[i]):
                term_ids.append(vocab.setdefault(term, len(vocab)))
                owners.append(i + 1)
        words = sorted(vocab)
        rank = np.empty(len(words), dtype=np.int64)
        rank[np.array([vocab[w] for w in words], dtype=np.int64)] = np.arange(len(words))
        t_rank = rank[np.array(term_ids, dtype=np.int64)]
        owner = np.array(owners, dtype=np.int64)
        del term_ids, owners, vocab
        order = np.lexsort((owner, t_rank))
        t_rank, owner = t_rank[order], owner[order]
        total = len(owner)
        say(f"search terms computed: {total:,} rows, {len(words):,} distinct terms "
            f"({time.monotonic() - t0:.1f} s)")
        step = 500_000
        for lo in range(0, total, step):
            hi = min(total, lo + step)
            await conn.copy_records_to_table(
                "search_terms", columns=["term", "member_id"],
                records=list(zip([words[k] for k in t_rank[lo:hi].tolist()],
                                 owner[lo:hi].tolist(), strict=True)))
            if hi == total or (lo // step) % 4 == 3:
                say(f"search_terms: {hi:,} / {total:,} rows")
        phases["search_terms"] = time.monotonic() - t0
        say("search_terms: " + _rate(total, phases["search_terms"]))
        del words, t_rank, owner

        t0 = time.monotonic()
        m = len(g.follower)
        step = 1_000_000
        for lo in range(0, m, step):
            hi = min(m, lo + step)
            await conn.copy_to_table("follows", source=memoryview(_follow_payload(g, lo, hi)),
                                     columns=["follower_id", "followee_id", "created_at"],
                                     format="binary")
            if hi == m or (lo // step) % 2 == 1:
                say(f"follows: {hi:,} / {m:,} rows, "
                    f"{hi / (time.monotonic() - t0):,.0f} rows/s")
        phases["follows"] = time.monotonic() - t0
        say("follows: " + _rate(m, phases["follows"]))

        # Rooms with live audiences: half drawn by popularity, half uniformly.
        t0 = time.monotonic()
        rooms: list[list[int]] = []
        size = min(room_size, n // 2)
        for k in range(ROOMS):
            ids = room_audience(g, rng, size)
            rooms.append(ids)
            at = _dt(int(g.member_created[-1]))
            # As the app leaves a live room: its host on stage (stage_seq), the others in
            # the audience (counted, not listed), one join_seq each in joining order.
            await conn.execute(
                "INSERT INTO rooms (id, title, description, host_id, state, seq, created_at, "
                "started_at, audience_count, joins) "
                "VALUES ($1, $2, '', $3, 'live', $4, $5, $5, $6, $4)",
                k + 1, f"Bench room {k + 1}", ids[0], len(ids), at, len(ids) - 1)
            await conn.execute("INSERT INTO room_hosts (room_id, member_id) VALUES ($1, $2)",
                               k + 1, ids[0])
            await conn.copy_records_to_table(
                "room_members", columns=["room_id", "member_id", "role", "self_muted",
                                         "mod_muted", "join_seq", "stage_seq", "joined_at"],
                records=[(k + 1, mid, "moderator" if j == 0 else "listener", False, False,
                          j + 1, 1 if j == 0 else None, at) for j, mid in enumerate(ids)])
        await conn.execute("SELECT setval('rooms_id_seq', $1)", ROOMS)
        phases["rooms"] = time.monotonic() - t0
        await conn.execute("RESET session_replication_role")

        t0 = time.monotonic()
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for name, definition in secondary:
            t1 = time.monotonic()
            await conn.execute(definition)
            say(f"index {name} built in {time.monotonic() - t1:.1f} s")
        phases["indexes"] = time.monotonic() - t0
        after = await _indexes(conn)
        if after != before:
            raise BenchError("the indexes after the load differ from the migrated schema: "
                             f"{sorted(set(before.items()) ^ set(after.items()))}")

        t0 = time.monotonic()
        for table in LOADED:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        phases["vacuum_analyze"] = time.monotonic() - t0
        say(f"VACUUM ANALYZE in {phases['vacuum_analyze']:.1f} s")

        t0 = time.monotonic()
        top = int(g.followers_count.argmax())
        got = tuple(await conn.fetchrow(
            "SELECT (SELECT count(*) FROM members), (SELECT count(*) FROM follows), "
            "(SELECT sum(followers_count) FROM members), "
            "(SELECT sum(following_count) FROM members), "
            "(SELECT count(*) FROM follows WHERE followee_id = $1), "
            "(SELECT followers_count FROM members WHERE id = $1), "
            "(SELECT count(*) FROM follows WHERE follower_id = followee_id)", top + 1))
        want = (n, m, m, m, int(g.followers_count[top]), int(g.followers_count[top]), 0)
        if got != want:
            raise BenchError(f"loaded data does not match the graph: {got} != {want}")
        phases["verify"] = time.monotonic() - t0
    finally:
        await conn.close()
    return Loaded(search_terms=total, rooms=rooms, phases=phases, fk_checks_during_load=fk_checks)


def popular(g: Graph, rng: np.random.Generator, n: int) -> I64:
    """Member indexes drawn like followees are: by the Zipf law over popularity ranks."""
    ranks = np.searchsorted(g.cum, rng.random(n), side="right")
    return g.by_rank[np.minimum(ranks, g.members - 1)]


def room_audience(g: Graph, rng: np.random.Generator, size: int) -> list[int]:
    """``size`` distinct member ids: half drawn by popularity, the rest uniformly."""
    chosen: dict[int, None] = {}
    for i in popular(g, rng, size * 3).tolist():
        if len(chosen) >= size // 2:
            break
        chosen[i] = None
    while len(chosen) < size:
        for i in rng.integers(0, g.members, size).tolist():
            if len(chosen) >= size:
                break
            chosen[i] = None
    return [i + 1 for i in chosen]


# --- what is measured ---------------------------------------------------------------------------


@dataclass
class Case:
    """One kind of call: a label, what it does, and its inputs (warm-up first)."""

    name: str
    label: str
    call: Callable[[Any], Awaitable[object]]
    inputs: list[Any]
    warmup: list[Any]
    heaviest: Any


def _weighted(counts: I64, rng: np.random.Generator, n: int, minimum: int = 1) -> I64:
    """Member indexes drawn in proportion to ``counts`` (among those with at least
    ``minimum``); the largest counts when none has that many."""
    eligible = np.flatnonzero(counts >= minimum)
    if not len(eligible):
        eligible = np.flatnonzero(counts == counts.max())
    weights = counts[eligible].astype(np.float64) + 1e-9
    return eligible[rng.choice(len(eligible), n, p=weights / weights.sum())].astype(np.int64)


async def build_cases(svc: Any, g: Graph, p: Profiles, loaded: Loaded,
                      rng: np.random.Generator, samples: int, warmup: int,
                      conn: Any) -> list[Case]:
    """Every input drawn up front, so the timed loops only call the app."""
    from ruang.actions import social
    from ruang.actions.members import MemberInfo
    from ruang.domain import search

    def viewer(i: int) -> MemberInfo:
        return MemberInfo(id=i + 1, username=p.usernames[i], display_name=p.display_names[i],
                          is_admin=False)

    n = samples + warmup

    def anyone() -> list[int]:
        return [int(i) for i in rng.integers(0, g.members, n)]

    cases: list[Case] = []
    for which, counts, own, other in (
            ("followers", g.followers_count, "followee_id", "follower_id"),
            ("following", g.following_count, "follower_id", "followee_id")):
        top = int(counts.argmax())

        async def cursor_at(i: int, own: str = own, other: str = other) -> str:
            """The cursor of a real row at a random time in the member's list."""
            lo, hi = await conn.fetchrow(
                f"SELECT min(created_at), max(created_at) FROM follows WHERE {own} = $1",
                i + 1)
            at = lo + (hi - lo) * float(rng.random())
            row = await conn.fetchrow(
                f"SELECT created_at, {other} FROM follows WHERE {own} = $1 "
                f"AND created_at <= $2 ORDER BY created_at DESC, {other} DESC LIMIT 1",
                i + 1, at)
            return social._encode_cursor(row[0], row[1])

        def page(item: tuple[int, int, str | None], which: str = which) -> Awaitable[object]:
            v, i, cursor = item
            return social.follow_list(svc, viewer(v), p.usernames[i], which, cursor, PAGE)

        firsts: list[Any] = [(v, int(i), None) for v, i in
                             zip(anyone(), _weighted(counts, rng, n).tolist(), strict=True)]
        cases.append(Case(f"{which}_first_page", f"{which}, first page", page,
                          firsts[warmup:], firsts[:warmup], (0, top, None)))
        deep: list[Any] = [
            (v, int(i), await cursor_at(int(i))) for v, i in
            zip(anyone(), _weighted(counts, rng, n, minimum=2 * PAGE + 1).tolist(),
                strict=True)]
        cases.append(Case(f"{which}_deep_page", f"{which}, page at a random depth", page,
                          deep[warmup:], deep[:warmup], (0, top, await cursor_at(top))))

    # Viewers: half drawn uniformly, half in proportion to how many they follow.
    viewers = anyone()[: n - n // 2] + _weighted(g.following_count, rng, n // 2).tolist()
    rng.shuffle(viewers)
    viewers = [int(v) for v in viewers]
    heavy = int(g.following_count.argmax())
    size = min(ROOM_SIZE, g.members // 2)

    def among(item: tuple[int, list[int]]) -> Awaitable[object]:
        return social.followed_among(svc, viewer(item[0]), item[1])

    audiences: list[Any] = [(v, room_audience(g, rng, size)) for v in viewers]
    cases.append(Case("followed_among", f"people I follow among {size:,} room members",
                      among, audiences[warmup:], audiences[:warmup],
                      (heavy, room_audience(g, rng, size))))

    def in_room(item: tuple[int, int]) -> Awaitable[object]:
        return social.followed_in_room(svc, viewer(item[0]), item[1])

    in_rooms: list[Any] = [(v, int(rng.integers(len(loaded.rooms))) + 1) for v in viewers]
    cases.append(Case("followed_in_room", f"people I follow in a live room of {size:,}",
                      in_room, in_rooms[warmup:], in_rooms[:warmup], (heavy, 1)))

    def find(item: tuple[int, str]) -> Awaitable[object]:
        return social.search_people(svc, viewer(item[0]), item[1])

    prefixes: list[Any] = []
    for v in anyone():
        terms: list[str] = []
        while not terms:
            i = int(rng.integers(g.members))
            terms = sorted(t for t in search.terms(p.usernames[i], p.display_names[i],
                                                   p.headlines[i]) if len(t) >= 2)
        term = terms[int(rng.integers(len(terms)))]
        prefixes.append((v, term[:int(rng.integers(2, 5))]))
    common = Counter(q[:2] for _, q in prefixes).most_common(1)[0][0]
    cases.append(Case("search_prefix", "people search, 2 to 4 letter prefix", find,
                      prefixes[warmup:], prefixes[:warmup], (0, common)))
    names: list[Any] = [(v, p.display_names[int(rng.integers(g.members))]) for v in anyone()]
    cases.append(Case("search_words", "people search, a display name's full words", find,
                      names[warmup:], names[:warmup], (0, f"{FIRST[0]} {LAST[0]}")))
    return cases


async def time_case(case: Case, say: Callable[[str], None]) -> list[float]:
    out = []
    shown = time.monotonic()
    for item in case.inputs:
        t0 = time.perf_counter()
        await case.call(item)
        out.append((time.perf_counter() - t0) * 1000)
        if time.monotonic() - shown > 15:
            shown = time.monotonic()
            say(f"{case.label}: {len(out):,} / {len(case.inputs):,} calls")
    return out


# --- plans --------------------------------------------------------------------------------------


class Recorder:
    """The statements the app sends while ``on``."""

    def __init__(self, engine: Any) -> None:
        self.on = False
        self.statements: list[tuple[str, Sequence[Any]]] = []
        self.engine = engine
        event.listen(engine.sync_engine, "before_cursor_execute", self._hook)

    def close(self) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._hook)

    def _hook(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
              _executemany: bool) -> None:
        if self.on:
            self.statements.append((statement, tuple(parameters or ())))


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _access(node: dict[str, Any]) -> str:
    what = node["Node Type"]
    if node.get("Index Name"):
        what += f" using {node['Index Name']}"
    return f"{what} on {node['Relation Name']}"


async def explain(conn: Any, recorder: Recorder, case: Case,
                  item: Any) -> list[dict[str, Any]]:
    recorder.statements.clear()
    recorder.on = True
    try:
        await case.call(item)
    finally:
        recorder.on = False
    out = []
    for statement, params in recorder.statements:
        raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}",
                                  *params)
        top = json.loads(raw)[0]
        plan = top["Plan"]
        scans = [n for n in _nodes(plan) if n.get("Relation Name")]
        out.append({
            "sql": " ".join(statement.split())[:160],
            "access": [_access(n) for n in scans],
            "seq_scans": sorted({n["Relation Name"] for n in scans
                                 if n["Node Type"] == "Seq Scan"}),
            "heap_fetches": sum(int(n.get("Heap Fetches", 0)) for n in scans),
            "rows": plan.get("Actual Rows"),
            "execution_ms": round(float(top["Execution Time"]), 3),
            "planning_ms": round(float(top["Planning Time"]), 3),
            "shared_hit": plan.get("Shared Hit Blocks"),
            "shared_read": plan.get("Shared Read Blocks"),
        })
    return out


# --- the run ------------------------------------------------------------------------------------


def _pg_settings_line(pg: dict[str, Any]) -> str:
    return (f"PostgreSQL {pg['version']} (shared_buffers {pg['shared_buffers']}, work_mem "
            f"{pg['work_mem']}, random_page_cost {pg['random_page_cost']})")


async def run(*, members: int = 1_000_000, follows: int = 20_000_000, samples: int = 2000,
              database: str | None = None, keep: bool = False,
              room_size: int = ROOM_SIZE, seed: int = SEED) -> dict[str, Any]:
    from ruang.actions.context import Services, make_hasher
    from ruang.config import Settings
    from ruang.events.bus import InMemoryBus
    from ruang.storage.db import Database

    machine = report.machine()
    progress = Progress()
    say = progress.say
    t = target(database)
    rng = np.random.default_rng(seed)
    end_us = int((dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                  - PG_EPOCH) / dt.timedelta(microseconds=1))

    await create_database(t)
    say(f"created database {t.name!r}; running Ruang's migrations")
    try:
        t_load = time.monotonic()
        db = Database(t.sqlalchemy_url)
        await db.migrate()
        await db.dispose()
        migrate_s = time.monotonic() - t_load

        say(f"generating {members:,} members and {follows:,} follows (seed {seed})")
        t0 = time.monotonic()
        g = make_graph(members, follows, rng, end_us)
        profiles = make_profiles(members, seed)
        generate_s = time.monotonic() - t0
        say(f"generated in {generate_s:.1f} s: {g.stats()}")
        loaded = await load(t, g, profiles, rng, room_size, say)
        load_s = time.monotonic() - t_load
        phases = {"migrate": migrate_s, "generate": generate_s, **loaded.phases}
        say(f"loaded in {load_s:.1f} s")

        with tempfile.TemporaryDirectory(prefix="ruang-bench-social-") as tmp:
            settings = Settings(database_url=t.sqlalchemy_url, data_dir=Path(tmp),
                                media=False)
            db = Database(t.sqlalchemy_url)
            svc = Services(settings, db, InMemoryBus(), make_hasher(settings))
            conn = await asyncpg.connect(t.dsn)
            try:
                pg = {k: await conn.fetchval(f"SHOW {k}")
                      for k in ("server_version", "shared_buffers", "work_mem",
                                "random_page_cost", "effective_cache_size")}
                pg["version"] = pg.pop("server_version")
                size_mb = round(await conn.fetchval(
                    "SELECT pg_database_size(current_database())") / 2 ** 20)
                table_rows = {r["relname"]: int(r["reltuples"]) for r in await conn.fetch(
                    "SELECT relname, reltuples FROM pg_class WHERE relname = ANY($1::text[])",
                    list(GUARDED))}
                graph = g.stats()
                warmup = max(20, min(500, samples // 4))
                cases = await build_cases(svc, g, profiles, loaded, rng, samples, warmup,
                                          conn)
                # The generated data is no longer needed: free it and keep the collector
                # away from what remains, so its pauses do not land in the timings.
                del g, profiles
                gc.collect()
                gc.freeze()

                say("warming up and checking plans")
                recorder = Recorder(db.engine)
                plans: dict[str, Any] = {}
                for case in cases:
                    for item in case.warmup:
                        await case.call(item)
                    plans[case.name] = {
                        "heaviest": await explain(conn, recorder, case, case.heaviest),
                        "typical": await explain(conn, recorder, case, case.inputs[0]),
                    }
                recorder.close()
                queries: dict[str, Any] = {}
                for case in cases:
                    queries[case.name] = q = _summary(await time_case(case, say), case.label)
                    say(f"{case.label}: p50 {q['p50_ms']} ms, p99 {q['p99_ms']} ms, "
                        f"max {q['max_ms']} ms")
            finally:
                gc.unfreeze()
                await conn.close()
                await db.dispose()
    finally:
        if keep:
            say(f"kept database {t.name!r} (drop it with: dropdb {t.name})")
        else:
            await drop_database(t)
    seq_scans: list[str] = []
    small_scans: list[str] = []
    for name, by in plans.items():
        for which, stmts in by.items():
            for s in stmts:
                for table in sorted(set(s["seq_scans"]) & set(GUARDED)):
                    line = f"{name} ({which}): Seq Scan on {table} in: {s['sql']}"
                    big = table_rows[table] >= GUARD_MIN_ROWS
                    (seq_scans if big else small_scans).append(line)
    return {
        "benchmark": "social",
        "members": members,
        "follows": follows,
        "search_terms": loaded.search_terms,
        "rooms": len(loaded.rooms),
        "room_size": len(loaded.rooms[0]) if loaded.rooms else 0,
        "page_size": PAGE,
        "samples": samples,
        "warmup": warmup,
        "seed": seed,
        "graph": graph,
        "load_seconds": round(load_s, 1),
        "load_phases_seconds": {k: round(v, 1) for k, v in phases.items()},
        "fk_checks_during_load": loaded.fk_checks_during_load,
        "database_size_mb": size_mb,
        "target_p99_ms": TARGET_P99_MS,
        "queries": queries,
        "all_met": all(q["meets_target"] for q in queries.values()),
        "plans": plans,
        "plans_index_backed": not seq_scans,
        "seq_scans": seq_scans,
        "seq_scans_of_small_tables": small_scans,
        "method": "ruang.actions.social (follow_list, followed_among, followed_in_room, "
                  "search_people) called through a Services on the bench database, one at a "
                  "time; each timing is the whole call: SQL round trips, ORM, response models",
        "postgres": pg,
        "machine": machine,
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _summary(ms: list[float], label: str) -> dict[str, Any]:
    out: dict[str, Any] = {f"p{q}_ms": _round(report.percentile(ms, q)) for q in (50, 95, 99)}
    out["max_ms"] = _round(max(ms) if ms else None)
    out["samples"] = len(ms)
    out["meets_target"] = out["p99_ms"] is not None and out["p99_ms"] <= TARGET_P99_MS
    out["label"] = label
    return out


def _plan_summary(stmts: list[dict[str, Any]]) -> str:
    """The access paths to the graph tables, and the server's time and buffers in all."""
    seen: dict[str, None] = {}
    for s in stmts:
        for a in s["access"]:
            if a.split(" on ")[-1] in GUARDED:
                seen[a] = None
    ms = sum(s["execution_ms"] + s["planning_ms"] for s in stmts)
    buffers = sum((s["shared_hit"] or 0) + (s["shared_read"] or 0) for s in stmts)
    return f"{'; '.join(seen)} ({ms:.1f} ms in the server, {buffers:,} buffers)"


def markdown(result: dict[str, Any], command: str) -> str:
    m, pg, gs = result["machine"], result["postgres"], result["graph"]
    machine_line = (f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux "
                    f"{m['kernel']}, Python {m['python']}, {_pg_settings_line(pg)}; load "
                    f"average before the run {m['load_before']:.2f}")
    lines = ["| query | p50 ms | p95 ms | p99 ms | max ms | p99 <= "
             f"{result['target_p99_ms']:g} ms | plans for the heaviest input |",
             "|---|---|---|---|---|---|---|"]
    for name, q in result["queries"].items():
        plan = _plan_summary(result["plans"][name]["heaviest"])
        lines.append(f"| {q['label']} | {q['p50_ms']} | {q['p95_ms']} | {q['p99_ms']} | "
                     f"{q['max_ms']} | {'yes' if q['meets_target'] else '**no**'} | {plan} |")
    phases = ", ".join(f"{k} {v} s" for k, v in result["load_phases_seconds"].items())
    missed = [q["label"] for q in result["queries"].values() if not q["meets_target"]]
    plans = ("no sequential scan of members, follows or search_terms"
             if result["plans_index_backed"] else
             "**FAILED**, sequential scans: " + "; ".join(result["seq_scans"]))
    paragraphs = [
        "## Social graph: `ruang bench social`",
        f"Latest run: {report.today()}, `{command}`",
        f"Machine: {machine_line}",
        f"Data: {result['members']:,} members, {result['follows']:,} follows, "
        f"{result['search_terms']:,} search terms, {result['rooms']} live rooms of "
        f"{result['room_size']:,}; database {result['database_size_mb']:,} MB. Most followed: "
        f"{gs['max_followers']:,} followers; {gs['members_with_100k_followers']} members with "
        f"100k+ and {gs['members_with_10k_followers']} with 10k+; median "
        f"{gs['median_followers']:g}; most following: {gs['max_following']:,}.",
        f"Load (COPY, indexes rebuilt, VACUUM ANALYZE, counts checked): "
        f"{result['load_seconds']} s ({phases}).",
        f"{result['samples']} timed calls per query after {result['warmup']} warm-up calls, "
        "one at a time; each is a whole call of the app's function in `ruang.actions.social` "
        "(SQL round trips, ORM, response models); pages of "
        f"{result['page_size']}, members picked in proportion to the length of the list.",
        "\n".join(lines),
        "Every statement those calls send was EXPLAINed (ANALYZE, BUFFERS) for the heaviest "
        f"input and a typical one: {plans}.",
        *([f"Missed the target: {', '.join(missed)}."] if missed else []),
        "Rerun with `ruang bench social --write-docs` (or `python bench/social.py "
        "--write-docs`; `--members`, `--follows`, `--samples` change the sizes, `--keep` "
        "keeps the database `ruang_bench_social` for inspection).",
    ]
    return "\n\n".join(paragraphs) + "\n"


def main(*, members: int = 1_000_000, follows: int = 20_000_000, samples: int = 2000,
         as_json: bool = False, write_docs: bool = False, database: str | None = None,
         keep: bool = False) -> int:
    try:
        result = asyncio.run(run(members=members, follows=follows, samples=samples,
                                 database=database, keep=keep))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if write_docs:
        command = (f"ruang bench social --members {members} --follows {follows} "
                   f"--samples {samples}")
        path = report.write_section("social", markdown(result, command))
        if not as_json:
            print(f"results written to {path}", file=sys.stderr)
    for problem in result["seq_scans"]:
        print(f"FAIL: not index-backed: {problem}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["plans_index_backed"] else 1


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--follows", type=int, default=20_000_000)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--database", default=None,
                    help=f"PostgreSQL URL of the database to create (default {DEFAULT_DATABASE})")
    ap.add_argument("--keep", action="store_true", help="keep the database at the end")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-docs", action="store_true")
    a = ap.parse_args()
    raise SystemExit(main(members=a.members, follows=a.follows, samples=a.samples,
                          as_json=a.json, write_docs=a.write_docs, database=a.database,
                          keep=a.keep))
