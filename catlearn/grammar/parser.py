"""Parsing `.cat` text into the AST, with spans and readable syntax errors.

>>> m = parse_text("model f : R[3] -> R[3] = relu ; tanh")
>>> m.decls[0].name, type(m.decls[0].body).__name__
('f', 'Chain')
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..core.errors import InputError, Source, Span, SyntaxError_
from . import ast as A

MAX_BYTES = 2 * 1024 * 1024
MAX_BRACKETS = 64
MAX_DEPTH = 128
VALUE_KINDS = {"Real": "R", "Int": "Z", "Bool": "B"}
SHAPE_KINDS = {"Nat"}

_LEVEL = {";": ";", "+": "+", "-": "+", "*": "*", "/": "*"}
_PRETTY = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "the end of the file"}
_OPEN = {"LPAR": "(", "LSQB": "["}
_CLOSE = {"RPAR": "LPAR", "RSQB": "LSQB"}


class _State:
    def __init__(self, source: Source):
        self.source = source
        self.open: list[Token] = []
        self.comments: list[tuple] = []


def _span(source: Source, meta) -> Span | None:
    if meta is None or getattr(meta, "empty", True):
        return None
    return Span(source, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(source: Source, tok: Token) -> Span:
    return Span(source, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + len(tok))


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """Builds the AST bottom-up from lark's tree (no recursion over depth)."""

    def __init__(self):
        super().__init__()
        self.state: _State | None = None

    def _s(self, meta):
        return _span(self.state.source, meta)

    def _expr(self, node: A.Expr, *children) -> A.Expr:
        node.depth = 1 + max((c.depth for c in children if isinstance(c, A.Expr)), default=0)
        if node.depth > MAX_DEPTH:
            raise InputError("expression nested too deeply", node.span,
                             expected=f"at most {MAX_DEPTH} levels of nesting", found=f"{node.depth} levels",
                             hint="split it into named definitions")
        return node

    # declarations
    def start(self, meta, decls):
        return A.Module(decls, self.state.comments, span=self._s(meta))

    def use_module(self, meta, ch):
        return A.Use(".".join(ch[0]), False, str(ch[1]) if len(ch) > 1 and ch[1] else None, span=self._s(meta))

    def use_file(self, meta, ch):
        return A.Use(str(ch[0])[1:-1], True, str(ch[1]) if len(ch) > 1 and ch[1] else None, span=self._s(meta))

    def dotted(self, meta, ch):
        return [str(t) for t in ch]

    def typedef(self, meta, ch):
        params = ch[1] if len(ch) == 3 else []
        return A.TypeDecl(str(ch[0]), params, ch[-1], span=self._s(meta))

    def tparams(self, meta, ch):
        return [str(t) for t in ch]

    def gen(self, meta, ch):
        return A.GenDecl(str(ch[0]), ch[1], span=self._s(meta))

    def defkw(self, meta, ch):
        return str(ch[0])

    def define(self, meta, ch):
        kind, name = ch[0], ch[1]
        rest = ch[2:]
        params = rest.pop(0) if rest and isinstance(rest[0], list) else []
        over = rest.pop(0) if rest and isinstance(rest[0], Token) else None
        sig = rest.pop(0)
        body = rest.pop()
        return A.Def(kind, str(name), params, str(over) if over else None, sig, rest, body,
                     span=self._s(meta), name_span=_tok_span(self.state.source, name))

    def over(self, meta, ch):
        return ch[0]

    def dparams(self, meta, ch):
        return [p for p in ch if p is not None]

    def dparam(self, meta, ch):
        name, kind = str(ch[0]), ch[1]
        span = self._s(meta)
        if kind is None:
            return A.DefParam(name, "shape", span=span)
        if isinstance(kind, A.SigExpr):
            return A.DefParam(name, "morph", sig=kind, span=span)
        if kind in SHAPE_KINDS:
            return A.DefParam(name, "shape", span=span)
        if kind in VALUE_KINDS:
            return A.DefParam(name, "value", value_type=VALUE_KINDS[kind], span=span)
        raise SyntaxError_(f"unknown kind of parameter `{kind}`", span,
                           expected="`Nat` (a size), `Real`, `Int`, `Bool` (values) or a type `A -> B` (a morphism)",
                           found=f"`{kind}`")

    def kind(self, meta, ch):
        return str(ch[0])

    def sig(self, meta, ch):
        return A.SigExpr(ch[0], ch[1], span=self._s(meta))

    def learner(self, meta, ch):
        return A.LearnerDecl(str(ch[0]), ch[1], ch[2:], span=self._s(meta))

    def clause(self, meta, ch):
        return A.Clause(str(ch[0]), ch[1], span=self._s(meta))

    # types
    def type(self, meta, ch):
        factors = []
        for c in ch:
            factors.extend(c.factors if isinstance(c, A.TypeExpr) else [c])
        return A.TypeExpr(factors, span=self._s(meta))

    def unit(self, meta, ch):
        return A.TypeExpr([], span=self._s(meta))

    def tensor(self, meta, ch):
        name = str(ch[0])
        axes = args = None
        for c in ch[1:]:
            if isinstance(c, tuple) and c[0] == "axes":
                axes = c[1]
            elif isinstance(c, tuple) and c[0] == "targs":
                args = c[1]
        return A.TensorExpr(name, axes, args, span=self._s(meta))

    def axes(self, meta, ch):
        return ("axes", [c for c in ch if c is not None])

    def targs(self, meta, ch):
        return ("targs", list(ch))

    def axis(self, meta, ch):
        return A.AxisExpr(str(ch[0]) if ch[0] is not None else None, ch[1], span=self._s(meta))

    def dnum(self, meta, ch):
        text = str(ch[0])
        if not text.isdigit():
            raise SyntaxError_("a size must be a whole number", self._s(meta), expected="a natural number", found=text)
        return A.Dim(("num", int(text)), span=self._s(meta))

    def dvar(self, meta, ch):
        return A.Dim(("var", str(ch[0])), span=self._s(meta))

    def dadd(self, meta, ch):
        return A.Dim(("+", ch[0], ch[1]), span=self._s(meta))

    def dsub(self, meta, ch):
        return A.Dim(("-", ch[0], ch[1]), span=self._s(meta))

    def dmul(self, meta, ch):
        return A.Dim(("*", ch[0], ch[1]), span=self._s(meta))

    # parameters
    def pdecl(self, meta, ch):
        *names, typ, init = ch
        return A.ParamDecl(".".join(map(str, names)), typ, init, span=self._s(meta))

    def init(self, meta, ch):
        kwargs = [k for k in ch[1:] if k is not None]
        return A.Init(str(ch[0]), kwargs, span=self._s(meta))

    # expressions
    def lambda_(self, meta, ch):
        head, body = ch
        span = self._s(meta)
        if isinstance(head, A.Name) and "." not in head.id:
            binders = [head.id]
        elif isinstance(head, A.Tuple) and all(isinstance(i, A.Name) and "." not in i.id for i in head.items):
            binders = [i.id for i in head.items]
        elif isinstance(head, A.Tuple) and not head.items:
            binders = []
        else:
            raise SyntaxError_("the left of `=>` must name the inputs", head.span,
                               expected="a name `x` or a tuple of names `(x, y)`", found="an expression",
                               hint="write a pointful body as `(x, y) => …`")
        if len(set(binders)) != len(binders):
            raise SyntaxError_("an input is named twice", head.span, found=", ".join(binders))
        return self._expr(A.Lambda(binders, body, span=span), body)

    def let(self, meta, ch):
        *bindings, body = ch
        if isinstance(body, A.Let):
            bindings = bindings + body.bindings
            body = body.body
        return self._expr(A.Let(bindings, body, span=self._s(meta)), *[b.value for b in bindings], body)

    def binding(self, meta, ch):
        names, is_tuple = ch[0]
        return A.Binding(names, is_tuple, ch[1], span=self._s(meta))

    def pvar(self, meta, ch):
        return ([str(ch[0])], False)

    def ptuple(self, meta, ch):
        return ([str(c) for c in ch if c is not None], True)

    def feedback(self, meta, ch):
        name, typ, init, body = ch
        return self._expr(A.Feedback(str(name), typ, init, body, span=self._s(meta)), body)

    def _chain(self, meta, op, left, right):
        span = self._s(meta)
        level = _LEVEL[op]
        if isinstance(left, A.Chain) and _LEVEL[left.ops[0]] == level:
            left.ops.append(op)
            left.items.append(right)
            left.span = span
            left.depth = max(left.depth, right.depth + 1)
            return self._expr(left) if left.depth > MAX_DEPTH else left
        return self._expr(A.Chain([op], [left, right], span=span), left, right)

    def then(self, meta, ch):
        return self._chain(meta, ";", *ch)

    def plus(self, meta, ch):
        return self._chain(meta, "+", *ch)

    def minus(self, meta, ch):
        return self._chain(meta, "-", *ch)

    def times(self, meta, ch):
        return self._chain(meta, "*", *ch)

    def divide(self, meta, ch):
        return self._chain(meta, "/", *ch)

    def negate(self, meta, ch):
        return self._expr(A.Negate(ch[0], span=self._s(meta)), ch[0])

    def call(self, meta, ch):
        func, *rest = ch
        args = [a for a in rest if a is not None and not isinstance(a, A.Kwarg)]
        kwargs = [a for a in rest if isinstance(a, A.Kwarg)]
        seen = set()
        for k in kwargs:
            if k.name in seen:
                raise SyntaxError_(f"the keyword `{k.name}` is given twice", k.span)
            seen.add(k.name)
        return self._expr(A.Call(func, args, kwargs, span=self._s(meta)), func, *args, *[k.value for k in kwargs])

    def index(self, meta, ch):
        text = str(ch[1])
        if not text.isdigit():
            raise SyntaxError_("an index must be a whole number", self._s(meta), found=text)
        return self._expr(A.Index(ch[0], int(text), span=self._s(meta)), ch[0])

    def kwarg(self, meta, ch):
        return A.Kwarg(str(ch[0]), ch[1], span=self._s(meta))

    def name(self, meta, ch):
        return A.Name(".".join(str(t) for t in ch), span=self._s(meta))

    def number(self, meta, ch):
        text = str(ch[0])
        value = int(text) if text.isdigit() else float(text)
        return A.Number(value, text, span=self._s(meta))

    def string(self, meta, ch):
        return A.String(str(ch[0])[1:-1], span=self._s(meta))

    def tuple(self, meta, ch):
        items = [c for c in ch if c is not None]
        return self._expr(A.Tuple(items, span=self._s(meta)), *items)

    def empty(self, meta, ch):
        return A.Tuple([], span=self._s(meta))


_TRANSFORMER = _ToAst()
setattr(_ToAst, "lambda", _ToAst.lambda_)


def _bracket_open(tok):
    state = _TRANSFORMER.state
    state.open.append(tok)
    if len(state.open) > MAX_BRACKETS:
        raise InputError("brackets nested too deeply", _tok_span(state.source, tok),
                         expected=f"at most {MAX_BRACKETS} levels of brackets", found=f"{len(state.open)} levels",
                         hint="split the expression into named definitions")
    return tok


def _bracket_close(tok):
    state = _TRANSFORMER.state
    if state.open and state.open[-1].type == _CLOSE[tok.type]:
        state.open.pop()
    return tok


def _comment(tok):
    _TRANSFORMER.state.comments.append((tok.line, tok.column, str(tok)))
    return tok


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "catlearn.lark").read_text()
    callbacks = {"LPAR": _bracket_open, "LSQB": _bracket_open, "RPAR": _bracket_close, "RSQB": _bracket_close,
                 "COMMENT": _comment}
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                lexer_callbacks=callbacks, maybe_placeholders=True)


def _describe(names) -> str:
    lark = _parser()
    out = []
    for n in sorted(set(names)):
        if n in _PRETTY:
            out.append(_PRETTY[n])
            continue
        term = next((t for t in lark.terminals if t.name == n), None)
        if term is not None and term.pattern.type == "str":
            out.append(f"`{term.pattern.value}`")
        else:
            out.append(n.lower())
    out = sorted(set(out))
    if len(out) > 8:
        out = out[:8] + ["…"]
    return ", ".join(out)


def _syntax_error(e: UnexpectedInput, state: _State) -> SyntaxError_:
    source = state.source
    if isinstance(e, UnexpectedCharacters):
        span = Span(source, e.line, e.column, e.line, e.column + 1)
        char = e.char
        hint = "strings use double quotes" if char == "'" else None
        return SyntaxError_(f"unexpected character `{char}`", span, expected=_describe(e.allowed or []),
                            found=f"`{char}`", hint=hint)
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        lines = source.text.splitlines() or [""]
        span = Span(source, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        hint = None
        if state.open:
            tok = state.open[-1]
            hint = f"the `{tok}` opened at {tok.line}:{tok.column} is never closed"
        return SyntaxError_("unexpected end of file", span, expected=_describe(e.expected or []),
                            found="the end of the file", hint=hint)
    tok = e.token
    span = _tok_span(source, tok)
    expected = set(e.expected or [])
    hint = None
    if tok.type == "NAME" and ("LPAR" in expected or "SEMICOLON" in expected):
        hint = "apply a morphism with parentheses, f(x), and compose with `;`"
    elif "IN" in expected and tok.type in ("NAME", "LPAR"):
        hint = "a `let` or `feedback` is followed by `in` and its body"
    elif tok.type == "EQUAL" and "COLON" in expected:
        hint = "a definition needs its type first: `def name : A -> B = …`"
    elif tok.type in ("NAME", "NUMBER") and "MODEL" in expected:
        hint = "the declaration ended before this; compose with `;` (f ; g) or apply with parentheses, f(x)"
    found = "the end of the file" if tok.type == "$END" else f"`{tok}`"
    return SyntaxError_(f"unexpected {found}", span, expected=_describe(expected), found=found, hint=hint)


def decode(data: bytes, name: str) -> Source:
    """Check size and encoding of raw file contents; a :class:`Source`."""
    if len(data) > MAX_BYTES:
        raise InputError(f"the file is too large ({len(data) / 2**20:.1f} MiB)", Span(Source(name, ""), 1, 1, 1, 1),
                         expected=f"at most {MAX_BYTES // 2**20} MiB", found=f"{len(data):,} bytes",
                         hint="a model this large is almost certainly generated; generate definitions that repeat instead")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[:e.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        src = Source(name, data.decode("utf-8", errors="replace"))
        raise InputError("the file is not valid UTF-8", Span(src, line, col, line, col + 1),
                         expected="UTF-8 text", found=f"the byte 0x{data[e.start]:02x}",
                         hint="save the file as UTF-8") from None
    if "\x00" in text:
        i = text.index("\x00")
        line = text.count("\n", 0, i) + 1
        col = i - (text.rfind("\n", 0, i) + 1) + 1
        raise InputError("the file contains a NUL character", Span(Source(name, text), line, col, line, col + 1),
                         found="a binary file", hint="a .cat file is UTF-8 text")
    return Source(name, text)


def parse(source: Source) -> A.Module:
    """Parse a source into a :class:`~catlearn.grammar.ast.Module`."""
    lark = _parser()
    state = _State(source)
    _TRANSFORMER.state = state
    try:
        tree = lark.parse(source.text)
        return _TRANSFORMER.transform(tree)
    except UnexpectedInput as e:
        raise _syntax_error(e, state) from None
    except VisitError as e:
        raise e.orig_exc from None
    finally:
        _TRANSFORMER.state = None


def parse_text(text: str, name: str = "<string>") -> A.Module:
    return parse(Source(name, text))


def parse_file(path: str | Path) -> A.Module:
    path = Path(path)
    return parse(decode(path.read_bytes(), str(path)))
