"""The README's configuration table is the one the Settings class describes."""

from pathlib import Path

from ruang.config import settings_table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_matches_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "README's table is stale: paste `ruang config --markdown`"


def test_readme_quick_start_has_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/run " in readme
    assert "scripts/test " in readme
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
