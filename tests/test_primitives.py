"""Every primitive's type rule agrees with what its NumPy semantics computes:
the inferred output type (batch lift included) is the shape NumPy returns."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from catlearn.core.errors import CatError
from catlearn.core.primitives import REGISTRY
from catlearn.core.types import TensorType
from catlearn.testing.strategies import default_primitives, instances

REAL = default_primitives("R")
POOL_INDICES = {"argmax_pool2d", "unpool2d", "gather2d"}  # they take Z indices: not for random diagrams
BATCH = {"broadcast_batch", "unbatch", "rebatch"}  # the IR's own, for batched diagrams: tests/test_batching.py


@pytest.mark.parametrize("prim", REAL, ids=lambda p: p.name)
@settings(max_examples=25)
@given(data=st.data())
def test_type_rule_matches_numpy_shapes(prim, data):
    ins, attrs = data.draw(instances(prim))
    batch = data.draw(st.sampled_from([(), (2,), (3, 2)]))
    lifted = [TensorType(t.dtype, batch + t.shape) if data.draw(st.booleans()) else t for t in ins]
    try:
        outs, lift = prim.infer(tuple(lifted), attrs)
    except CatError:  # e.g. a kernel larger than its input: rightly rejected
        assume(False)
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(0.5, 2.0, tuple(t.shape)) for t in lifted]
    result = prim.numpy(*arrays, **attrs)
    result = result if isinstance(result, tuple) else (result,)
    assert [np.shape(r) for r in result] == [tuple(t.shape) for t in outs]
    assert lift == (len(batch) if any(t.rank > s.rank for t, s in zip(lifted, ins)) else 0)


def test_every_registered_primitive_is_covered():
    """A new primitive with a type rule must come with an instance generator."""
    stateless = {p.name for p in REGISTRY.values() if p.numpy is not None and not p.stateful}
    assert stateless == {p.name for p in REAL} | POOL_INDICES | BATCH  # those have their own tests


def test_index_out_of_range_is_a_type_error():
    from catlearn.core.errors import TypeError_
    with pytest.raises(TypeError_, match="out of range"):
        REGISTRY["index"].infer((TensorType("R", (3,)),), {"i": 3})


def test_lifted_axes_must_be_suffixes_of_each_other():
    from catlearn.core.errors import TypeError_
    with pytest.raises(TypeError_, match="lifted axes"):
        REGISTRY["add"].infer((TensorType("R", (2, 3)), TensorType("R", (3, 3))), {})
    (out,), lift = REGISTRY["add"].infer((TensorType("R", (2, 3)), TensorType("R", (3,))), {})
    assert out == TensorType("R", (2, 3)) and lift == 2
