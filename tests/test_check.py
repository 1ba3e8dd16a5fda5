"""The IR checker rejects a broken diagram of each kind it checks, and the
test suite runs it after every pass (tests/conftest.py turns it on)."""
from dataclasses import replace

import pytest
import torch

import catlearn
from catlearn.core.check import IRError, check_diagram, checked
from catlearn.core.diagram import FEEDBACK, Diagram, Op, Param
from catlearn.core.primitives import REGISTRY
from catlearn.core.types import TensorType

R3, R = TensorType("R", (3,)), TensorType("R")
RELU, ADD, SUM = REGISTRY["relu"], REGISTRY["add"], REGISTRY["sum"]


def relu_then_sum() -> Diagram:
    """x ↦ sum(relu(x)) on R[3]: wires 0 (x), 1, 2."""
    return Diagram((R3, R3, R), (Op(RELU, (), (0,), (1,), 1), Op(SUM, (), (1,), (2,))), (0,), (2,))


def test_a_well_formed_diagram_passes():
    check_diagram(relu_then_sum())
    check_diagram(catlearn.load("models/transformer_block.cat")["transformer"])


BROKEN = {
    "an input that is not a wire": (lambda d: replace(d, inputs=(7,)), "input wire 7 is not a wire"),
    "an input given twice": (lambda d: replace(d, inputs=(0, 0)), "defined twice"),
    "a parameter that is an input": (lambda d: replace(d, params=(Param("p", 0),)), "defined twice"),
    "two parameters of one name": (lambda d: replace(d, types=d.types + (R, R), params=(Param("p", 3), Param("p", 4))),
                                   "two parameters are called `p`"),
    "a box reading a wire made later": (lambda d: replace(d, ops=d.ops[::-1]), "reads wire 1, which is not defined"),
    "a box reading a wire nothing makes": (lambda d: replace(d, ops=(d.ops[0], replace(d.ops[1], inputs=(5,)))),
                                           "reads wire 5"),
    "a box making an input": (lambda d: replace(d, ops=(replace(d.ops[0], outputs=(0,)),) + d.ops[1:]),
                              "defines wire 0, which is already an input"),
    "a box making a wire twice": (lambda d: replace(d, ops=d.ops + (Op(RELU, (), (0,), (1,), 1),)),
                                  "defines wire 1, which is already defined"),
    "a box making no wire of the diagram": (lambda d: replace(d, ops=(replace(d.ops[0], outputs=(9,)),) + d.ops[1:]),
                                            "defines wire 9, which is not a wire"),
    "an output nothing makes": (lambda d: replace(d, outputs=(2, 3)), "the output wire 3 is not defined"),
    "an output type its rule does not give": (lambda d: replace(d, types=(R3, TensorType("R", (4,)), R)),
                                              r"has outputs R\[4\] where its rule gives R\[3\]"),
    "a lift its rule does not give": (lambda d: replace(d, ops=(replace(d.ops[0], lift=0),) + d.ops[1:]),
                                      "lifted over 0 axes where its rule gives 1"),
    "a box that does not type": (lambda d: replace(d, ops=(d.ops[0], replace(d.ops[1], attrs=(("spec", "ij"),),
                                                                                  prim=REGISTRY["einsum"]))),
                                 "does not type"),
}


@pytest.mark.parametrize("kind", BROKEN)
def test_the_checker_rejects(kind):
    broken, message = BROKEN[kind]
    with pytest.raises(IRError, match=message):
        check_diagram(replace(broken(relu_then_sum()), _cache={}))


def test_the_checker_rejects_a_batched_argument_lacking_the_models_axes():
    """sub(x, mean(x)) on a batch without the broadcast: NumPy would align the batch with the model's axis."""
    x, m = TensorType("R", (3,)).batched((3,)), TensorType("R").batched((3,))
    d = Diagram((x, m, x), (Op(REGISTRY["mean"], (), (0,), (1,), 1), Op(REGISTRY["sub"], (), (0, 1), (2,), 2)),
                (0,), (2,))
    with pytest.raises(IRError, match="misaligned arguments: argument 2 of `sub` has batch axes"):
        check_diagram(d)


def test_the_checker_rejects_a_feedback_without_its_next_state():
    body = relu_then_sum()  # one output: no room for the next state beside it
    d = Diagram((R3, R), (Op(FEEDBACK, (), (0,), (1,), 0, body=body),), (0,), (1,))
    with pytest.raises(IRError, match="feedback without a body"):
        check_diagram(d)


def test_a_fault_shows_the_boxes_around_it_and_the_pass_that_made_it():
    with pytest.raises(IRError) as caught:
        checked(BROKEN["a lift its rule does not give"][0](relu_then_sum()), "a pass")
    report = str(caught.value)
    assert "(made by a pass)" in report
    assert ">   0: v1 : R[3] = relu(v0)" in report and "1: v2 : R = sum(v1)" in report


def test_a_pass_that_breaks_the_ir_is_caught_where_it_does(monkeypatch):
    """The optic's residual fusion that dropped a residual its backward pass still read (the issue's defect 3)."""
    from catlearn.backends.torch import fuse
    from catlearn.backends.torch.module import compile_module

    def drops_a_residual(forward, backward, n_outputs):
        return forward, replace(backward, inputs=backward.inputs[1:], _cache={})

    monkeypatch.setattr(fuse, "_late_rearrangements", drops_a_residual)
    f = catlearn.loads('use std.nn\nmodel f : R[2, 2] -> R[2, 2] = x => mul(rearrange(x, spec="r c -> c r"), x)')["f"]
    with pytest.raises(IRError, match="reads wire 0, which is not defined before it .made by drops_a_residual"):
        compile_module(f, "rd")(torch.zeros(2, 2, requires_grad=True))
