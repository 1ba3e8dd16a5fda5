"""Parsing `.cat` text into the AST, with spans and readable syntax errors.

>>> m = parse_text("model f : R[3] -> R[3] = relu ; tanh")
>>> m.decls[0].name, type(m.decls[0].body).__name__
('f', 'Chain')
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..core.errors import InputError, Source, Span, SyntaxError_
from ..core.types import MAX_SIZE
from . import ast as A

MAX_BYTES = 2 * 1024 * 1024
MAX_BRACKETS = 64
MAX_DEPTH = 128
VALUE_KINDS = {"Real": "R", "Int": "Z", "Bool": "B"}
SHAPE_KINDS = {"Nat"}

_LEVEL = {";": ";", "+": "+", "-": "+", "*": "*", "/": "*"}
_PRETTY = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "the end of the file"}


class _State:
    def __init__(self, source: Source):
        self.source = source
        self.comments: list[tuple] = []


_MEANINGFUL = {"NAME", "FNAME", "NUMBER", "STRING"}


class _Seq(list):
    """A list of AST items that knows its source span (and what it lists)."""

    span: Span | None = None
    tag: str = ""


def _tok_span(source: Source, tok: Token) -> Span:
    return Span(source, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + len(tok))


def _vals(ch: list) -> list:
    """The children that carry meaning: nodes, names, numbers, strings."""
    return [c for c in ch if c is not None and (type(c) is not Token or c.type in _MEANINGFUL)]


class _ToAst:
    """LALR callbacks building the AST bottom-up as the parser reduces (no tree,
    no recursion over depth).  All tokens are kept, so a node's span runs from
    its first child's start to its last child's end."""

    def __init__(self):
        self.state: _State | None = None

    def _span(self, ch: list) -> Span | None:
        i, j = 0, len(ch) - 1
        while i <= j and (ch[i] is None or not _has_span(ch[i])):
            i += 1
        while j >= i and (ch[j] is None or not _has_span(ch[j])):
            j -= 1
        if i > j:
            return None
        first, last = ch[i], ch[j]
        if type(first) is Token:
            line, col = first.line, first.column
        else:
            line, col = first.span.line, first.span.col
        if type(last) is Token:
            end_line, end_col = last.end_line, last.end_column
        else:
            end_line, end_col = last.span.end_line, last.span.end_col
        return Span(self.state.source, line, col, end_line, end_col)

    def _seq(self, ch, items, tag: str = "") -> _Seq:
        out = _Seq(items)
        out.span = self._span(ch)
        out.tag = tag
        return out

    def _expr(self, node: A.Expr, *children) -> A.Expr:
        node.depth = 1 + max((c.depth for c in children if isinstance(c, A.Expr)), default=0)
        if node.depth > MAX_DEPTH:
            raise InputError("expression nested too deeply", node.span,
                             expected=f"at most {MAX_DEPTH} levels of nesting", found=f"{node.depth} levels",
                             hint="split it into named definitions")
        return node

    # declarations
    def start(self, ch):
        return A.Module(_vals(ch), self.state.comments, span=self._span(ch))

    def use_module(self, ch):
        v = _vals(ch)
        return A.Use(".".join(v[0]), False, str(v[1]) if len(v) > 1 else None, span=self._span(ch))

    def use_file(self, ch):
        v = _vals(ch)
        return A.Use(str(v[0])[1:-1], True, str(v[1]) if len(v) > 1 else None, span=self._span(ch))

    def dotted(self, ch):
        return self._seq(ch, [str(t) for t in _vals(ch)])

    def typedef(self, ch):
        v = _vals(ch)
        params = v[1] if len(v) == 3 else []
        return A.TypeDecl(str(v[0]), list(params), v[-1], span=self._span(ch))

    def tparams(self, ch):
        return self._seq(ch, [str(t) for t in _vals(ch)])

    def gen(self, ch):
        v = _vals(ch)
        return A.GenDecl(str(v[0]), v[1], span=self._span(ch))

    def defkw(self, ch):
        return ch[0]

    def define(self, ch):
        kw = ch[0]
        v = _vals(ch[1:])
        name, rest = v[0], v[1:]
        params = list(rest.pop(0)) if rest and isinstance(rest[0], _Seq) else []
        over = rest.pop(0)[1] if rest and isinstance(rest[0], tuple) else None
        sig = rest.pop(0)
        body = rest.pop()
        return A.Def(str(kw), str(name), params, str(over) if over else None, sig, rest, body,
                     span=self._span(ch), name_span=_tok_span(self.state.source, name))

    def over(self, ch):
        return ("over", _vals(ch)[0])

    def dparams(self, ch):
        return self._seq(ch, _vals(ch))

    def dparam(self, ch):
        v = _vals(ch)
        name, kind = str(v[0]), (v[1] if len(v) > 1 else None)
        span = self._span(ch)
        if kind is None:
            return A.DefParam(name, "shape", span=span)
        if isinstance(kind, A.SigExpr):
            return A.DefParam(name, "morph", sig=kind, span=span)
        kind = str(kind)
        if kind in SHAPE_KINDS:
            return A.DefParam(name, "shape", span=span)
        if kind in VALUE_KINDS:
            return A.DefParam(name, "value", value_type=VALUE_KINDS[kind], span=span)
        raise SyntaxError_(f"unknown kind of parameter `{kind}`", span,
                           expected="`Nat` (a size), `Real`, `Int`, `Bool` (values) or a type `A -> B` (a morphism)",
                           found=f"`{kind}`")

    def kind(self, ch):
        return ch[0]

    def sig(self, ch):
        v = _vals(ch)
        return A.SigExpr(v[0], v[1], span=self._span(ch))

    def learner(self, ch):
        v = _vals(ch)
        return A.LearnerDecl(str(v[0]), v[1], v[2:], span=self._span(ch))

    def clause(self, ch):
        v = _vals(ch)
        return A.Clause(str(v[0]), v[1], span=self._span(ch))

    # types
    def type(self, ch):
        parts = _vals(ch)
        if len(parts) == 1 and isinstance(parts[0], A.TypeExpr):
            return parts[0]  # a parenthesised type
        factors = []
        for c in parts:  # products are lists of factors: (A * B) * C is A * B * C
            factors.extend(c.factors if isinstance(c, A.TypeExpr) else [c])
        return A.TypeExpr(factors, span=self._span(ch))

    def tfactor(self, ch):
        return _vals(ch)[0]

    def unit(self, ch):
        return A.TypeExpr([], span=self._span(ch))

    def tensor(self, ch):
        v = _vals(ch)
        name = str(v[0])
        axes = args = None
        for c in v[1:]:
            if c.tag == "axes":
                axes = list(c)
            else:
                args = list(c)
        return A.TensorExpr(name, axes, args, span=self._span(ch))

    def axes(self, ch):
        return self._seq(ch, _vals(ch), "axes")

    def targs(self, ch):
        return self._seq(ch, _vals(ch), "targs")

    def axis(self, ch):
        v = _vals(ch)
        name = str(v[0]) if len(v) == 2 else None
        return A.AxisExpr(name, v[-1], span=self._span(ch))

    def datom(self, ch):
        return _vals(ch)[0]

    def dnum(self, ch):
        text = str(ch[0])
        if not text.isdigit():
            raise SyntaxError_("a size must be a whole number", self._span(ch), expected="a natural number", found=text)
        return self._dim(A.Dim(("num", _whole(text, self._span(ch), "a size")), span=self._span(ch)))

    def dvar(self, ch):
        return A.Dim(("var", str(ch[0])), span=self._span(ch))

    def _dim(self, d: A.Dim, *children: A.Dim) -> A.Dim:
        d.depth = 1 + max((c.depth for c in children), default=0)
        if d.depth > MAX_DEPTH:
            raise InputError("size expression nested too deeply", d.span,
                             expected=f"at most {MAX_DEPTH} operations deep", found=f"{d.depth}",
                             hint="name the size: make it a parameter, or compute it in fewer steps")
        return d

    def _dim_op(self, op, ch):
        a, b = _vals(ch)
        return self._dim(A.Dim((op, a, b), span=self._span(ch)), a, b)

    def dadd(self, ch):
        return self._dim_op("+", ch)

    def dsub(self, ch):
        return self._dim_op("-", ch)

    def dmul(self, ch):
        return self._dim_op("*", ch)

    # parameters
    def pdecl(self, ch):
        v = _vals(ch)
        names = [str(t) for t in v if isinstance(t, Token)]
        typ = next(c for c in v if isinstance(c, A.TypeExpr))
        init = v[-1] if isinstance(v[-1], A.Init) else None
        return A.ParamDecl(".".join(names), typ, init, span=self._span(ch))

    def init(self, ch):
        v = _vals(ch)
        return A.Init(str(v[0]), v[1:], span=self._span(ch))

    # expressions
    def lambda_(self, ch):
        head, body = _vals(ch)
        span = self._span(ch)
        if isinstance(head, A.Name) and "." not in head.id:
            binders = [head.id]
        elif isinstance(head, A.Tuple) and all(isinstance(i, A.Name) and "." not in i.id for i in head.items):
            binders = [i.id for i in head.items]
        else:
            raise SyntaxError_("the left of `=>` must name the inputs", head.span,
                               expected="a name `x` or a tuple of names `(x, y)`", found="an expression",
                               hint="write a pointful body as `(x, y) => …`")
        if len(set(binders)) != len(binders):
            raise SyntaxError_("an input is named twice", head.span, found=", ".join(binders))
        return self._expr(A.Lambda(binders, body, span=span), body)

    def let(self, ch):
        *bindings, body = _vals(ch)
        if isinstance(body, A.Let):
            bindings.extend(body.bindings)
            body = body.body
        return self._expr(A.Let(bindings, body, span=self._span(ch)), *[b.value for b in bindings], body)

    def binding(self, ch):
        (names, is_tuple), value = _vals(ch)
        return A.Binding(names, is_tuple, value, span=self._span(ch))

    def pvar(self, ch):
        return ([str(ch[0])], False)

    def ptuple(self, ch):
        return ([str(c) for c in _vals(ch)], True)

    def feedback(self, ch):
        v = _vals(ch)
        name, typ, body = v[0], v[1], v[-1]
        init = v[2] if len(v) == 4 else None
        return self._expr(A.Feedback(str(name), typ, init, body, span=self._span(ch)), body)

    def _chain(self, ch):
        left, op, right = ch
        span = self._span(ch)
        op = str(op)
        if isinstance(left, A.Chain) and _LEVEL[left.ops[0]] == _LEVEL[op]:
            left.ops.append(op)
            left.items.append(right)
            left.span = span
            left.depth = max(left.depth, right.depth + 1)
            return self._expr(left) if left.depth > MAX_DEPTH else left
        return self._expr(A.Chain([op], [left, right], span=span), left, right)

    then = plus = minus = times = divide = _chain

    def negate(self, ch):
        value = _vals(ch)[0]
        return self._expr(A.Negate(value, span=self._span(ch)), value)

    def call(self, ch):
        func, *rest = _vals(ch)
        args = [a for a in rest if not isinstance(a, A.Kwarg)]
        kwargs = [a for a in rest if isinstance(a, A.Kwarg)]
        seen = set()
        for k in kwargs:
            if k.name in seen:
                raise SyntaxError_(f"the keyword `{k.name}` is given twice", k.span)
            seen.add(k.name)
        return self._expr(A.Call(func, args, kwargs, span=self._span(ch)), func, *args, *[k.value for k in kwargs])

    def index(self, ch):
        target, number = _vals(ch)
        text = str(number)
        if not text.isdigit():
            raise SyntaxError_("an index must be a whole number", self._span(ch), found=text)
        return self._expr(A.Index(target, _whole(text, self._span(ch), "an index"), span=self._span(ch)), target)

    def kwarg(self, ch):
        name, value = _vals(ch)
        return A.Kwarg(str(name), value, span=self._span(ch))

    def name(self, ch):
        return A.Name(".".join(str(t) for t in _vals(ch)), span=self._span(ch))

    def number(self, ch):
        text = str(ch[0])
        span = self._span(ch)
        value = float(text)
        if not math.isfinite(value):
            raise SyntaxError_("this number is too large", span, expected="a number below 1.8e308 (a float64)",
                               found=_abbreviated(text), hint="write a smaller constant")
        if text.isdigit():
            value = int(text)
        return A.Number(value, text, span=span)

    def string(self, ch):
        return A.String(str(ch[0])[1:-1], span=self._span(ch))

    def atom(self, ch):
        return _vals(ch)[0]

    def tuple(self, ch):
        items = _vals(ch)
        return self._expr(A.Tuple(items, span=self._span(ch)), *items)

    def empty(self, ch):
        return A.Tuple([], span=self._span(ch))


def _abbreviated(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:10]}…{text[-6:]} ({len(text):,} characters)"


def _whole(text: str, span: Span, what: str) -> int:
    """A size or index literal: a whole number of at most 2^63."""
    if len(text) > 19 or int(text) > MAX_SIZE:
        raise SyntaxError_(f"{what} is too large", span, expected="a whole number of at most 2^63",
                           found=_abbreviated(text), hint="no tensor could have an axis this long")
    return int(text)


def _has_span(c) -> bool:
    return type(c) is Token or getattr(c, "span", None) is not None


_TRANSFORMER = _ToAst()
setattr(_ToAst, "lambda", _ToAst.lambda_)


_BRACKETS = re.compile(r"[()\[\]]")
_NOT_CODE = re.compile(r'--[^\n]*|"[^"\n]*"')


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _brackets(source: Source):
    """The brackets of `source` outside comments and strings: (char, offset)."""
    code = _NOT_CODE.sub(lambda m: " " * len(m.group()), source.text) if ("--" in source.text or '"' in source.text) \
        else source.text
    return ((m.group(), m.start()) for m in _BRACKETS.finditer(code))


def _check_nesting(source: Source) -> None:
    depth = 0
    for char, offset in _brackets(source):
        depth += 1 if char in "([" else -1
        if depth > MAX_BRACKETS:
            line, col = _position(source.text, offset)
            raise InputError("brackets nested too deeply", Span(source, line, col, line, col + 1),
                             expected=f"at most {MAX_BRACKETS} levels of brackets", found="more",
                             hint="split the expression into named definitions")


def _unclosed(source: Source) -> tuple[str, int, int] | None:
    stack = []
    for char, offset in _brackets(source):
        if char in "([":
            stack.append((char, offset))
        elif stack and stack[-1][0] == {")": "(", "]": "["}[char]:
            stack.pop()
    if not stack:
        return None
    char, offset = stack[-1]
    return (char, *_position(source.text, offset))


def _comment(tok):
    _TRANSFORMER.state.comments.append((tok.line, tok.column, str(tok)))
    return tok


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "catlearn.lark").read_text()
    callbacks = {"COMMENT": _comment}
    return Lark(grammar, parser="lalr", lexer="contextual", keep_all_tokens=True, transformer=_TRANSFORMER,
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
        lines = source.lines or [""]
        span = Span(source, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        hint = None
        unclosed = _unclosed(source)
        if unclosed:
            hint = f"the `{unclosed[0]}` opened at {unclosed[1]}:{unclosed[2]} is never closed"
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


def read_limited(file) -> bytes:
    """At most ``MAX_BYTES + 1`` bytes of a binary file object: enough to tell
    that a file is too large without reading all of it (``/dev/zero`` included)."""
    return file.read(MAX_BYTES + 1)


def text_source(text: str, name: str) -> Source:
    """A :class:`Source` whose lines end in ``\n`` alone (``\r\n`` and a lone
    ``\r`` become ``\n``), as the parser and the error excerpts count them."""
    return Source(name, text.replace("\r\n", "\n").replace("\r", "\n"))


def decode(data: bytes, name: str) -> Source:
    """Check size and encoding of raw file contents; a :class:`Source`."""
    if len(data) > MAX_BYTES:
        raise InputError("the file is too large", Span(Source(name, ""), 1, 1, 1, 1),
                         expected=f"at most {MAX_BYTES // 2**20} MiB", found=f"more than {MAX_BYTES:,} bytes",
                         hint="a model this large is almost certainly generated; generate definitions that repeat instead")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        src = text_source(data.decode("utf-8", errors="replace"), name)
        before = text_source(data[:e.start].decode("utf-8", errors="replace"), name).text
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        raise InputError("the file is not valid UTF-8", Span(src, line, col, line, col + 1),
                         expected="UTF-8 text", found=f"the byte 0x{data[e.start]:02x}",
                         hint="save the file as UTF-8") from None
    source = text_source(text, name)
    text = source.text
    if "\x00" in text:
        i = text.index("\x00")
        line = text.count("\n", 0, i) + 1
        col = i - (text.rfind("\n", 0, i) + 1) + 1
        raise InputError("the file contains a NUL character", Span(source, line, col, line, col + 1),
                         found="a binary file", hint="a .cat file is UTF-8 text")
    return source


def parse(source: Source) -> A.Module:
    """Parse a source into a :class:`~catlearn.grammar.ast.Module`."""
    lark = _parser()
    _check_nesting(source)
    state = _State(source)
    _TRANSFORMER.state = state
    try:
        return lark.parse(source.text)
    except UnexpectedInput as e:
        raise _syntax_error(e, state) from None
    finally:
        _TRANSFORMER.state = None


def parse_text(text: str, name: str = "<string>") -> A.Module:
    return parse(text_source(text, name))


def parse_file(path: str | Path) -> A.Module:
    path = Path(path)
    with open(path, "rb") as f:
        return parse(decode(read_limited(f), str(path)))
