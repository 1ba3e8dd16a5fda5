"""Errors a user can cause, each carrying a source span.

Every failure caused by user input is a :class:`CatError`.  Rendering follows
rustc/Elm: ``file:line:col: error: message``, the source line with a caret
under the culprit, then what was expected, what was found, and a hint.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """A named source text (a `.cat` file or a string given to the API)."""

    name: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
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

    def at(self, span: Span | None) -> "CatError":
        """This error, placed at `span` unless it already has a place."""
        if self.span is None:
            self.span = span
        return self

    def render(self) -> str:
        """The full human-readable report (no trailing newline)."""
        head = f"{self.span.location}: " if self.span else ""
        out = [f"{head}error: {self.message}"]
        if self.span:
            text = self.span.source.line(self.span.line).expandtabs(1)
            col = self.span.col
            if self.span.end_line == self.span.line:
                width = self.span.end_col - col
            else:
                width = len(text) - col + 1
            start = max(0, col - 1 - WINDOW // 2) if len(text) > WINDOW else 0
            shown = text[start:start + WINDOW]
            lead = "…" if start else ""
            tail = "…" if start + WINDOW < len(text) else ""
            width = max(1, min(width, len(shown) - (col - 1 - start)))
            number = str(self.span.line)
            pad = " " * len(number)
            caret = " " * (len(lead) + col - 1 - start) + "^" * width
            out += [f"{pad} |", f"{number} | {lead}{shown}{tail}", f"{pad} | {caret}"]
        for label, value in (("expected", self.expected), ("found", self.found)):
            if value is not None:
                out.append(f"  = {label}: {value}")
        for note in self.notes:
            out.append(f"  = note: {note}")
        if self.hint:
            out.append(f"  = hint: {self.hint}")
        return "\n".join(out)

    def to_json(self) -> dict:
        span = self.span
        return {
            "kind": type(self).__name__,
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


class InputError(CatError):
    """The input itself is unusable: not UTF-8, too large, nested too deeply."""


class NameError_(CatError):
    """A name that is not defined, or defined twice."""


class TypeError_(CatError):
    """Wires, shapes, dtypes or arities do not agree."""


class DefinitionError(CatError):
    """A definition is ill-formed: recursion, unguarded feedback, bad learner."""


class ImportError_(CatError):
    """A `use` that cannot be resolved."""


def did_you_mean(name: str, candidates) -> str | None:
    """A 'did you mean `x`?' hint for the nearest candidate, if any is close."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
