"""The categorical type checker: composition, tensor, shape unification,
named axes, batch lifting, higher-order arguments, recursion, feedback."""
import numpy as np
import pytest

import catlearn
from catlearn.backends.numpy import evaluate, init_params
from catlearn.core.errors import CatError, DefinitionError, NameError_, TypeError_
from catlearn.core.types import Poly, TensorType


def check(text: str) -> catlearn.Module:
    return catlearn.loads("use std.nn\nuse std.stream\n" + text)


def test_composition_requires_codomain_equal_domain():
    with pytest.raises(TypeError_) as e:
        check("model f : R[4] -> R[2] = dense(4, 3) ; dense(4, 2)")
    assert e.value.expected.startswith("R[4]") and e.value.found == "R[3]"


def test_tensor_forms_products():
    m = check("model f : R[2] * R[3] -> R[2] * R[3] = relu * tanh")
    assert m["f"].dom == (TensorType("R", (2,)), TensorType("R", (3,)))


def test_shape_variables_are_unified_across_a_definition():
    m = check("def f(n, m) : R[n] -> R[m] = dense(n, m) ; relu\nmodel g : R[5] -> R[7] = f(5, 7)")
    n, mm = Poly.var("n"), Poly.var("m")
    assert m["f"].dom == (TensorType("R", (n,)),) and m["f"].cod == (TensorType("R", (mm,)),)
    with pytest.raises(TypeError_):
        check("def f(n, m) : R[n] -> R[m] = dense(n, n)")


def test_implicit_sizes_are_inferred_at_call_sites():
    m = check("def sq : R[n] -> R[n] = square\nmodel g : R[6] -> R[6] = sq ; sq")
    assert m["g"].cod == (TensorType("R", (6,)),)


def test_leading_batch_axes_lift_implicitly():
    m = check("model mlp : R[4] -> R[2] = dense(4, 3) ; relu ; dense(3, 2)\n"
              "model batched : R[b: 5, 4] -> R[b: 5, 2] = mlp")
    batched = m["batched"]
    assert all(op.lift >= 1 for op in batched.ops if op.prim.name in ("matvec", "relu"))
    params = init_params(batched)
    assert sorted(params) == sorted(f"mlp.{p.name}" for p in m["mlp"].params)
    unbatched = {k[len("mlp."):]: v for k, v in params.items()}
    x = np.random.default_rng(0).normal(size=(5, 4))
    rows = [evaluate(m["mlp"], [row], unbatched)[0] for row in x]  # the oracle: one example at a time
    np.testing.assert_allclose(evaluate(batched, [x], params)[0], np.stack(rows), rtol=1e-12)


def test_named_axes_must_agree():
    check("def f : R[seq: n, d: 3] -> R[seq: n, d: 3] = relu\nmodel g : R[seq: 4, d: 3] -> R[seq: 4, d: 3] = f")
    with pytest.raises(TypeError_, match="named `time`"):
        check("def f : R[seq: n, d: 3] -> R[seq: n, d: 3] = relu\nmodel g : R[time: 4, d: 3] -> R[4, 3] = f")
    with pytest.raises(TypeError_, match="rearrange"):
        check('model g : R[a: 2, b: 3] -> R[b: 3, a: 2] = rearrange(spec="b a -> a b")')


def test_rearrange_by_names_permutes_axes():
    m = check('model g : R[seq: 2, d: 3] -> R[d: 3, seq: 2] = rearrange(spec="seq d -> d seq")')
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(evaluate(m["g"], [x])[0], x.T)


def test_higher_order_arguments_are_checked():
    text = "def twice(f : R[n] -> R[n]) : R[n] -> R[n] = f ; f\n"
    check(text + "model g : R[3] -> R[3] = twice(tanh)")
    with pytest.raises(TypeError_, match="argument `f` of `twice`"):
        check(text + "model g : R[3] -> R[3] = twice(dense(3, 4))")


def test_recursion_is_rejected():
    with pytest.raises(DefinitionError, match="recursive"):
        check("def f : R[3] -> R[3] = f")
    with pytest.raises(DefinitionError, match="f → g → h → f"):
        check("def f : R -> R = g\ndef g : R -> R = h\ndef h : R -> R = f")


def test_a_local_name_does_not_count_as_recursion():
    check("def f : R[3] -> R[3] = x => let f = relu(x) in f")


def test_feedback_must_be_guarded_by_a_delay():
    with pytest.raises(DefinitionError, match="not guarded"):
        check("model acc : R[3] -> R[3] = feedback s : R[3] in (x, s) => let t = add(x, s) in (t, t)")
    check("model acc : R[3] -> R[3] = feedback s : R[3] in (x, s) => let t = add(x, delay(s)) in (t, t)")
    check("model acc : R[3] -> R[3] = feedback s : R[3] = zeros in (x, s) => let t = add(x, s) in (t, t)")


def test_feedback_state_type_is_checked():
    with pytest.raises(TypeError_, match="next value"):
        check("model acc : R[3] -> R = feedback s : R[3] = zeros in (x, s) => (sum(x), sum(s))")


def test_unknown_names_suggest_the_nearest():
    with pytest.raises(NameError_) as e:
        check("model f : R[3] -> R[3] = rleu")
    assert e.value.hint == "did you mean `relu`?"


def test_circuits_stay_in_their_semiring():
    m = catlearn.loads("use std.array\ncircuit c over Z2 : Z2[3] -> Z2 = x => x[0] * x[1] + x[2] + 1")
    out = evaluate(m["c"], [np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]])])[0]
    np.testing.assert_array_equal(out, [0, 0, 1])  # brute force: 1·1+0+1, 1·0+1+1, 0·0+0+1 mod 2
    with pytest.raises(DefinitionError, match="carries a R wire"):
        catlearn.loads("use std.nn\ncircuit c over Z2 : Z2[3] * R -> Z2 = (x, y) => x[0]")
    with pytest.raises(TypeError_, match="not a Z2 constant"):
        catlearn.loads("use std.nn\ncircuit c over Z2 : Z2[3] -> Z2 = x => 1.5")


def test_every_error_has_a_span():
    bad = ["model f : R[3] -> R[4] = relu", "model f : R -> R = x => y", "model f : R -> R = dense(1)",
           "def f(n) : R[n] -> R[n] = x => x[0]", "model f : R[2] -> R[2] = reshape(shape=(3,))",
           "model f : R[2] -> R[2] = x => reshape(shape=(2,))"]  # found by the mutation fuzzer
    for text in bad:
        with pytest.raises(CatError) as e:
            check(text)
        assert e.value.span is not None, text


def test_module_api():
    m = catlearn.load("models/digits_mlp.cat")
    assert list(m.models) == ["mlp"]
    assert [p.name for p in m["mlp"].params] == ["dense.W", "dense.b", "dense_1.W", "dense_1.b"]
    assert m.learners["digits"].settings["epochs"] == 30
    assert m.learners["digits"].optimizer == ("adam", (("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-08), ("lr", 0.001)))
    e = catlearn.load("models/elman_rnn.cat").instantiate("elman", 3, 5)
    assert e.type == "R[3] -> R[5]"


def test_feedback_loops_lift_over_batch_axes():
    m = catlearn.loads(open("models/elman_rnn.cat").read() +
                       "\nmodel batched : R[b: 4, 8] -> R[b: 4, 16] = elman(8, 16)\n")
    (loop,) = m["batched"].ops
    assert loop.lift == 1
    assert str(loop.attr["state_type"]) == "R[b: 4, 16]"
    assert m["batched"].cod == (TensorType("R", (4, 16), ("b", None)),)
