"""Media tests: a real Ruang server with its own Janus, and aiortc clients, all inside the
private network namespace that scripts/test creates (Janus does no ICE over loopback)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ruang import netns
from tests.conftest import IN_CI, LiveServer, make_settings, run_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/media" in str(item.fspath):
            item.add_marker(pytest.mark.media)


@pytest.fixture(autouse=True)
def _inside_namespace() -> None:
    problem = None
    if not netns.inside():
        problem = "media tests run inside a network namespace: use scripts/test"
    elif shutil.which("janus") is None:
        problem = "Janus is not installed (apt-get install janus)"
    if problem:
        if IN_CI:
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)


@pytest.fixture
async def media_live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'ruang.db'}",
                             media=True, audio_prebuffer=2, janus_event_loops=1)
    async with run_server(settings) as server:
        assert server.runtime.engine is not None
        assert await server.runtime.engine.wait_up(10)
        yield server
