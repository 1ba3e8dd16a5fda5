"""Point-free and pointful texts of the same random diagram elaborate to equal
normal forms.  A random term is rendered twice: as point-free combinators, and
as a pointful `let` chain obtained by running the term symbolically on names."""
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

import catlearn

UNARY = ["relu", "tanh", "exp", "neg", "sigmoid", "square"]
BINARY = ["add", "mul", "sub"]
STRUCT = {"id": (1, 1), "copy": (1, 2), "discard": (1, 0), "swap": (2, 2), "fst": (2, 1), "snd": (2, 1)}


@dataclass
class Term:
    kind: str
    arity: int
    coarity: int
    name: str = ""
    parts: tuple = ()

    def pointfree(self) -> str:
        if self.kind in ("prim", "struct"):
            return self.name
        op = {"seq": " ; ", "tensor": " * ", "sum": " + "}.get(self.kind)
        inner = ", ".join(p.pointfree() for p in self.parts) if self.kind == "pair" else \
            op.join(f"({p.pointfree()})" for p in self.parts)
        return f"({inner})" if self.kind == "pair" else inner

    def run(self, names: list, lines: list, fresh) -> list:
        """The pointful reading: new `let` lines, returning output names."""
        if self.kind == "prim":
            out = fresh()
            lines.append(f"{out} = {self.name}({', '.join(names)})")
            return [out]
        if self.kind == "struct":
            return {"id": names, "copy": names + names, "discard": [], "swap": names[::-1],
                    "fst": names[:1], "snd": names[1:]}[self.name]
        if self.kind == "seq":
            for p in self.parts:
                names = p.run(names, lines, fresh)
            return names
        if self.kind == "tensor":
            a = self.parts[0].arity
            return self.parts[0].run(names[:a], lines, fresh) + self.parts[1].run(names[a:], lines, fresh)
        outs = [p.run(names, lines, fresh) for p in self.parts]
        if self.kind == "pair":
            return [n for o in outs for n in o]
        total = outs[0]
        for o in outs[1:]:
            new = []
            for x, y in zip(total, o):
                new.append(fresh())
                lines.append(f"{new[-1]} = add({x}, {y})")
            total = new
        return total


@st.composite
def terms(draw, arity: int, depth: int = 3) -> Term:
    kinds = ["base"] if depth == 0 else ["base", "seq", "seq", "tensor", "pair", "sum"]
    kind = draw(st.sampled_from(kinds))
    if kind == "seq":
        f = draw(terms(arity, depth - 1))
        if f.coarity == 0:
            return f
        g = draw(terms(f.coarity, depth - 1))
        return Term("seq", arity, g.coarity, parts=(f, g))
    if kind == "tensor" and arity >= 2:
        a = draw(st.integers(1, arity - 1))
        f, g = draw(terms(a, depth - 1)), draw(terms(arity - a, depth - 1))
        return Term("tensor", arity, f.coarity + g.coarity, parts=(f, g))
    if kind in ("pair", "sum"):
        f, g = draw(terms(arity, depth - 1)), draw(terms(arity, depth - 1))
        if kind == "sum" and f.coarity == g.coarity and f.coarity > 0:
            return Term("sum", arity, f.coarity, parts=(f, g))
        return Term("pair", arity, f.coarity + g.coarity, parts=(f, g))
    options = [("struct", s) for s, (a, _) in STRUCT.items() if a == arity]
    options += [("prim", p) for p in UNARY] if arity == 1 else []
    options += [("prim", p) for p in BINARY] if arity == 2 else []
    if not options:
        a = draw(st.integers(1, min(2, arity - 1)))
        f, g = draw(terms(a, 0)), draw(terms(arity - a, depth))
        return Term("tensor", arity, f.coarity + g.coarity, parts=(f, g))
    kind, name = draw(st.sampled_from(options))
    return Term(kind, arity, STRUCT[name][1] if kind == "struct" else 1, name=name)


def texts(term: Term, shape: str) -> tuple[str, str]:
    dom = " * ".join([f"R[{shape}]"] * term.arity)
    cod = " * ".join([f"R[{shape}]"] * term.coarity) or "()"
    counter = iter(range(10 ** 6))
    inputs = [f"x{i}" for i in range(term.arity)]
    lines: list = []
    outs = term.run(inputs, lines, lambda: f"v{next(counter)}")
    result = outs[0] if len(outs) == 1 else f"({', '.join(outs)})"
    body = f"let {', '.join(lines)} in {result}" if lines else result
    head = inputs[0] if len(inputs) == 1 else f"({', '.join(inputs)})"
    header = f"use std.nn\nmodel m : {dom} -> {cod} ="
    return f"{header} {term.pointfree()}\n", f"{header} {head} => {body}\n"


@given(st.integers(1, 3).flatmap(lambda n: terms(n)), st.sampled_from(["3", "2, 4", "seq: 5"]))
def test_pointfree_and_pointful_elaborate_to_equal_normal_forms(term, shape):
    pointfree, pointful = texts(term, shape)
    a = catlearn.loads(pointfree)["m"]
    b = catlearn.loads(pointful)["m"]
    assert a == b
    assert a.normal_form().key() == b.normal_form().key()


def test_different_terms_give_different_diagrams():
    a = catlearn.loads("use std.nn\nmodel m : R[3] * R[3] -> R[3] = (relu * tanh) ; add")["m"]
    b = catlearn.loads("use std.nn\nmodel m : R[3] * R[3] -> R[3] = (x, y) => add(tanh(x), relu(y))")["m"]
    assert a != b
