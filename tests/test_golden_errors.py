"""Golden error messages: each tests/golden/NAME.cat is a bad model and
NAME.err the exact report `catlearn check` prints for it (exit code 1).

Regenerate after a deliberate change with CATLEARN_UPDATE_GOLDEN=1 and read
the diff: these messages are part of the product."""
import os
from pathlib import Path

import pytest

from catlearn.cli import main

ROOT = Path(__file__).parent.parent
CASES = sorted((ROOT / "tests" / "golden").glob("*.cat"))


def test_there_are_at_least_fifteen_distinct_messages():
    first_lines = {p.with_suffix(".err").read_text().split("error: ")[1].splitlines()[0] for p in CASES}
    assert len(first_lines) >= 15


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_error_report(case, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    status = main(["check", str(case.relative_to(ROOT))])
    out, err = capsys.readouterr()
    expected = case.with_suffix(".err")
    if os.environ.get("CATLEARN_UPDATE_GOLDEN"):
        expected.write_text(err)
    assert status == 1
    assert out == ""
    assert err == expected.read_text()
