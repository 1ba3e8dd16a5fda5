"""Printing a diagram back to `.cat` text (flattened, pointful).

``print_diagram(d, name)`` writes one ``model`` whose body is a chain of
``let`` bindings in the diagram's order; parsing and elaborating the text gives
a diagram equal to ``d``.  Constants print as literals where they are used.

>>> import catlearn
>>> d = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[3] = relu ; tanh")["f"]
>>> print(print_diagram(d, "f"))
use std
<BLANKLINE>
model f : R[3] -> R[3] =
  x0 => let x1 = relu(x0),
            x2 = tanh(x1)
        in x2
"""
from __future__ import annotations

import re

from ..core.diagram import CONST, FEEDBACK, SCAN, Diagram
from ..core.errors import CatError
from ..core.types import Poly, TensorType, dim_str, dim_vars, object_str

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$")


def attr_text(value) -> str:
    """An attribute value as `.cat` text."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, (int, Poly)):
        return dim_str(value).replace(" ", "")
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], tuple):
        return init_text(value)
    if isinstance(value, tuple):
        inner = ", ".join(attr_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise CatError(f"cannot print the attribute value {value!r}")


def init_text(init: tuple) -> str:
    name, kwargs = init
    if not kwargs:
        return name
    return f"{name}({', '.join(f'{k}={attr_text(v)}' for k, v in kwargs)})"


def number_text(v) -> str:
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise CatError(f"the constant {v} has no .cat literal")
        text = repr(v)
        return text if ("." in text or "e" in text) else text + ".0"
    return str(v)


class _Printer:
    def __init__(self, d: Diagram):
        self.d = d
        self.counter = 0
        self.consts: dict = {}
        self.gens: dict = {}
        self.values: dict = {}
        self.over: set = set()

    def fresh(self) -> str:
        name = f"x{self.counter}"
        self.counter += 1
        return name

    def collect(self, d: Diagram) -> None:
        for op in d.ops:
            if op.prim.module == "value":
                self.values[op.outputs[0]] = op.prim
            if op.prim.module == "user":
                if not _IDENT.match(op.prim.name) or "." in op.prim.name:
                    raise CatError(f"cannot print the generator {op.prim.name!r}: not a .cat name")
                self.gens[op.prim.name] = op.prim
            if op.prim is CONST and op.attr["dtype"] != "R":
                self.over.add(op.attr["dtype"])
            if op.body is not None:
                self.collect(op.body)

    def body(self, d: Diagram, names: dict, indent: str) -> str:
        """``let … in outputs`` for the ops of `d`, given names of its inputs."""
        consts = {}
        lines = []
        for op in d.ops:
            if op.prim is CONST:
                consts[op.outputs[0]] = number_text(op.attr["value"])
                continue
            if op.prim.module == "value":
                names[op.outputs[0]] = op.prim.name
                continue
            args = [names.get(i) or consts[i] for i in op.inputs]
            if op.prim is FEEDBACK:
                call = self.feedback(op, d, args, names, indent)
            elif op.prim is SCAN:
                call = self.scan(op, args, names, indent)
            else:
                kw = [f"{k}={v if _kind(op.prim, k) == 'dtype' else attr_text(v)}" for k, v in op.attrs]
                call = f"{op.prim.name}({', '.join(args + kw)})"
            outs = [self.fresh() for _ in op.outputs]
            names.update(zip(op.outputs, outs))
            pattern = outs[0] if len(outs) == 1 else f"({', '.join(outs)})"
            lines.append(f"{pattern} = {call}")
        result = [names.get(w) or consts[w] for w in d.outputs]
        out = result[0] if len(result) == 1 else f"({', '.join(result)})"
        if not lines:
            return out
        pad = indent + " " * 4
        return "let " + f",\n{pad}".join(lines) + f"\n{indent}in {out}"

    def feedback(self, op, d: Diagram, args: list, names: dict, indent: str) -> str:
        a = op.attr
        body = op.body
        n = a["n_inputs"]
        inner = dict(names)
        for w, outer in zip(body.inputs[n + 1:], op.inputs[n:]):
            inner[w] = names.get(outer)
            if inner[w] is None:
                raise CatError("cannot print a feedback body that captures a constant")
        binders = [self.fresh() for _ in range(n + 1)]
        inner.update(zip(body.inputs[:n + 1], binders))
        init = f" = {init_text(a['init'])}" if a["init"] is not None else ""
        lam_indent = indent + " " * 8
        text = self.body(body, inner, lam_indent + " " * (len(", ".join(binders)) + 6))
        head = f"(feedback {a['state']} : {a['state_type']}{init} in\n{lam_indent}({', '.join(binders)}) => {text})"
        return f"{head}({', '.join(args[:n])})"


    def scan(self, op, args: list, names: dict, indent: str) -> str:
        n, body = op.attr["n_inputs"], op.body
        inner = dict(names)
        for w, outer in zip(body.inputs[n:], op.inputs[n:]):
            inner[w] = names.get(outer)
            if inner[w] is None:
                raise CatError("cannot print a scan body that captures a constant")
        binders = [self.fresh() for _ in range(n)]
        inner.update(zip(body.inputs[:n], binders))
        lam_indent = indent + " " * 8
        text = self.body(body, inner, lam_indent + " " * (len(", ".join(binders)) + 6))
        return f"(scan(\n{lam_indent}({', '.join(binders)}) => {text}))({', '.join(args[:n])})"


def print_diagram(d: Diagram, name: str = "f") -> str:
    """`.cat` source text for `d` as a ``model`` called `name`."""
    p = _Printer(d)
    p.collect(d)
    if len(p.over) > 1:
        raise CatError(f"cannot print constants of several semirings ({', '.join(sorted(p.over))}) in one model")
    dims = set().union(*(t.vars() for t in d.types)) if d.types else set()
    for op in _all_ops(d):
        for _, v in op.attrs:
            dims |= _attr_vars(v)
    dims = sorted(dims)
    out = ["use std", ""]
    for g in p.gens.values():
        out.append(f"gen {g.name} : {g.signature}")
    if p.gens:
        out.append("")
    kinds = {"R": "Real", "Z": "Int", "B": "Bool"}
    header = dims + [f"{v.name} : {kinds[v.signature.outputs[0].dtype]}" for v in p.values.values()]
    params = f"({', '.join(header)})" if header else ""
    over = f" over {next(iter(p.over))}" if p.over else ""
    out.append(f"model {name}{params}{over} : {object_str(d.dom)} -> {object_str(d.cod)} =")
    for prm in d.params:
        out.append(f"  param {prm.name} : {d.types[prm.wire]} ~ {init_text(prm.init)}")
    names = {prm.wire: prm.name for prm in d.params}
    inputs = [p.fresh() for _ in d.inputs]
    names.update(zip(d.inputs, inputs))
    head = f"({', '.join(inputs)})" if len(inputs) != 1 else inputs[0]
    out.append(f"  {head} => " + p.body(d, names, " " * (len(head) + 6)))
    return "\n".join(out) + "\n"


def _kind(prim, attr: str) -> str | None:
    spec = prim.attrs.get(attr)
    return spec.kind if spec else None


def _attr_vars(value) -> set:
    if isinstance(value, Poly):
        return dim_vars(value)
    if isinstance(value, TensorType):
        return value.vars()
    if isinstance(value, tuple):
        return set().union(*map(_attr_vars, value)) if value else set()
    return set()


def _all_ops(d: Diagram):
    for op in d.ops:
        yield op
        if op.body is not None:
            yield from _all_ops(op.body)
