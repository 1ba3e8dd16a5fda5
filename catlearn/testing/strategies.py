"""Hypothesis strategies for random well-typed diagrams.

``diagrams()`` draws a random diagram over a set of primitives (by default
every registered primitive with NumPy semantics for the dtype): a DAG with
shared wires (copies), unused wires (discards), parameters, constants and
inputs with extra leading axes, so that boxes are lifted and wires of lower
rank (a reduction's result, a parameter, a constant) are broadcast against
them inside the model.  Inputs may have named axes, and some boxes are used as
definitions would be: spliced from a diagram of their own whose axes have
names of its own (the names a rearrangement's pattern uses).  It works for
user-defined primitives too, provided their signature is a
:class:`~catlearn.core.signature.Signature` or an instance generator is
registered in :data:`INSTANCES`.

For stateful morphisms (St(C), LAWS.md §5): ``steps()`` draws a Mealy step
``φ : X ⊗ S → Y ⊗ S``, ``stateful_diagrams()`` a diagram with feedback loops
and delays, ``maps(dom, cod)`` a diagram of exactly the given type,
``initial_states()`` a state's constant initial value and ``streams()``
random finite input streams.

>>> from hypothesis import given
>>> @given(diagrams(max_ops=4))
... def test_has_a_type(d):
...     assert d.type
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
from hypothesis import strategies as st

from ..core.builder import Builder
from ..core.diagram import Diagram
from ..core.errors import CatError
from ..core.primitives import DTYPE_CLASSES, REGISTRY, Primitive
from ..core.signature import DTYPE_VAR
from ..core.types import TensorType, dim_subst

SIZES = (1, 2, 3)
NAMES = ("t", "d", "seq")  # axis names inputs and definitions are drawn with
#: values drawn for integer attributes that are also shape variables
ATTR_CHOICES = {"pad": (0, 1), "size": (1, 2)}


def _t(dt, *shape):
    return TensorType(dt, tuple(shape))


def _sig_instance(prim: Primitive, draw, dt: str, sizes) -> tuple[list, dict]:
    sig = prim.signature
    names = set().union(*(t.vars() for t in sig.inputs + sig.outputs))
    env = {v: draw(st.sampled_from(sizes)) for v in sorted(names)}
    attrs = {}
    for name, spec in prim.attrs.items():
        if name in env:
            if name in ATTR_CHOICES:
                env[name] = draw(st.sampled_from(ATTR_CHOICES[name]))
            attrs[name] = env[name]
        elif spec.default is not None:
            attrs[name] = spec.default
    if "i" in prim.attrs and "n" in env:
        attrs["i"] = draw(st.integers(0, env["n"] - 1))
    ins = [TensorType(dt if t.dtype == DTYPE_VAR else t.dtype, tuple(dim_subst(d, env) for d in t.shape))
           for t in sig.inputs]
    return ins, attrs


_EINSUM = ["ij,jk->ik", "i,i->", "ij->ji", "ij,j->i", "i,j->ij", "ijk,ik->ij", "ij->i"]


def _einsum(draw, dt, sizes):
    spec = draw(st.sampled_from(_EINSUM))
    env = {c: draw(st.sampled_from(sizes)) for c in sorted(set(spec) - set(",->"))}
    ins = [_t(dt, *(env[c] for c in part)) for part in spec.split("->")[0].split(",")]
    return ins, {"spec": spec}


def _reshape(draw, dt, sizes):
    a, b = draw(st.sampled_from(sizes)), draw(st.sampled_from(sizes))
    if draw(st.booleans()):
        return [_t(dt, a * b)], {"shape": (a, b), "axes": 1}
    return [_t(dt, a, b)], {"shape": (a * b,), "axes": 2}


def _rearrange(draw, dt, sizes):
    spec = draw(st.sampled_from(["a b -> b a", "a b c -> c a b", "a b c -> a c b"]))
    n = len(spec.split("->")[0].split())
    return [_t(dt, *(draw(st.sampled_from(sizes)) for _ in range(n)))], {"spec": spec}


def _constant(draw, dt, sizes):
    shape = tuple(draw(st.lists(st.sampled_from(sizes), max_size=2)))
    return [], {"shape": shape, "dtype": dt}


def _sum_leading(draw, dt, sizes):
    axes, keep = draw(st.integers(0, 2)), draw(st.integers(0, 1))
    return [_t(dt, *(draw(st.sampled_from(sizes)) for _ in range(axes + keep)))], {"axes": axes, "keep": keep}


def _repeat_leading(draw, dt, sizes):
    keep = draw(st.integers(0, 1))
    shape = tuple(draw(st.lists(st.sampled_from(sizes), max_size=2)))
    return [_t(dt, *(draw(st.sampled_from(sizes)) for _ in range(keep)))], {"shape": shape, "keep": keep}


#: instance generators for primitives whose type depends on attributes:
#: ``(draw, dtype, sizes) -> (input types, attrs)``
INSTANCES: dict[str, Callable] = {"einsum": _einsum, "reshape": _reshape, "rearrange": _rearrange,
                                  "zeros": _constant, "ones": _constant, "sum_leading": _sum_leading,
                                  "repeat_leading": _repeat_leading}


@st.composite
def instances(draw, prim: Primitive, dtype: str = "R", sizes=SIZES) -> tuple[list, dict]:
    """A random application of `prim`: (input types, attributes)."""
    make = INSTANCES.get(prim.name)
    return make(draw, dtype, sizes) if make else _sig_instance(prim, draw, dtype, sizes)


def default_primitives(dt: str = "R") -> list[Primitive]:
    """Registered primitives with NumPy semantics that apply to dtype `dt`."""
    out = []
    for p in REGISTRY.values():
        if p.numpy is None or p.stateful:
            continue
        if p.signature is None and p.name not in INSTANCES:
            continue
        if not DTYPE_CLASSES[p.dtypes](dt):
            continue
        if p.signature is not None and any(t.dtype not in (DTYPE_VAR, dt) for t in p.signature.inputs + p.signature.outputs):
            continue
        if dt != "R" and not p.polynomial:
            continue
        out.append(p)
    return sorted(out, key=lambda p: p.name)


@st.composite
def diagrams(draw, primitives: Iterable[Primitive] | None = None, dtype: str = "R", min_ops: int = 1,
             max_ops: int = 6, sizes=SIZES, max_inputs: int = 3, params: bool = True, consts: bool = True,
             batch: bool = True, dom: tuple | None = None, prefix: str = "p", names: bool = False,
             definitions: bool = False) -> Diagram:
    """A random well-typed diagram (see the module docstring).

    With `dom`, the diagram has exactly those inputs (and creates no others);
    parameters are named `prefix` followed by a number.  With `names`, inputs
    may have named axes; with `definitions`, some boxes are spliced from
    diagrams with axis names of their own.
    """
    prims = list(primitives) if primitives is not None else default_primitives(dtype)
    b = Builder()
    pool: list = [b.input(t) for t in dom] if dom is not None else []
    if dom is not None:
        max_inputs = len(dom)
    batch_axis = draw(st.sampled_from((2, 3))) if batch else None
    for _ in range(draw(st.integers(min_ops, max_ops))):
        prim = draw(st.sampled_from(prims))
        try:
            ins, attrs = draw(instances(prim, dtype, sizes))
        except (KeyError, ValueError):
            continue
        try:
            wires = [_wire(draw, b, pool, t, dtype, max_inputs, params, consts, batch_axis, prefix, names)
                     for t in ins]
            if definitions and draw(st.booleans()):
                pool.extend(b.splice(_definition(draw, prim, [w.type for w in wires], attrs), wires))
            else:
                pool.extend(b.apply(prim, wires, attrs))
        except (CatError, _NoWire):
            continue
    if not pool:
        pool.append(b.input(_t(dtype, draw(st.sampled_from(sizes)))) if dom is None else b.const(1, dtype))
    outs = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
    return b.finish(outs)


class _NoWire(Exception):
    """No wire of the needed type can be made under the strategy's limits."""


def _names(draw, rank: int) -> tuple:
    """Distinct names or None for `rank` axes."""
    chosen = draw(st.lists(st.sampled_from((None,) + NAMES), min_size=rank, max_size=rank))
    return tuple(n if n is not None and chosen.index(n) == k else None for k, n in enumerate(chosen))


def _definition(draw, prim: Primitive, types: list, attrs: dict) -> Diagram:
    """One box of `prim` on inputs of these shapes, as a definition with axis
    names of its own: a rearrangement's pattern names its axes, other axes
    are named at random."""
    own = []
    for t in types:
        names = _names(draw, t.rank)
        if prim.name == "rearrange":
            words = attrs["spec"].split("->")[0].split()
            names = (None,) * (t.rank - len(words)) + tuple(words)
        own.append(TensorType(t.dtype, t.shape, names))
    return Diagram.box(prim, own, **attrs)


def _wire(draw, b: Builder, pool: list, t: TensorType, dt, max_inputs, params, consts, batch_axis, prefix,
          names=False):
    matches = [w for w in pool if w.type.dtype == t.dtype and w.type.shape[w.type.rank - t.rank:] == t.shape
               and w.type.rank >= t.rank]
    # an existing wire twice as often as each kind of new one: copies, and lower-rank
    # wires broadcast against the wires they came from
    choice = draw(st.integers(0, 2 * len(matches)))
    if choice < 2 * len(matches):
        return matches[choice // 2]
    kinds = ["input"] * (len(b.inputs) < max_inputs) + ["param"] * params + ["const"] * (consts and t.rank == 0)
    if not kinds:
        raise _NoWire
    kind = draw(st.sampled_from(kinds))
    if kind == "param":
        w = b.param(f"{prefix}{len(b.params)}", t, ("normal", ()))
    elif kind == "const":
        value = draw(st.integers(-3, 3)) if dt != "R" else draw(st.floats(-2, 2, allow_nan=False, width=32))
        w = b.const(value, dt)
    else:
        lifted = batch_axis is not None and draw(st.booleans())
        shape = ((batch_axis,) if lifted else ()) + t.shape
        w = b.input(TensorType(t.dtype, shape, _names(draw, len(shape)) if names else ()))
    pool.append(w)
    return w


def points(d: Diagram, seed: int | None = None, low: float = -2.0, high: float = 2.0) -> list:
    """Random inputs for `d` (bounded floats, or residues for Z_p), deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    out = []
    for t in d.dom:
        shape = tuple(t.shape)
        if t.dtype == "R":
            out.append(rng.uniform(low, high, shape))
        elif t.dtype.startswith("Z") and t.dtype[1:].isdigit():
            out.append(rng.integers(0, int(t.dtype[1:]), shape))
        else:
            out.append(rng.integers(-3, 4, shape))
    return out


def cotangents(d: Diagram, seed: int | None = None) -> list:
    """Random cotangents of the outputs of `d` (standard normal), deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=tuple(t.shape)) for t in d.cod]


# -- stateful morphisms (St(C)): steps, initial states, streams ------------------------------
#: primitives that are smooth (C^∞) on all of their real domain and do not overflow
#: in a few composed steps: the ones derivatives are compared on
SMOOTH = ("add", "sub", "mul", "neg", "square", "tanh", "sin", "cos", "sigmoid", "softplus", "matvec", "dot",
          "outer", "sum", "mean", "transpose", "broadcast", "einsum", "softmax", "log_softmax", "logsumexp",
          "concat", "slice", "index", "embed", "flatten", "reshape", "rearrange")


def smooth_primitives() -> list[Primitive]:
    """The registered primitives named in :data:`SMOOTH`."""
    return [REGISTRY[n] for n in SMOOTH if n in REGISTRY]


@st.composite
def tensor_types(draw, sizes=SIZES, max_rank: int = 2, dtype: str = "R") -> TensorType:
    """A random tensor type of rank 0 to `max_rank`."""
    return TensorType(dtype, tuple(draw(st.lists(st.sampled_from(sizes), max_size=max_rank))))


def initial_states(values=st.floats(-1, 1, allow_nan=False, width=32)):
    """A state's initial value, as a feedback or a delay takes it: zeros, ones or a constant."""
    return st.one_of(st.just(("zeros", ())), st.just(("ones", ())),
                     values.map(lambda v: ("constant", (("value", float(v)),))))


def _summary(b: Builder, w):
    """A scalar depending on every entry of `w`: its sum."""
    while w.type.rank:
        (w,) = b.apply("sum", [w])
    return w


def _of_type(draw, b: Builder, pool: list, t: TensorType):
    """A wire of type `t` made from the real wires of `pool`: one of that type,
    or the sum of a random one broadcast to `t`."""
    real = [w for w in pool if w.type.dtype == "R"]
    same = [w for w in real if w.type.shape == t.shape]
    if same and draw(st.integers(0, 3)):
        return draw(st.sampled_from(same))
    w = _summary(b, draw(st.sampled_from(real)))
    for n in t.shape:
        (w,) = b.apply("broadcast", [w], {"n": n})
    return w


@st.composite
def _pool(draw, primitives, dom: tuple, max_ops, sizes, prefix, params, consts=True) -> tuple:
    """A random diagram on `dom` copied into a new builder: (the builder, the
    diagram, where its wires went, those wires, those of them that depend on an input)."""
    body = draw(diagrams(primitives, "R", max_ops=max_ops, sizes=sizes, dom=dom, prefix=prefix, params=params,
                         consts=consts, batch=False))
    b = Builder()
    wires = b.copy_in(body, [b.input(t) for t in dom])
    live = set(body.inputs)
    for op in body.ops:
        if live.intersection(op.inputs):
            live.update(op.outputs)
    return b, body, wires, [wires[w] for w in sorted(wires)], [wires[w] for w in sorted(live)]


@st.composite
def maps(draw, dom: tuple, cod: tuple, primitives: Iterable[Primitive] | None = None, max_ops: int = 4,
         sizes=SIZES, prefix: str = "p", params: bool = True, consts: bool = True) -> Diagram:
    """A random real-valued diagram ``dom → cod`` with exactly the types `cod`:
    each output a wire of a random diagram on `dom` of its type, or the sum of
    one broadcast to it."""
    b, _, _, pool, _ = draw(_pool(primitives, tuple(dom), max_ops, sizes, prefix, params, consts))
    return b.finish([_of_type(draw, b, pool, t) for t in cod])


@st.composite
def steps(draw, primitives: Iterable[Primitive] | None = None, inputs: tuple | None = None,
          states: tuple | None = None, nexts: tuple | None = None, max_ops: int = 5, sizes=SIZES,
          prefix: str = "p", params: bool = True, observe: bool = False) -> Diagram:
    """A random step ``φ : X ⊗ S₁ ⊗ … ⊗ Sₖ → Y ⊗ S₁ ⊗ … ⊗ Sₖ`` of a stateful
    morphism (the Mealy form of St(C); the inputs, then the states; the
    outputs, then the next states), real-valued.

    ``Y`` are the outputs of a random diagram on ``X ⊗ S``; each next state is
    ``tanh(w + Σ v)`` for random wires ``w`` of the state's type and ``v`` that
    depends on an input or a state, so that it may depend on every input and
    state, and stays in (−1, 1) over any number of steps.  `inputs` and `states` fix ``X`` and ``S`` (else drawn);
    `nexts` the types of the next states (``S`` by default), for a step
    ``X ⊗ S → Y ⊗ S'``.  With `observe`, the next states are outputs too,
    last in ``Y`` (as an Elman network's)."""
    xs_t = tuple(inputs) if inputs is not None else tuple(draw(st.lists(tensor_types(sizes), min_size=1, max_size=2)))
    ss_t = tuple(states) if states is not None else (draw(tensor_types(sizes)),)
    b, body, wires, pool, live = draw(_pool(primitives, xs_t + ss_t, max_ops, sizes, prefix, params))
    after = []
    for t in ss_t if nexts is None else nexts:
        w = _of_type(draw, b, pool, t)
        summary = _summary(b, draw(st.sampled_from([w for w in live if w.type.dtype == "R"])))
        after.append(b.apply("tanh", b.apply("add", [w, summary]))[0])
    return b.finish([wires[w] for w in body.outputs] + (after if observe else []) + after)


@st.composite
def stateful_diagrams(draw, dom: tuple | None = None, primitives: Iterable[Primitive] | None = None,
                      max_ops: int = 4, sizes=SIZES, prefix: str = "p", depth: int = 1) -> Diagram:
    """A random stateful morphism ``X → Y`` (``X`` = `dom` if given), real-valued,
    with at least one register: a ``feedback`` (the delayed trace of a random
    step, from a random initial state, its state observed or not), a stateless diagram with ``delay``\\ s
    on some of its inputs and outputs, or (while `depth` > 0) a composite of two."""
    from ..semantics.stateful import trace

    dom = tuple(dom) if dom is not None else tuple(draw(st.lists(tensor_types(sizes), min_size=1, max_size=2)))
    kind = draw(st.sampled_from(("feedback", "delay", "composite") if depth > 0 else ("feedback", "delay")))
    if kind == "feedback":
        phi = draw(steps(primitives, inputs=dom, max_ops=max_ops, sizes=sizes, prefix=prefix,
                         observe=draw(st.booleans())))
        return trace(phi, draw(initial_states()))
    if kind == "composite":
        f = draw(stateful_diagrams(dom, primitives, max_ops, sizes, prefix + "a", depth - 1))
        return f >> draw(stateful_diagrams(f.cod, primitives, max_ops, sizes, prefix + "b", depth - 1))
    g = draw(diagrams(primitives, "R", max_ops=max_ops, sizes=sizes, dom=dom, prefix=prefix, batch=False))
    b = Builder()
    delays = draw(st.lists(st.booleans(), min_size=len(dom) + len(g.cod), max_size=len(dom) + len(g.cod))
                  .filter(any))

    def maybe_delay(w, yes):
        return b.apply("delay", [w], {"init": draw(initial_states())})[0] if yes else w

    xs = [maybe_delay(b.input(t), yes) for t, yes in zip(dom, delays)]
    return b.finish([maybe_delay(w, yes) for w, yes in zip(b.splice(g, xs), delays[len(dom):])])


def streams(d: Diagram, length: int, seed: int | None = None, batch: tuple = (), low: float = -1.0,
            high: float = 1.0) -> list:
    """Random real input streams of `d` (finite prefixes): arrays
    ``(length, *batch, *X)``, time leading, deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, (length,) + tuple(batch) + tuple(t.shape)) for t in d.dom]
