"""Regenerate the table of standard primitives in docs/language.md:

    python docs/reference.py
"""
from pathlib import Path

START, END = "<!-- primitives -->", "<!-- /primitives -->"


def primitive_table() -> str:
    from catlearn.core.primitives import REGISTRY

    modules: dict = {}
    for p in REGISTRY.values():
        modules.setdefault(p.module, []).append(p)
    lines = []
    for module in sorted(modules):
        lines += ["", f"**{module}**", "", "| primitive | type | meaning |", "|---|---|---|"]
        for p in modules[module]:
            sig = f"`{p.signature}`" if p.signature else "(from its keywords)"
            kws = ", ".join(k + (f"={a.default!r}" if a.default is not None else "") for k, a in p.attrs.items())
            lines.append(f"| `{p.name}{f'({kws})' if kws else ''}` | {sig} | {p.doc} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    path = Path(__file__).parent / "language.md"
    text = path.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{primitive_table()}{END}{tail}")


if __name__ == "__main__":
    main()
