"""`ruang bench social` at a tiny size against PostgreSQL: it loads a graph with COPY, times the
app's queries, reports JSON, checks the plans, drops its database, and never touches a
database it did not create."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import pytest
from sqlalchemy.engine import make_url

from ruang.bench import social
from tests.conftest import PG_ADMIN_DSN, require

pytestmark = pytest.mark.postgres

QUERIES = {"followers_first_page", "followers_deep_page", "following_first_page",
           "following_deep_page", "followed_among", "followed_in_room", "search_prefix",
           "search_words"}


def _pg_available() -> bool:
    url = make_url(PG_ADMIN_DSN)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((url.host or "127.0.0.1", url.port or 5432)) == 0


def _bench_url(name: str) -> str:
    return make_url(PG_ADMIN_DSN).set(database=name).render_as_string(hide_password=False)


async def _admin(sql: str) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        if sql.lstrip().upper().startswith("SELECT"):
            return [r[0] for r in await conn.fetch(sql)]
        await conn.execute(sql)
        return []
    finally:
        await conn.close()


def _databases() -> list[str]:
    return asyncio.run(_admin("SELECT datname FROM pg_database"))


def test_small_run_reports_index_backed_timings(capsys: pytest.CaptureFixture[str]) -> None:
    require(_pg_available(), "PostgreSQL on 127.0.0.1:5432")
    name = f"ruang_bench_social_test_{os.getpid()}"
    code = social.main(members=2000, follows=20_000, samples=50, as_json=True,
                       write_docs=False, database=_bench_url(name), keep=False)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, result.get("seq_scans")
    assert name not in _databases()

    assert result["benchmark"] == "social"
    assert (result["members"], result["follows"], result["samples"]) == (2000, 20_000, 50)
    assert result["search_terms"] > 2000
    assert result["load_seconds"] > 0
    assert set(result["load_phases_seconds"]) >= {"members", "search_terms", "follows",
                                                  "indexes", "vacuum_analyze"}
    assert result["graph"]["max_followers"] > 10 * result["graph"]["median_followers"]
    assert result["graph"]["mean_following"] == pytest.approx(10, abs=0.01)
    assert set(result["queries"]) == QUERIES
    for q in result["queries"].values():
        assert q["samples"] == 50
        assert 0 < q["p50_ms"] <= q["p95_ms"] <= q["p99_ms"] <= q["max_ms"]
        assert isinstance(q["meets_target"], bool)
    assert isinstance(result["all_met"], bool)
    assert result["machine"]["cores"]
    assert result["postgres"]["version"]
    text = social.markdown(result, "ruang bench social --members 2000")
    assert text.startswith("## Social graph: `ruang bench social`")
    assert "| followers, first page |" in text

    # Every statement was EXPLAINed; the graph tables are read through indexes (members has
    # only 2,000 rows here, where a sequential scan is the planner's right choice).
    assert result["plans_index_backed"] is True
    assert result["seq_scans"] == []
    assert set(result["plans"]) == QUERIES
    for name_, by_input in result["plans"].items():
        for stmts in by_input.values():
            assert stmts, name_
            access = [a for s in stmts for a in s["access"]]
            for a in access:
                if a.endswith((" on follows", " on search_terms")):
                    assert "Index" in a, (name_, a)
            table = "search_terms" if name_.startswith("search") else "follows"
            assert any("Index" in a and a.endswith(f" on {table}") for a in access), \
                (name_, access)


def test_refuses_a_database_it_did_not_create(capsys: pytest.CaptureFixture[str]) -> None:
    require(_pg_available(), "PostgreSQL on 127.0.0.1:5432")
    name = f"ruang_bench_social_other_{os.getpid()}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        code = social.main(members=100, follows=500, samples=5, as_json=True,
                           write_docs=False, database=_bench_url(name), keep=False)
        assert code == 2
        assert "refusing to touch it" in capsys.readouterr().err
        assert name in _databases()
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
