"""Random well-typed diagrams print to .cat text that re-parses to an equal diagram."""
from hypothesis import given

import catlearn
from catlearn.grammar.printer import print_diagram
from catlearn.testing import diagrams


@given(diagrams(max_ops=8))
def test_real_diagrams_print_and_reparse(d):
    assert catlearn.loads(print_diagram(d, "g"))["g"] == d


@given(diagrams(dtype="Z2", max_ops=8))
def test_circuits_over_z2_print_and_reparse(d):
    assert catlearn.loads(print_diagram(d, "g"))["g"] == d


def test_every_bundled_model_prints_and_reparses():
    from pathlib import Path

    for path in sorted(Path(__file__).parent.parent.glob("models/*.cat")):
        module = catlearn.load(path)
        for name, d in ((n, module[n]) for n in module.definitions):
            if any(op.prim.module == "user" for op in d.ops):
                continue  # holes of higher-order definitions print as generators, not parameters
            assert catlearn.loads(print_diagram(d, name))[name] == d, (path, name)
