"""Bad input gets a clear CatError and exit code 1: a file that is not UTF-8,
a 5 MB file, 10,000 nested parentheses, a shape of 10^12 elements.
(How fast each is rejected is measured in benchmarks/bad_input.py.)"""
import pytest

from catlearn.cli import main
from catlearn.core.errors import InputError, TypeError_
from catlearn.grammar.module import check_bytes

CASES = {
    "not-utf8": (b"model f : R -> R = \xff\xfe\n", InputError, "not valid UTF-8"),
    "five-megabytes": (b"-- " + b"x" * (5 * 2 ** 20) + b"\n", InputError, "too large"),
    "nested-parentheses": (b"use std.nn\nmodel f : R -> R = " + b"(" * 10_000 + b"relu" + b")" * 10_000 + b"\n",
                           InputError, "nested too deeply"),
    "nested-types": (b"type T = " + b"(" * 10_000 + b"R" + b")" * 10_000 + b"\n", InputError, "nested too deeply"),
    "long-negation": (b"use std.nn\nmodel f : R -> R = x => " + b"- " * 10_000 + b"x\n", InputError,
                      "nested too deeply"),
    "huge-shape": (b"use std.nn\nmodel f : R[1000000, 1000000] -> R[1000000, 1000000] = relu\n", TypeError_,
                   "1,000,000,000,000 elements"),
    "huge-intermediate": (b"use std.nn\nmodel f : R[1000000] -> R = x => sum(flatten(outer(x, x)))\n", TypeError_,
                          "elements"),
    "nul-byte": (b"model f : R -> R = relu\x00\n", InputError, "NUL"),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_a_cat_error(name, tmp_path, capsys):
    data, kind, message = CASES[name]
    with pytest.raises(kind, match=message) as e:
        check_bytes(data, "bad.cat")
    assert e.value.span is not None
    path = tmp_path / "bad.cat"
    path.write_bytes(data)
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:") and "error:" in err
    assert len(err) < 5000  # a report, not a dump of the input


def test_a_long_flat_model_is_not_too_deep():
    chain = " ; ".join(["relu"] * 5000)
    lets = ", ".join(f"v{i + 1} = tanh(v{i})" for i in range(3000))
    text = f"use std.nn\nmodel a : R -> R = {chain}\nmodel b : R -> R = v0 => let {lets} in v3000\n"
    module = check_bytes(text.encode(), "long.cat")
    assert len(module["a"].ops) == 5000 and len(module["b"].ops) == 3000
