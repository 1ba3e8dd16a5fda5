"""Modules: relative imports, aliases, cycles, std modules, and `gen` declarations."""
import pytest

import catlearn
from catlearn.core.errors import ImportError_, NameError_, TypeError_


def test_relative_imports_and_aliases(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "layers.cat").write_text("use std.nn\ndef block(n) : R[n] -> R[n] = dense(n, n) ; relu\n")
    (tmp_path / "main.cat").write_text('use std.nn\nuse "lib/layers.cat"\nuse "lib/layers.cat" as L\n'
                                       "model a : R[4] -> R[4] = block(4)\nmodel b : R[4] -> R[4] = L.block(4)\n")
    m = catlearn.load(tmp_path / "main.cat")
    assert m["a"] == m["b"]
    assert [p.name for p in m["a"].params] == ["block.dense.W", "block.dense.b"]


def test_import_cycles_are_reported(tmp_path):
    (tmp_path / "a.cat").write_text('use "b.cat"\n')
    (tmp_path / "b.cat").write_text('use "a.cat"\n')
    with pytest.raises(ImportError_, match="a.cat → b.cat → a.cat"):
        catlearn.load(tmp_path / "a.cat")


def test_ambiguous_imports(tmp_path):
    for name in ("x", "y"):
        (tmp_path / f"{name}.cat").write_text("use std.nn\ndef f : R -> R = relu\n")
    (tmp_path / "main.cat").write_text('use "x.cat"\nuse "y.cat"\nmodel g : R -> R = f\n')
    with pytest.raises(NameError_, match="ambiguous"):
        catlearn.load(tmp_path / "main.cat")


def test_std_modules():
    catlearn.loads("use std\nmodel f : R[2] -> R = x => sum(exp(x))")
    with pytest.raises(NameError_, match="add `use std.nn`"):
        catlearn.loads("use std.math\nmodel f : R[2] -> R[2] = softmax")


def test_generators_are_opaque_typed_boxes():
    m = catlearn.loads("use std.nn\ngen mix : R[n] * R[n] -> R[n]\n"
                       "model f : R[b: 2, 5] * R[5] -> R[b: 2, 5] = (x, y) => relu(mix(x, y))")
    (mix, relu) = m["f"].ops
    assert mix.prim.name == "mix" and mix.lift == 1
    with pytest.raises(TypeError_):
        catlearn.loads("gen mix : R[n] * R[n] -> R[n]\nmodel f : R[5] * R[4] -> R[5] = mix")
