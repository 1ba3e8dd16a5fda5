"""The formatter: idempotent, keeps every comment, and its output re-parses to
the same diagrams."""
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import catlearn
from catlearn.grammar.format import format_text

from .test_pointfree_pointful import terms, texts

MODELS = sorted((Path(__file__).parent.parent / "models").glob("*.cat"))


def same_module(a: str, b: str, search_path=()) -> None:
    ma, mb = catlearn.loads(a, search_path=search_path), catlearn.loads(b, search_path=search_path)
    assert list(ma.definitions) == list(mb.definitions)
    for name in ma.definitions:
        assert ma[name] == mb[name]
    assert {n: (l.loss, l.optimizer, l.settings) for n, l in ma.learners.items()} == \
           {n: (l.loss, l.optimizer, l.settings) for n, l in mb.learners.items()}


def comments(text: str) -> list[str]:
    return sorted(re.findall(r"--[^\n]*", text))


@given(st.integers(1, 3).flatmap(lambda n: terms(n)), st.sampled_from(["3", "seq: 2, 4"]), st.booleans())
def test_formatting_random_models_keeps_their_meaning(term, shape, pointful):
    text = texts(term, shape)[pointful]
    formatted = format_text(text)
    same_module(text, formatted)
    assert format_text(formatted) == formatted


@given(st.sampled_from(MODELS), st.data())
def test_comments_survive_anywhere(path, data):
    lines = path.read_text().splitlines()
    for k in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines)))
        if data.draw(st.booleans()) or i == len(lines):
            lines.insert(i, f"-- note {k}")
        else:
            lines[i] = f"{lines[i]}  -- note {k}"
    text = "\n".join(lines) + "\n"
    formatted = format_text(text)
    assert comments(formatted) == comments(text)
    same_module(text, formatted, search_path=[path.parent])
    assert format_text(formatted) == formatted


def test_layout_of_a_pointful_body():
    text = "use std.nn\nmodel f : R[2] -> R[2] = x => let a = relu(x), b = tanh(a) -- the second\n in add(a, b)\n"
    assert format_text(text) == (
        "use std.nn\n\n"
        "model f : R[2] -> R[2] =\n"
        "  x => let a = relu(x),\n"
        "           b = tanh(a)  -- the second\n"
        "       in add(a, b)\n")


def test_minimal_parentheses():
    text = "use std.nn\nmodel f : R * R -> R = (x, y) => ((x + y) * (x - (y - x))) + -(-x)\n"
    out = format_text(text)
    assert "(x + y) * (x - (y - x)) + -(-x)" in out
    same_module(text, out)
