"""The database handle: engine, sessions, migrations, health.

The caller owns the transaction (``async with db.transaction() as s``); helpers take a session
and never commit. SQLite runs in WAL mode with foreign keys on; writers wait for the lock
instead of failing at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_begin(conn: Any) -> None:
    # Write transactions take SQLite's write lock up front (BEGIN IMMEDIATE): a transaction
    # that reads and then writes would otherwise fail, or act on a stale read, when another
    # writer committed in between. Reads stay DEFERRED and do not block anyone.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


class StorageUnavailable(Exception):
    """The database cannot be reached right now."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook issue BEGIN itself (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=20, max_overflow=20, pool_pre_ping=True,
                          pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on any error."""
        try:
            async with self.sessions() as session:
                if self.is_sqlite:
                    await session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
                try:
                    yield session
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
        except (OperationalError, DBAPIError, OSError) as exc:
            if _is_connection_error(exc):
                raise StorageUnavailable(str(exc).splitlines()[0]) from exc
            raise

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; objects stay readable after it closes."""
        try:
            async with self.sessions() as session:
                yield session
        except (OperationalError, DBAPIError, OSError) as exc:
            if _is_connection_error(exc):
                raise StorageUnavailable(str(exc).splitlines()[0]) from exc
            raise

    async def ping(self, timeout: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def migrate(self) -> None:
        """Bring the schema to the latest migration."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def connection(self) -> AsyncConnection:
        return await self.engine.connect()


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Any) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError | ConnectionError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    msg = str(exc).lower()
    return any(s in msg for s in ("connection refused", "could not connect",
                                  "connection was closed", "server closed the connection",
                                  "cannot connect", "connection is closed",
                                  "terminating connection"))
