"""The language reference stays in step with the code it describes."""
from pathlib import Path

from catlearn.core.primitives import REGISTRY

ROOT = Path(__file__).parent.parent
LANGUAGE = (ROOT / "docs" / "language.md").read_text()


def test_the_reference_quotes_the_grammar_verbatim():
    grammar = (ROOT / "catlearn" / "grammar" / "catlearn.lark").read_text()
    block = LANGUAGE.split("```lark\n", 1)[1].split("```", 1)[0]
    assert block == grammar


def test_the_reference_lists_every_primitive():
    missing = [name for name in REGISTRY if f"`{name}" not in LANGUAGE]
    assert missing == []
