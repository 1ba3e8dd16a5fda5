"""The formatter: canonical layout of `.cat` source, keeping every comment.

Formatting is a function of the AST, so its output re-parses to the same
module, and formatting twice changes nothing.  Each output line records the
source lines it came from; a comment goes back after the line that holds its
source line (a trailing comment) or before the first line past it (a comment
on its own line).

>>> print(format_text("model f:R[3]->R[3]=relu;tanh -- two layers"), end="")
model f : R[3] -> R[3] = relu ; tanh  -- two layers
"""
from __future__ import annotations

from ..core.errors import Source
from . import ast as A
from .parser import parse, text_source

WIDTH = 100

# precedence: lambda/let/feedback 0, ; 1, + - 2, * / 3, unary 4, postfix 5, atom 6
_LEVEL = {";": 1, "+": 2, "-": 2, "*": 3, "/": 3}


def _level(e: A.Expr) -> int:
    if isinstance(e, (A.Lambda, A.Let, A.Feedback)):
        return 0
    if isinstance(e, A.Chain):
        return _LEVEL[e.ops[0]]
    if isinstance(e, A.Negate):
        return 4
    if isinstance(e, (A.Call, A.Index)):
        return 5
    return 6


def dim_text(d: A.Dim, level: int = 0) -> str:
    e = d.expr
    if e[0] == "num":
        return str(e[1])
    if e[0] == "var":
        return e[1]
    mine = 1 if e[0] in "+-" else 2
    text = f"{dim_text(e[1], mine)} {e[0]} {dim_text(e[2], mine + 1)}"
    return f"({text})" if mine < level else text


def type_text(t: A.TypeExpr) -> str:
    if not t.factors:
        return "()"
    return " * ".join(_factor_text(f) for f in t.factors)


def _factor_text(f) -> str:
    if isinstance(f, A.TypeExpr):
        return f"({type_text(f)})" if len(f.factors) != 1 else type_text(f)
    text = f.name
    if f.axes is not None:
        text += "[" + ", ".join(f"{a.name}: {dim_text(a.size)}" if a.name else dim_text(a.size) for a in f.axes) + "]"
    if f.args:
        text += "(" + ", ".join(dim_text(a) for a in f.args) + ")"
    return text


def sig_text(s: A.SigExpr) -> str:
    return f"{type_text(s.dom)} -> {type_text(s.cod)}"


def init_text(i: A.Init) -> str:
    if not i.kwargs:
        return i.name
    return f"{i.name}({', '.join(f'{k.name}={expr_text(k.value)}' for k in i.kwargs)})"


def expr_text(e: A.Expr, need: int = 0) -> str:
    """One-line text of an expression, parenthesised if its level < `need`."""
    text = _expr(e)
    return f"({text})" if _level(e) < need else text


def _expr(e: A.Expr) -> str:
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Number):
        return e.text
    if isinstance(e, A.String):
        return f'"{e.value}"'
    if isinstance(e, A.Tuple):
        inner = ", ".join(expr_text(i) for i in e.items)
        return f"({inner},)" if len(e.items) == 1 else f"({inner})"
    if isinstance(e, A.Call):
        args = [expr_text(a) for a in e.args] + [f"{k.name}={expr_text(k.value)}" for k in e.kwargs]
        return f"{expr_text(e.func, 5)}({', '.join(args)})"
    if isinstance(e, A.Index):
        return f"{expr_text(e.target, 5)}[{e.index}]"
    if isinstance(e, A.Negate):
        inner = expr_text(e.value, 4)
        return f"-({inner})" if inner.startswith("-") else f"-{inner}"
    if isinstance(e, A.Chain):
        level = _LEVEL[e.ops[0]]
        parts = [expr_text(e.items[0], level)]
        for op, item in zip(e.ops, e.items[1:]):
            parts.append(f"{op} {expr_text(item, level + 1)}")
        return " ".join(parts)
    if isinstance(e, A.Lambda):
        head = e.binders[0] if len(e.binders) == 1 else f"({', '.join(e.binders)})"
        return f"{head} => {expr_text(e.body)}"
    if isinstance(e, A.Let):
        return f"let {', '.join(_binding(b) for b in e.bindings)} in {expr_text(e.body)}"
    if isinstance(e, A.Feedback):
        init = f" = {init_text(e.init)}" if e.init else ""
        return f"feedback {e.state} : {type_text(e.type)}{init} in {expr_text(e.body)}"
    raise TypeError(f"cannot format {type(e).__name__}")


def _binding(b: A.Binding) -> str:
    pattern = f"({', '.join(b.names)})" if b.tuple_pattern else b.names[0]
    return f"{pattern} = {expr_text(b.value)}"


class _Lines:
    """Output lines, each with the source lines it stands for."""

    def __init__(self):
        self.lines: list[list] = []  # [text, first source line, last source line]

    def add(self, text: str, span) -> None:
        first, last = (span.line, span.end_line) if span else (None, None)
        self.lines.append([text, first, last])


def _layout_expr(e: A.Expr, indent: str, out: _Lines, prefix: str = "") -> None:
    """Lay out a body: pointful lets one binding per line, long chains one item per line."""
    if isinstance(e, A.Lambda) and isinstance(e.body, (A.Let, A.Feedback)):
        head = e.binders[0] if len(e.binders) == 1 else f"({', '.join(e.binders)})"
        _layout_expr(e.body, indent, out, prefix + f"{head} => ")
        return
    if isinstance(e, A.Let):
        lead = indent + prefix + "let "
        pad = " " * len(lead)
        for i, b in enumerate(e.bindings):
            comma = "," if i < len(e.bindings) - 1 else ""
            out.add(f"{lead if i == 0 else pad}{_binding(b)}{comma}", b.span)
        inner = " " * (len(indent + prefix))
        _layout_expr(e.body, inner, out, "in ")
        return
    if isinstance(e, A.Feedback):
        init = f" = {init_text(e.init)}" if e.init else ""
        out.add(f"{indent}{prefix}feedback {e.state} : {type_text(e.type)}{init} in", e.type.span)
        _layout_expr(e.body, indent + "  ", out)
        return
    text = indent + prefix + expr_text(e)
    if len(text) > WIDTH and isinstance(e, A.Chain) and e.ops[0] == ";":
        level = _LEVEL[";"]
        out.add(indent + prefix + expr_text(e.items[0], level), e.items[0].span)
        pad = " " * len(prefix)
        for item in e.items[1:]:
            out.add(f"{indent}{pad}; {expr_text(item, level + 1)}", item.span)
        return
    out.add(text, e.span)


def _decl(d, out: _Lines) -> None:
    if isinstance(d, A.Use):
        target = f'"{d.target}"' if d.is_file else d.target
        out.add(f"use {target}" + (f" as {d.alias}" if d.alias else ""), d.span)
    elif isinstance(d, A.TypeDecl):
        params = f"({', '.join(d.params)})" if d.params else ""
        out.add(f"type {d.name}{params} = {type_text(d.type)}", d.span)
    elif isinstance(d, A.GenDecl):
        out.add(f"gen {d.name} : {sig_text(d.sig)}", d.span)
    elif isinstance(d, A.Def):
        ps = []
        for p in d.params:
            if p.kind == "shape":
                ps.append(p.name)
            elif p.kind == "value":
                ps.append(f"{p.name} : {({'R': 'Real', 'Z': 'Int', 'B': 'Bool'})[p.value_type]}")
            else:
                ps.append(f"{p.name} : {sig_text(p.sig)}")
        params = f"({', '.join(ps)})" if ps else ""
        over = f" over {d.over}" if d.over else ""
        head = f"{d.kind} {d.name}{params}{over} : {sig_text(d.sig)} ="
        one_line = f"{head} {expr_text(d.body)}"
        if not d.param_decls and len(one_line) <= WIDTH and not isinstance(d.body, (A.Let, A.Feedback)) \
                and not (isinstance(d.body, A.Lambda) and isinstance(d.body.body, (A.Let, A.Feedback))):
            out.add(one_line, d.span)
            return
        out.add(head, d.sig.span)
        for p in d.param_decls:
            init = f" ~ {init_text(p.init)}" if p.init else ""
            out.add(f"  param {p.name} : {type_text(p.type)}{init}", p.span)
        _layout_expr(d.body, "  ", out)
    elif isinstance(d, A.LearnerDecl):
        out.add(f"learner {d.name} = train {expr_text(d.model)}", d.model.span)
        for c in d.clauses:
            out.add(f"  {c.key} {expr_text(c.value)}", c.span)


def format_module(module: A.Module, source: Source) -> str:
    """The canonical text of a parsed module, with its comments."""
    out = _Lines()
    previous = None
    for d in module.decls:
        if previous is not None and not (type(previous) is type(d) and isinstance(d, (A.Use, A.TypeDecl))):
            out.lines.append(["", None, None])
        _decl(d, out)
        previous = d
    lines = out.lines
    src = source.lines
    before: dict = {}
    trailing: dict = {}
    for line, col, text in module.comments:
        own_line = not src[line - 1][:col - 1].strip()
        if own_line:
            target = next((i for i, (_, first, last) in enumerate(lines) if last is not None and last >= line),
                          len(lines))
            before.setdefault(target, []).append(text)
        else:
            target = next((i for i, (_, first, last) in reversed(list(enumerate(lines)))
                           if first is not None and first <= line <= last), None)
            if target is None:
                target = next((i for i, (_, first, last) in enumerate(lines) if first is not None and first >= line),
                              len(lines) - 1)
            trailing.setdefault(target, []).append(text)
    text_out = []
    for i, (text, _, _) in enumerate(lines + [["", None, None]]):
        if i in before:
            indent = text[:len(text) - len(text.lstrip())] if i < len(lines) else ""
            text_out += [indent + c for c in before[i]]
        if i == len(lines):
            break
        if i in trailing:
            text = f"{text}  {' '.join(trailing[i])}" if text else " ".join(trailing[i])
        text_out.append(text)
    while text_out and not text_out[-1]:
        text_out.pop()
    return "\n".join(text_out) + "\n" if text_out else ""


def format_text(text: str, name: str = "<string>") -> str:
    source = text_source(text, name)
    return format_module(parse(source), source)
