"""Errors a user can cause, each carrying a source span.

Every failure caused by user input is a :class:`CatError`.  Rendering follows
rustc/Elm: ``file:line:col: error: message``, the source line with a caret
under the culprit, then what was expected, what was found, and a hint.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """A named source text (a `.cat` file or a string given to the API)."""

    name: str
    text: str

    @property
    def lines(self) -> list[str]:
        """The lines as the parser counts them: only ``\n`` ends a line."""
        lines = self.text.split("\n")
        return lines[:-1] if lines[-1] == "" else lines

    def line(self, number: int) -> str:
        lines = self.lines
        return lines[number - 1] if 0 < number <= len(lines) else ""


@dataclass(frozen=True)
class Span:
    """A region of a source: 1-based line/column, end exclusive."""

    source: Source
    line: int
    col: int
    end_line: int
    end_col: int

    @property
    def location(self) -> str:
        return f"{self.source.name}:{self.line}:{self.col}"


WINDOW = 100  # the most source characters shown on an error's line
_UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}  # controls, format (bidi) and unassigned characters


def _shown(char: str) -> str:
    """`char` as an error prints it: controls and invisible characters escaped."""
    if char == "\t":
        return " "
    return char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in _UNSAFE else char


def printable(text: str) -> str:
    """`text` with every character that could act on a terminal escaped (newlines kept)."""
    return "\n".join("".join(map(_shown, part)) for part in text.split("\n"))


class CatError(Exception):
    """A user-caused failure: message, span, expected/found and a hint."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, *, expected: str | None = None,
                 found: str | None = None, hint: str | None = None, notes: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.span = span
        self.expected = expected
        self.found = found
        self.hint = hint
        self.notes = tuple(notes)
        self.others: tuple[CatError, ...] = ()
        self.truncated = False

    def with_others(self, others, limit: int) -> "CatError":
        """This error, the first of a file's, followed by its `others` (at most `limit` in all)."""
        self.others = tuple(others)
        self.truncated = len(self.others) + 1 >= limit
        return self

    @property
    def all(self) -> tuple["CatError", ...]:
        return (self, *self.others)

    def at(self, span: Span | None) -> "CatError":
        """This error, placed at `span` unless it already has a place."""
        if self.span is None:
            self.span = span
        return self

    def render(self) -> str:
        """The full human-readable report (no trailing newline): this error,
        then the others found in the same file, then how many there were."""
        if not self.others:
            return self.render_one()
        count = f"{len(self.all)} errors" + (", and checking stopped there" if self.truncated else "")
        return "\n\n".join([self.render_one(), *(e.render_one() for e in self.others), f"error: {count}"])

    def render_one(self) -> str:
        """This error alone.  Every text that came from the input is escaped, so
        a file cannot send terminal controls."""
        head = f"{self.span.location}: " if self.span else ""
        out = [f"{head}error: {self.message}"]
        if self.span:
            out += self._excerpt()
        for label, value in (("expected", self.expected), ("found", self.found)):
            if value is not None:
                out.append(f"  = {label}: {value}")
        for note in self.notes:
            out.append(f"  = note: {note}")
        if self.hint:
            out.append(f"  = hint: {self.hint}")
        return printable("\n".join(out))

    def _excerpt(self) -> list[str]:
        """The span's line (a window of it if long) with a caret under the span."""
        chars = [_shown(c) for c in self.span.source.line(self.span.line)]
        col = max(1, self.span.col)
        width = self.span.end_col - col if self.span.end_line == self.span.line else len(chars) - col + 1
        start = max(0, col - 1 - WINDOW // 2) if len(chars) > WINDOW else 0
        shown = chars[start:start + WINDOW]
        lead = "…" if start else ""
        tail = "…" if start + WINDOW < len(chars) else ""
        before = shown[:max(0, col - 1 - start)]
        under = shown[len(before):len(before) + max(1, width)] or [" "]
        number = str(self.span.line)
        pad = " " * len(number)
        caret = " " * (len(lead) + sum(map(len, before))) + "^" * sum(map(len, under))
        return [f"{pad} |", f"{number} | {lead}{''.join(shown)}{tail}", f"{pad} | {caret}"]

    def to_json(self) -> dict:
        span = self.span
        return {
            "kind": self.kind,
            "message": self.message,
            "file": span.source.name if span else None,
            "line": span.line if span else None,
            "col": span.col if span else None,
            "end_line": span.end_line if span else None,
            "end_col": span.end_col if span else None,
            "expected": self.expected,
            "found": self.found,
            "hint": self.hint,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        return self.render()


class SyntaxError_(CatError):
    """The text does not parse."""

    kind = "syntax"


class InputError(CatError):
    """The input itself is unusable: not UTF-8, too large, nested too deeply."""

    kind = "input"


class NameError_(CatError):
    """A name that is not defined, or defined twice."""

    kind = "name"


class TypeError_(CatError):
    """Wires, shapes, dtypes or arities do not agree."""

    kind = "type"


class DefinitionError(CatError):
    """A definition is ill-formed: recursion, unguarded feedback, bad learner."""

    kind = "definition"


class ImportError_(CatError):
    """A `use` that cannot be resolved."""

    kind = "import"


class FileError(CatError):
    """A data or checkpoint file catlearn cannot use; it renders ``path: error: …``."""

    kind = "file"

    def __init__(self, path, message: str, **details):
        super().__init__(message, **details)
        self.path = str(path)

    def render(self) -> str:
        return printable(f"{self.path}: ") + super().render()

    def to_json(self) -> dict:
        return {**super().to_json(), "file": self.path}


def did_you_mean(name: str, candidates) -> str | None:
    """A 'did you mean `x`?' hint for the nearest candidate, if any is close."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
