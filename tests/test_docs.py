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
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference", ROOT / "docs" / "reference.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    table = LANGUAGE.split(reference.START, 1)[1].split(reference.END, 1)[0]
    assert table == "\n" + reference.primitive_table(), "run: python docs/reference.py"
    assert all(f"`{name}" in table for name in REGISTRY)
