"""Shape-polymorphic signatures of generators, and their instantiation.

A signature such as ``D[n, k] * D[k, m] -> D[n, m]`` has shape variables
(``n``, ``k``, ``m``) and possibly the dtype variable ``D``.  Applying it to
actual wire types unifies the declared axes with the *trailing* axes of each
argument; extra leading axes are lifted over implicitly.  They are of two kinds,
aligned separately (see ``docs/architecture.md``, "Batches"):

* batch axes (a type's ``batch`` leading axes), which a diagram run on a batch
  maps over, as ``vmap`` does; an argument without them is shared by the batch;
* the model's own lifted axes after them: an argument's must end the longest
  argument's, as in NumPy broadcasting, written inside the model.

So batch axes are never matched against a model's axes.  Where an argument with
batch axes lacks some of the model's lifted axes, the box cannot be run on
arrays as they are (NumPy would align the batch with the model's axes):
:class:`Misaligned` says which axes to broadcast it over first, and the
:class:`~catlearn.core.builder.Builder` inserts that broadcast as a box.

>>> from catlearn.core.types import TensorType
>>> sig = Signature.parse("D[n, k] * D[k, m] -> D[n, m]")
>>> out, lift = sig.apply([TensorType("R", (32, 5, 3)), TensorType("R", (3, 7))], {})
>>> str(out[0]), lift
('R[32, 5, 7]', 1)
>>> out, lift = sig.apply([TensorType("R", (5, 3)).batched((32,)), TensorType("R", (3, 7))], {})
>>> str(out[0]), lift
('R[32 | 5, 7]', 1)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from .errors import TypeError_
from .types import (MAX_ELEMENTS, Dim, Poly, TensorType, dim_add, dim_mul, dim_str, dim_sub,
                    dim_subst, dim_vars, object_str)

DTYPE_VAR = "D"

_TOKEN = re.compile(r"\s*(->|[A-Za-z_][A-Za-z_0-9]*|\d+|[\[\]\(\),*+\-])")


def _tokens(text: str) -> list[str]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"bad signature text at {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


class _SigParser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected=None):
        tok = self.peek()
        if expected is not None and tok != expected:
            raise ValueError(f"expected {expected!r}, found {tok!r}")
        self.i += 1
        return tok

    def object(self) -> tuple:
        if self.peek() == "(":
            self.take("(")
            self.take(")")
            return ()
        out = [self.tensor()]
        while self.peek() == "*":
            self.take("*")
            out.append(self.tensor())
        return tuple(out)

    def tensor(self) -> TensorType:
        dt = self.take()
        dims = []
        if self.peek() == "[":
            self.take("[")
            while self.peek() != "]":
                dims.append(self.dim())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
        return TensorType(dt, tuple(dims))

    def dim(self) -> Dim:
        if self.peek() == "-":
            self.take("-")
            value = dim_mul(-1, self.term())
        else:
            value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            value = dim_add(value, self.term(), 1 if op == "+" else -1)
        return value

    def term(self) -> Dim:
        value = self.atom()
        while self.peek() == "*":
            self.take("*")
            value = dim_mul(value, self.atom())
        return value

    def atom(self) -> Dim:
        tok = self.take()
        if tok.isdigit():
            return int(tok)
        if tok == "(":
            value = self.dim()
            self.take(")")
            return value
        return Poly.var(tok)


def _single_var(d: Dim) -> str | None:
    if isinstance(d, Poly) and len(d.terms) == 1:
        (mono, coef), = d.terms.items()
        if coef == 1 and len(mono) == 1:
            return mono[0]
    return None


def _solve_linear(decl: Dim, actual: Dim, env: dict) -> bool:
    """Solve ``decl[env] = actual`` when one unbound variable occurs linearly."""
    d = dim_subst(decl, env)
    free = dim_vars(d) - set(env)
    if len(free) != 1:
        return False
    v = free.pop()
    coef = sum(c for m, c in d.terms.items() if m == (v,))
    if not coef or any(v in m and m != (v,) for m in d.terms):
        return False
    rest = dim_sub(d, dim_mul(coef, Poly.var(v)))
    rhs = dim_sub(actual, rest)
    if isinstance(rhs, int):
        if rhs % coef:
            return False
        env[v] = rhs // coef
        return True
    if all(c % coef == 0 for c in rhs.terms.values()):
        env[v] = rhs if coef == 1 else Poly({m: c // coef for m, c in rhs.terms.items()})
        return True
    return False


@dataclass(frozen=True)
class Signature:
    """``inputs -> outputs`` with shape variables and the dtype variable ``D``."""

    inputs: tuple
    outputs: tuple

    @staticmethod
    def parse(text: str) -> "Signature":
        p = _SigParser(text)
        ins = p.object()
        p.take("->")
        outs = p.object()
        if p.peek() is not None:
            raise ValueError(f"trailing text in signature {text!r}")
        return Signature(ins, outs)

    def __str__(self):
        return f"{object_str(self.inputs)} -> {object_str(self.outputs)}"

    def apply(self, actual, attrs: Mapping, name: str = "box", dtypes=None):
        """Output types and lift rank of this signature applied to `actual`.

        `attrs` with integer values bind shape variables of the same name.
        `dtypes` restricts the dtype variable (a predicate on dtype names).
        Raises :class:`TypeError_` (without a span) when the types disagree.
        """
        outs, lift, _ = self.unify(actual, attrs, name, dtypes)
        return outs, lift

    def __post_init__(self):
        # per declared axis: (single variable or None, size, name), computed once
        plan = tuple(tuple((_single_var(d), d, n) for d, n in zip(t.shape, t.names)) for t in self.inputs)
        outs = tuple((t, t.vars(), tuple((n, _single_var(d)) for n, d in zip(t.names, t.shape))) for t in self.outputs)
        object.__setattr__(self, "_plan", plan)
        object.__setattr__(self, "_outs", outs)

    def _mismatch(self, name, actual, index, env, dt, why) -> TypeError_:
        decl, a = self.inputs[index], actual[index]
        shown = decl.subst(env)
        if decl.dtype == DTYPE_VAR and dt:
            shown = TensorType(dt, shown.shape, shown.names)
        where = f"argument {index + 1} of `{name}`" if len(actual) > 1 else f"the argument of `{name}`"
        return TypeError_(f"{where} {why}", expected=f"{shown} (after any batch axes)" if decl.rank else str(shown),
                          found=str(a))

    def unify(self, actual, attrs: Mapping, name: str = "box", dtypes=None):
        """Like :meth:`apply`, also returning the substitution of shape variables."""
        if len(actual) != len(self.inputs):
            raise TypeError_(f"`{name}` takes {len(self.inputs)} argument(s), found {len(actual)}",
                             expected=object_str(self.inputs), found=object_str(actual))
        env: dict[str, Dim] = {k: v for k, v in attrs.items() if type(v) is int or isinstance(v, Poly)}
        axis_names: dict[str, str] = {}
        dt = None
        deferred = []
        prefixes = []
        for index, (a, decl, plan) in enumerate(zip(actual, self.inputs, self._plan)):
            if decl.dtype == DTYPE_VAR:
                if dt is None:
                    if dtypes is not None and not dtypes(a.dtype):
                        raise TypeError_(f"`{name}` is not defined for dtype {a.dtype}", found=str(a))
                    dt = a.dtype
                elif a.dtype != dt:
                    raise TypeError_(f"argument {index + 1} of `{name}` has a different dtype from the others",
                                     expected=f"dtype {dt}, like the first argument", found=str(a),
                                     hint="catlearn never converts dtypes implicitly")
            elif a.dtype != decl.dtype:
                raise TypeError_(f"argument {index + 1} of `{name}` has the wrong dtype" if len(actual) > 1 else
                                 f"the argument of `{name}` has the wrong dtype", expected=f"dtype {decl.dtype}",
                                 found=str(a))
            k = len(a.shape) - len(plan)
            if k < 0:
                raise self._mismatch(name, actual, index, env, dt, f"has too few axes (needs {decl.rank})")
            prefixes.append((a.shape[:k], a.names[:k]))
            for (v, dd, dn), ad, an in zip(plan, a.shape[k:], a.names[k:]):
                if dn and an and dn != an:
                    raise self._mismatch(name, actual, index, env, dt,
                                         f"has an axis named `{an}` where `{dn}` was expected")
                if v is not None:
                    if v in env:
                        if env[v] != ad:
                            raise self._mismatch(name, actual, index, env, dt,
                                                 f"has axis size {dim_str(ad)} where {dim_str(env[v])} was expected")
                        if an and axis_names.get(v, an) != an:
                            raise self._mismatch(name, actual, index, env, dt,
                                                 f"has axis named `{an}` where `{axis_names[v]}` was expected")
                    else:
                        env[v] = ad
                    if an and v not in axis_names:
                        axis_names[v] = an
                elif type(dd) is int:
                    if dd != ad:
                        raise self._mismatch(name, actual, index, env, dt,
                                             f"has axis size {dim_str(ad)} where {dd} was expected")
                else:
                    deferred.append((dd, ad, index))
        progress = True
        while deferred and progress:
            progress = False
            for item in list(deferred):
                dd, ad, index = item
                if dim_vars(dd) <= set(env):
                    if dim_subst(dd, env) != ad:
                        raise self._mismatch(name, actual, index, env, dt, f"has axis size {dim_str(ad)} where "
                                                                           f"{dim_str(dim_subst(dd, env))} was expected")
                    deferred.remove(item)
                    progress = True
                elif _solve_linear(dd, ad, env):
                    deferred.remove(item)
                    progress = True
        if deferred:
            dd, ad, index = deferred[0]
            raise self._mismatch(name, actual, index, env, dt,
                                 f"has axis size {dim_str(ad)}, which does not fit {dim_str(dd)}")
        batch, model, broadcasts = _align(name, actual, prefixes)
        lift_shape, lift_names = batch[0] + model[0], batch[1] + model[1]
        out = []
        for decl, needs, name_keys in self._outs:
            if not needs <= env.keys():
                raise TypeError_(f"cannot infer the size `{sorted(needs - env.keys())[0]}` in the result of `{name}`",
                                 hint="give it as a keyword argument")
            shape = tuple(d if type(d) is int else dim_subst(d, env) for d in decl.shape)
            names = tuple(n or axis_names.get(v) for n, v in name_keys)
            t = TensorType(dt if decl.dtype == DTYPE_VAR else decl.dtype, lift_shape + shape, lift_names + names,
                           len(batch[0]))
            check_size(t)
            out.append(t)
        if broadcasts:
            raise Misaligned(name, broadcasts)
        return tuple(out), len(lift_shape), env


class Misaligned(TypeError_):
    """A box whose arguments with batch axes lack some of the model's lifted
    axes.  ``broadcasts`` gives, for each such argument, ``(index, shape)``:
    the axes to broadcast it over, after its batch axes, for the box to apply."""

    def __init__(self, name: str, broadcasts: tuple):
        index, shape = broadcasts[0]
        super().__init__(f"argument {index + 1} of `{name}` has batch axes but lacks lifted axes of the model",
                         expected=f"its lifted axes to end with [{', '.join(map(dim_str, shape))}]",
                         hint="broadcast it over them first (NumPy's alignment would match them with the batch)")
        self.broadcasts = broadcasts


def _longest(parts: list, what: str, name: str, hint: str) -> tuple:
    """The longest of the (shape, names) `parts`, which the others must end."""
    shape, names = max(parts, key=lambda p: len(p[0]))
    for index, (s, n) in enumerate(parts, 1):
        tail = len(shape) - len(s)
        if shape[tail:] != s or any(x and y and x != y for x, y in zip(names[tail:], n)):
            raise TypeError_(f"the {what} axes of the arguments of `{name}` do not agree",
                             expected=f"{what} axes that are a suffix of [{', '.join(map(dim_str, shape))}]",
                             found=f"argument {index} with {what} axes [{', '.join(map(dim_str, s))}]", hint=hint)
    return shape, names


def _align(name: str, actual, prefixes: list) -> tuple:
    """The batch axes and the model's lifted axes of a box from its arguments'
    extra leading axes, and the broadcasts some arguments need (see
    :class:`Misaligned`).  An argument whose declared axes take in its batch
    axes consumes them, and then no argument may map over any.  Passes write
    that as ``unbatch`` first, so that derivatives know the batch's axes again;
    a backend's fused code, which is not differentiated, may read the batch
    itself."""
    batch, model = [], []
    consumes = False
    for a, (shape, names) in zip(actual, prefixes):
        k = min(a.batch, len(shape))
        consumes = consumes or a.batch > len(shape)
        batch.append((shape[:k], names[:k]))
        model.append((shape[k:], names[k:]))
    if not prefixes:
        return ((), ()), ((), ()), ()
    if consumes and any(b[0] for b in batch):
        raise TypeError_(f"`{name}` both maps over batch axes and takes some in as its own",
                         hint="sum a batch, or map over it, in separate boxes")
    whole = _longest(batch, "batch", name, "an argument shared by the batch has no batch axes; the others' agree")
    lifted = _longest(model, "lifted", name, "leading axes broadcast like NumPy: each argument's must end the "
                                             "longest one")
    broadcasts = tuple((index, lifted[0][:len(lifted[0]) - len(m[0])]) for index, (b, m) in enumerate(zip(batch, model))
                       if b[0] and len(m[0]) < len(lifted[0]))
    return whole, lifted, broadcasts


def check_size(t: TensorType) -> None:
    """Reject a concrete type with a negative axis or more than MAX_ELEMENTS elements."""
    size = 1
    for d in t.shape:
        if isinstance(d, int):
            if d < 0:
                raise TypeError_(f"the type {t} has a negative axis size", hint="check the kernel and padding sizes")
            size *= d
            if size > MAX_ELEMENTS ** 4:
                break  # far too large already; its exact count is beside the point
    if size > MAX_ELEMENTS:
        count = f"{size:,}" if size <= MAX_ELEMENTS ** 4 else f"more than {MAX_ELEMENTS ** 4:.1e}"
        raise TypeError_(f"the type {t} has {count} elements, more than catlearn allows",
                         expected=f"at most {MAX_ELEMENTS:,} elements", found=count,
                         hint="check the axis sizes; a tensor this large could not be allocated")
