"""docs/errors.md lists exactly the codes errors.py defines, with the same statuses."""

import re
from pathlib import Path

from ruang.errors import all_codes

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_error_docs_match_error_codes() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", DOC.read_text(), flags=re.M)
    documented = {code: int(status) for code, status in rows}
    assert documented == all_codes()
