"""Hostile `.cat` input, one generator per class: each input gets a CatError
with a span, through the API and through `catlearn check` (exit 1, never the
internal-error exit 3).  How fast each is refused is measured in
benchmarks/bad_input.py."""
import json
import os
import tracemalloc
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catlearn.cli import main
from catlearn.core.errors import CatError, DefinitionError, ImportError_, InputError, NameError_
from catlearn.grammar.elaborate import MAX_SPLICED_BOXES
from catlearn.grammar.module import MAX_ERRORS, MAX_IMPORT_DEPTH, check_bytes, load
from catlearn.grammar.parser import MAX_BYTES


def refused(data: bytes, tmp_path, kind=CatError) -> CatError:
    """The error `data` gets from the API; `catlearn check` agrees (exit 1, a located report)."""
    path = tmp_path / "bad.cat"
    path.write_bytes(data)
    with pytest.raises(kind) as e:
        check_bytes(data, str(path))
    assert e.value.span is not None
    assert e.value.render().startswith(f"{path}:{e.value.span.line}:{e.value.span.col}: error: ")
    return e.value


def cli(args, capsys) -> tuple[int, str]:
    status = main(args)
    return status, capsys.readouterr().err


# -- numbers --------------------------------------------------------------------------
PLACES = {
    "type size": "model f : R[{n}] -> R = sum",
    "size argument": "model f : R[3] -> R[3] = dense(3, {n}) ; dense({n}, 3)",
    "size arithmetic": "model f : R[{n} * {n} * {n}] -> R = sum",
    "value": "model f : R -> R = x => x * {n}",
    "keyword value": "model f : R[3] -> R[3] = layernorm(eps={n})",
    "optimizer option": "model f : R[3] -> R[3] = relu\nlearner l = train f\n  loss mse\n  optimizer adam(lr={n})",
    "learner setting": "model f : R[3] -> R[3] = relu\nlearner l = train f\n  loss mse\n  epochs {n}",
}


@settings(max_examples=25)
@given(st.sampled_from(sorted(PLACES)), st.integers(20, 6000))
def test_huge_integers_are_refused_where_they_do_harm(place, digits):
    text = "use std.nn\n" + PLACES[place].format(n="9" * digits)
    try:
        check_bytes(text.encode(), "big.cat")
    except CatError as e:
        assert e.span is not None and len(e.render()) < 2000
    else:  # a large but finite value is a legal constant (a float below 1.8e308)
        assert place in ("value", "keyword value", "optimizer option", "learner setting") and digits <= 308


@pytest.mark.parametrize("literal", ["1e999", "1e309", "9" * 400, "1.5e99999"])
@pytest.mark.parametrize("place", ["value", "keyword value", "optimizer option"])
def test_non_finite_literals_are_refused(literal, place, tmp_path):
    e = refused(("use std.nn\n" + PLACES[place].format(n=literal)).encode(), tmp_path)
    assert "too large" in e.message
    assert literal.startswith(_caret_text(e).rstrip("…"))


def test_torch_code_writes_non_finite_constants():
    import torch

    from catlearn.backends.torch import compile_module
    from catlearn.core.builder import Builder
    from catlearn.core.primitives import REGISTRY
    from catlearn.core.types import TensorType

    b = Builder()
    x = b.input(TensorType("R", (3,)))
    y = b.apply(REGISTRY["mul"], [x, b.const(float("inf"))], {})[0]
    module = compile_module(b.finish([y], "f"))
    x = torch.tensor([1.0, -2.0, 3.0])
    assert torch.equal(module(x), x * float("inf"))


# -- deep and long ----------------------------------------------------------------------
@settings(max_examples=20)
@given(st.sampled_from(["+", "*", "-"]), st.integers(129, 4000),
       st.sampled_from(["model f : R[{e}] -> R = sum", "model f : R[3] -> R[3] = dense(3, {e}) ; dense({e}, 3)"]))
def test_long_size_arithmetic_is_refused_or_checked(op, terms, template):
    text = "use std.nn\n" + template.format(e=op.join(["1"] * terms))
    try:
        check_bytes(text.encode(), "deep.cat")
    except CatError as e:
        assert e.span is not None
    else:
        assert "dense" in template  # an argument's arithmetic is a flat chain, evaluated in a loop


def test_a_deep_type_size_is_an_input_error(tmp_path):
    e = refused(b"model f : R[" + b"+".join([b"1"] * 990) + b"] -> R = sum\n", tmp_path, InputError)
    assert "nested too deeply" in e.message


@settings(max_examples=10)
@given(st.integers(256, 5000), st.booleans())
def test_long_import_names_are_import_errors(length, folder):
    name = ("sub/" if folder else "") + "a" * length + ".cat"
    with pytest.raises(ImportError_) as e:
        check_bytes(f'use "{name}"\n'.encode(), "long.cat")
    assert e.value.span.line == 1


def test_a_chain_of_imports_deeper_than_the_limit_is_refused(tmp_path, capsys):
    for i in range(500):
        (tmp_path / f"m{i}.cat").write_text(f'use "m{i + 1}.cat"\n' if i < 499 else "use std.nn\n")
    with pytest.raises(ImportError_, match="nested too deeply") as e:
        load(tmp_path / "m0.cat")
    assert f"at most {MAX_IMPORT_DEPTH}" in e.value.expected
    status, err = cli(["check", str(tmp_path / "m0.cat")], capsys)
    assert status == 1 and "nested too deeply" in err


def test_a_chain_of_imports_within_the_limit_loads(tmp_path):
    depth = MAX_IMPORT_DEPTH - 2  # top.cat, m0.cat … m62.cat: 64 files
    for i in range(depth):
        (tmp_path / f"m{i}.cat").write_text(f'use "m{i + 1}.cat"\n')
    (tmp_path / f"m{depth}.cat").write_text("use std.nn\nmodel leaf : R -> R = nope\n")
    (tmp_path / "top.cat").write_text('use "m0.cat"\n')
    with pytest.raises(NameError_) as e:  # the deepest file is reached, and checked
        load(tmp_path / "top.cat")
    assert e.value.span.source.name.endswith(f"m{depth}.cat")


# -- exponential expansion -----------------------------------------------------------------
def chain(levels: int, uses: int, generic: bool) -> bytes:
    size = "(n)" if generic else ""
    typ = "R[n] -> R[n]" if generic else "R -> R"
    lines = ["use std.nn", f"def d0{size} : {typ} = relu"]
    lines += [f"def d{i}{size} : {typ} = " + " ; ".join([f"d{i - 1}{size}"] * uses) for i in range(1, levels + 1)]
    lines.append(f"model m : {'R[3] -> R[3]' if generic else 'R -> R'} = d{levels}{'(3)' if generic else ''}")
    return "\n".join(lines).encode()


@settings(max_examples=6)
@given(st.integers(17, 40), st.sampled_from([2, 3]), st.booleans())
def test_exponential_expansion_is_refused_naming_the_chain(levels, uses, generic):
    if uses ** levels <= MAX_SPLICED_BOXES:
        return
    with pytest.raises(DefinitionError, match="expand to more than") as e:
        check_bytes(chain(levels, uses, generic), "chain.cat")
    (note,) = e.value.notes
    assert f"uses `d0` {uses}×" in note and "`d1` uses" in note


def test_an_expansion_within_the_budget_checks():
    levels = 12  # 4,096 boxes
    assert len(check_bytes(chain(levels, 2, False), "chain.cat")["m"].ops) == 2 ** levels


def test_the_expansion_budget_bounds_memory():
    tracemalloc.start()
    with pytest.raises(DefinitionError):
        check_bytes(chain(30, 2, False), "chain.cat")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 2 ** 20  # the refused 2^30 boxes would need hundreds of GiB


# -- reading ---------------------------------------------------------------------------------
def test_dev_zero_is_refused_without_reading_it(capsys):
    status, err = cli(["check", "/dev/zero"], capsys)
    assert status == 1 and "too large" in err


def test_an_imported_file_is_read_only_up_to_the_limit(tmp_path):
    big = tmp_path / "big.cat"
    with open(big, "wb") as f:
        f.truncate(300 * 2 ** 20)  # sparse: 300 MiB of NUL bytes that take no disk
    top = tmp_path / "top.cat"
    top.write_bytes(b'use "big.cat"\n')
    tracemalloc.start()
    with pytest.raises(InputError, match="too large"):
        check_bytes(top.read_bytes(), str(top))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * MAX_BYTES


# -- lines and characters ---------------------------------------------------------------------
BREAKS = ["\n", "\r\n", "\r"]
NOT_BREAKS = ["\x0c", "\x0b", "\x1c", "\x85", "\u2028", "\u2029"]


@settings(max_examples=40)
@given(st.lists(st.sampled_from(BREAKS), min_size=3, max_size=3), st.sampled_from(["", "-- a comment"]))
def test_line_endings_give_the_line_editors_show(ends, first):
    lines = [first or "use std.nn", "use std.nn", "model f : R -> R = relu ; nope ; relu"]
    text = "".join(line + end for line, end in zip(lines, ends))
    with pytest.raises(NameError_) as e:
        check_bytes(text.encode(), "lines.cat")
    assert (e.value.span.line, e.value.span.col) == (3, 27)
    assert _caret_text(e.value) == "nope"


@settings(max_examples=40)
@given(st.sampled_from(NOT_BREAKS), st.data())
def test_unusual_separators_do_not_shift_the_shown_line(char, data):
    text = "use std.nn\nmodel f : R -> R = relu ; nope\nmodel g : R -> R = relu\n"
    at = data.draw(st.integers(0, len(text) - 1))
    text = text[:at] + char + text[at:]
    with pytest.raises(CatError) as e:
        check_bytes(text.encode(), "sep.cat")
    span = e.value.span
    culprit = text.split("\n")[span.line - 1][span.col - 1:span.end_col - 1]
    assert culprit and _caret_text(e.value) == _escaped(culprit[:100])


def _escaped(text: str) -> str:
    return "".join(c.encode("unicode_escape").decode() if unicodedata.category(c)[0] in "CZ" and c != " " else c
                   for c in text)


def _caret_text(e: CatError) -> str:
    """What the report's caret underlines, read off the rendered excerpt."""
    lines = e.render().split("\n")
    code, caret = lines[2], lines[3]
    gutter = code.index("| ") + 2
    start = caret.index("^")
    return code[start:start + caret.count("^")] if start >= gutter else ""


CONTROL = st.characters(categories=["Cc", "Cf", "Zl", "Zp"], exclude_characters="\n\r\t")


@settings(max_examples=40)
@given(st.lists(CONTROL, min_size=1, max_size=8), st.sampled_from(["comment", "name", "string", "type"]))
def test_errors_never_echo_terminal_controls(chars, where):
    junk = "".join(chars)
    text = {"comment": f"model f : R -> R = nope -- {junk}",
            "name": f"model f : R -> R = no{junk}pe",
            "string": f'model f : R[3] -> R = einsum(spec="{junk}")',
            "type": f"model f : R[{junk}] -> R = relu"}[where]
    try:
        check_bytes(("use std.nn\n" + text).encode(), f"ctl{junk}.cat")
    except CatError as e:
        report = e.render()
        assert not [c for c in report if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    else:
        raise AssertionError("no error")


# -- imports stay where the user put them ------------------------------------------------------
@pytest.fixture
def project(tmp_path):
    """A model folder, a sibling folder outside it, and a secret outside both."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "layers.cat").write_text("use std.nn\ndef block : R -> R = relu ; relu\n")
    (tmp_path / "secret.cat").write_text("SECRET-LINE = nope\n")
    return tmp_path


ESCAPES = {
    "dot-dot": lambda root: "../secret.cat",
    "absolute": lambda root: str(root / "secret.cat"),
    "symlink": lambda root: "link.cat",
    "proc": lambda root: "environ.cat",
    "not .cat": lambda root: "/etc/passwd",
}


@pytest.mark.parametrize("how", ESCAPES)
def test_a_use_cannot_leave_the_model_folder(project, how, capsys):
    (project / "proj" / "link.cat").symlink_to(project / "secret.cat")
    (project / "proj" / "environ.cat").symlink_to("/proc/self/environ")
    top = project / "proj" / "main.cat"
    top.write_text(f'use "{ESCAPES[how](project)}"\nmodel f : R -> R = nope\n')
    with pytest.raises(ImportError_) as e:
        load(top)
    assert e.value.span.source.name.endswith("main.cat")
    status, err = cli(["check", str(top)], capsys)
    assert status == 1 and "SECRET" not in err and "PATH=" not in err


def test_a_symlink_loop_is_an_import_error(tmp_path, capsys):
    (tmp_path / "a.cat").symlink_to(tmp_path / "b.cat")
    (tmp_path / "b.cat").symlink_to(tmp_path / "a.cat")
    (tmp_path / "top.cat").write_text('use "a.cat"\n')
    with pytest.raises(ImportError_):
        load(tmp_path / "top.cat")
    with pytest.raises(ImportError_):
        load(tmp_path / "a.cat")
    assert cli(["check", str(tmp_path / "top.cat")], capsys)[0] == 1


def test_dot_dot_inside_the_model_folder_is_allowed(project):
    (project / "proj" / "sub").mkdir()
    (project / "proj" / "shared.cat").write_text("use std.nn\ndef g : R -> R = tanh\n")
    (project / "proj" / "sub" / "mid.cat").write_text('use "../shared.cat"\ndef h : R -> R = g ; g\n')
    top = project / "proj" / "main.cat"
    top.write_text('use "sub/mid.cat"\nmodel f : R -> R = h\n')
    assert len(load(top)["f"].ops) == 2


def test_other_folders_are_added_by_flag_or_environment(project, monkeypatch, capsys):
    top = project / "proj" / "main.cat"
    top.write_text('use "layers.cat"\nmodel f : R -> R = block\n')
    with pytest.raises(ImportError_, match="cannot find"):
        load(top)
    assert len(load(top, search_path=[project / "lib"])["f"].ops) == 2
    assert cli(["check", "--path", str(project / "lib"), str(top)], capsys)[0] == 0
    monkeypatch.setenv("CATLEARN_PATH", str(project / "lib"))
    assert len(load(top)["f"].ops) == 2
    assert cli(["check", str(top)], capsys)[0] == 0
    top.write_text('use "../lib/layers.cat"\nmodel f : R -> R = block\n')
    assert len(load(top)["f"].ops) == 2  # the search path is a root too


# -- reports ------------------------------------------------------------------------------------
@settings(max_examples=10)
@given(st.integers(1, 30))
def test_every_broken_definition_is_reported_up_to_the_limit(broken):
    lines = ["use std.nn"]
    for i in range(broken):
        lines += [f"model bad{i} : R -> R = nope{i}", f"model user{i} : R -> R = bad{i} ; relu",
                  f"model good{i} : R -> R = relu"]
    with pytest.raises(NameError_) as e:
        check_bytes("\n".join(lines).encode(), "many.cat")
    reported = e.value.all
    assert len(reported) == min(broken, MAX_ERRORS)
    assert [x.span.line for x in reported] == [2 + 3 * i for i in range(len(reported))]
    assert all(x.message == f"unknown name `nope{i}`" for i, x in enumerate(reported))


def test_check_json_lists_every_error_with_a_stable_kind(tmp_path, capsys):
    path = tmp_path / "two.cat"
    path.write_text("use std.nn\nmodel a : R -> R = nope\nmodel b : R[3] -> R = relu\n")
    assert main(["check", "--json", str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    errors = report["files"][0]["errors"]
    assert [(e["kind"], e["line"]) for e in errors] == [("name", 2), ("type", 3)]


@pytest.mark.parametrize("name, module", [("dense", "std.nn"), ("relu", "std.nn"), ("sum", "std.array"),
                                          ("layernorm", "std.nn")])
def test_a_missing_import_suggests_the_use_line(name, module):
    with pytest.raises(NameError_) as e:
        check_bytes(f"model f : R[3] -> R[3] = {name}\n".encode(), "f.cat")
    assert e.value.hint.endswith(f"add `use {module}`")


def test_error_kinds_are_the_documented_ones():
    from catlearn.core import errors

    documented = open(os.path.join(os.path.dirname(__file__), "..", "docs", "language.md")).read()
    kinds = {cls.kind for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, CatError)}
    assert kinds == {"error", "syntax", "input", "name", "type", "definition", "import", "file"}
    for kind in kinds:
        assert f"`{kind}`" in documented
