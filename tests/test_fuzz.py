"""Random bytes, token soups and mutated models fed to the checker give either
a module or a CatError with a span — never any other exception.  The hostile
mutations insert a fragment of each class of input that once escaped."""
import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from catlearn.cli import main
from catlearn.core.errors import CatError
from catlearn.grammar.module import check_bytes

EXAMPLES = int(os.environ.get("CATLEARN_FUZZ_EXAMPLES", "300"))
MODELS = sorted(Path(__file__).parent.parent.glob("models/*.cat"))
TOKENS = ["use", "std", "std.nn", "type", "gen", "def", "model", "circuit", "over", "param", "let", "in",
          "feedback", "learner", "train", "loss", "optimizer", "=>", "->", "=", ":", ";", ",", "(", ")", "[", "]",
          "*", "+", "-", "/", "~", ".", "x", "y", "f", "n", "R", "Z2", "R[3]", "R[n]", "R[seq: 4]", "0", "1", "64",
          "0.5", "1e-3", '"ij,jk->ik"', "relu", "add", "matvec", "dense", "dense(3, 4)", "glorot", "zeros", "sum",
          "delay", "id", "swap", "copy", "discard", "fst", "snd", "reshape", "shape", "einsum", "spec", "index",
          "--", "\n", "cross_entropy", "adam", "sgd", "softmax", "conv2d", "pad", "()", "x =>", "(x, y) =>"]


def check(data: bytes) -> None:
    try:
        check_bytes(data, "fuzz.cat")
    except CatError as e:
        assert e.span is not None, f"a CatError without a span: {e.message}"
        assert e.render().startswith("fuzz.cat:") or e.render().startswith(e.span.location)


def check_cli(data: bytes) -> None:
    """The same through `catlearn check`: exit 0 or 1, and a report, never a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.cat"
        path.write_bytes(data)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(["check", str(path)])
        assert status in (0, 1), err.getvalue()
        assert status == 0 or err.getvalue().startswith(f"{path}:")


@settings(max_examples=EXAMPLES)
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check(data)
    check_cli(data)


@settings(max_examples=EXAMPLES)
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_token_soup(tokens):
    check(" ".join(tokens).encode())
    check_cli(" ".join(tokens).encode())


def _tokens(text: str) -> list[str]:
    return re.findall(r'"[^"\n]*"|--[^\n]*|[A-Za-z_][A-Za-z_0-9.]*|\d+(?:\.\d+)?(?:e-?\d+)?|=>|->|\S|\n', text)


HOSTILE = st.one_of(
    st.integers(20, 6000).map(lambda n: "9" * n),  # huge integers
    st.sampled_from(["1e999", "1e309", "-1e999", "1.5e99999"]),  # non-finite literals
    st.tuples(st.sampled_from("+*-"), st.integers(100, 1500)).map(lambda t: t[0].join(["1"] * t[1])),  # deep
    st.integers(200, 3000).map(lambda n: f'"{"a" * n}.cat"'),  # long import names
    st.sampled_from(['"../x.cat"', '"/etc/passwd"', '"/proc/self/environ"', '"x.cat"']),  # escaping imports
    st.sampled_from(["\r", "\r\n", "\x0c", "\x0b", "\u2028", "\x85", "\x1b[31m", "\u202e", "\x07"]),  # lines
    st.sampled_from(["R[", "]", "(", ")", "use", "def d : R -> R = d ; d"]),
)


@settings(max_examples=EXAMPLES)
@given(st.sampled_from(MODELS), st.lists(st.tuples(st.integers(0, 10 ** 6), HOSTILE), min_size=1, max_size=3))
def test_hostile_mutations(path, insertions):
    tokens = _tokens(path.read_text())
    for at, fragment in insertions:
        tokens.insert(at % (len(tokens) + 1), fragment)
    data = " ".join(tokens).encode()
    check(data)
    check_cli(data)


@settings(max_examples=EXAMPLES)
@given(st.sampled_from(MODELS), st.data())
def test_mutated_models(path, data):
    tokens = _tokens(path.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(tokens) - 1))
        action = data.draw(st.sampled_from(["delete", "replace", "insert", "duplicate"]))
        if action == "delete":
            del tokens[i]
        elif action == "replace":
            tokens[i] = data.draw(st.sampled_from(TOKENS))
        elif action == "insert":
            tokens.insert(i, data.draw(st.sampled_from(TOKENS)))
        else:
            tokens.insert(i, tokens[i])
    check(" ".join(tokens).encode())
