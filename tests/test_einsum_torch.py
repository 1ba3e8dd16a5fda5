"""einsum's torch semantics (one matmul or one sum where it can be, the
same written out inline for known shapes) against ``torch.einsum`` on random
specifications, with leading batch axes that broadcast."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from catlearn.core.primitives import REGISTRY
from catlearn.core.types import TensorType

EINSUM = REGISTRY["einsum"]


@st.composite
def problems(draw):
    letters = "ijkl"
    n_in = draw(st.sampled_from([1, 2]))
    parts = [draw(st.permutations(letters).map(lambda p: "".join(p[:draw(st.integers(1, 3))])))
             for _ in range(n_in)]
    used = sorted(set("".join(parts)))
    out = "".join(draw(st.permutations(used))[:draw(st.integers(0, len(used)))])
    sizes = {c: draw(st.integers(1, 4)) for c in used}
    lead = draw(st.integers(0, 2))
    batch = [draw(st.integers(1, 3)) for _ in range(lead)]
    shapes = []
    for part in parts:
        k = draw(st.integers(0, lead))  # batch axes of this operand, aligned from the right, some of size 1
        own = [b if draw(st.booleans()) else 1 for b in batch[lead - k:]]
        shapes.append(tuple(own) + tuple(sizes[c] for c in part))
    return ",".join(parts) + "->" + out, shapes, draw(st.integers(0, 2 ** 16))


@settings(max_examples=300, deadline=None)
@given(problems())
def test_einsum_matmul_and_sum_plans_agree_with_torch_einsum(problem):
    spec, shapes, seed = problem
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes]
    ins, out = spec.split("->")
    want = torch.einsum(",".join("..." + p for p in ins.split(",")) + "->..." + out, *xs)
    torch.testing.assert_close(EINSUM.torch(torch, *xs, spec=spec), want, rtol=1e-12, atol=1e-12)
    names = [f"x{k}" for k in range(len(xs))]
    code = EINSUM.torch_code(names, [TensorType("R", s) for s in shapes], spec=spec)
    if code is not None:
        got = eval(code, {"T": torch}, dict(zip(names, xs)))
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        assert got.shape == want.shape
