"""The ``catlearn`` command line.

Exit codes: 0 success, 1 a bad model (a :class:`CatError`), 2 bad usage,
3 an internal error (a bug in catlearn: please report it).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

from . import __version__
from .core.errors import CatError, did_you_mean
from .grammar.format import format_module
from .grammar.module import Module, check_bytes
from .grammar.parser import decode, parse

EXIT_OK, EXIT_BAD_MODEL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {path}")
    if p.is_dir():
        raise UsageError(f"{path} is a directory; give .cat files (e.g. {path}/*.cat)")
    return p.read_bytes()


def _weights(module: Module, name: str) -> int | None:
    d = module[name]
    total = 0
    for t in d.param_types:
        size = t.size()
        if size is None:
            return None
        total += size
    return total


def _describe(module: Module) -> dict:
    defs = []
    for name, defn in module.definitions.items():
        d = defn.diagram
        defs.append({"name": name, "kind": defn.kind, "type": defn.type, "ops": len(d.ops),
                     "params": len(d.params), "weights": _weights(module, name)})
    learners = [{"name": n, "model": l.model.name, "loss": l.loss[0], "optimizer": l.optimizer[0],
                 "settings": l.settings} for n, l in module.learners.items()]
    return {"definitions": defs, "learners": learners}


def cmd_check(args) -> int:
    results, status = [], EXIT_OK
    for path in args.files:
        data = _read(path)
        try:
            module = check_bytes(data, "<stdin>" if path == "-" else path)
        except CatError as e:
            status = EXIT_BAD_MODEL
            results.append({"path": path, "ok": False, "errors": [e.to_json()]})
            if not args.json:
                print(e.render(), file=sys.stderr)
            continue
        info = _describe(module)
        results.append({"path": path, "ok": True, "errors": [], **info})
        if not args.json and not args.quiet:
            print(f"{path}: ok")
            for d in info["definitions"]:
                if d["kind"] == "def" and not args.verbose:
                    continue
                weights = f", {d['weights']:,} weights" if d["weights"] else ""
                print(f"  {d['kind']} {d['name']} : {d['type']}  ({d['ops']} ops, {d['params']} params{weights})")
            for l in info["learners"]:
                print(f"  learner {l['name']} = train {l['model']} (loss {l['loss']}, optimizer {l['optimizer']})")
    if args.json:
        print(json.dumps({"ok": status == EXIT_OK, "files": results}, indent=2, default=str))
    return status


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` by `text` so that a crash leaves either file whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cmd_fmt(args) -> int:
    status = EXIT_OK
    for path in args.files:
        data = _read(path)
        try:
            source = decode(data, "<stdin>" if path == "-" else path)
            formatted = format_module(parse(source), source)
        except CatError as e:
            print(e.render(), file=sys.stderr)
            status = EXIT_BAD_MODEL
            continue
        if path == "-":
            sys.stdout.write(formatted)
            continue
        if formatted == source.text:
            continue
        if args.check or args.diff:
            status = EXIT_BAD_MODEL
            if args.diff:
                sys.stdout.writelines(difflib.unified_diff(source.text.splitlines(True), formatted.splitlines(True),
                                                           f"{path}", f"{path} (formatted)"))
            else:
                print(f"would reformat {path}")
        else:
            _write_atomically(Path(path), formatted)
            print(f"reformatted {path}")
    return status


def cmd_verify(args) -> int:
    import numpy as np

    from .testing.laws import check_laws

    status = EXIT_OK
    for path in args.files:
        data = _read(path)
        try:
            module = check_bytes(data, "<stdin>" if path == "-" else path)
        except CatError as e:
            print(e.render(), file=sys.stderr)
            status = EXIT_BAD_MODEL
            continue
        targets = [(f"{d.kind} {n}", d.diagram) for n, d in module.definitions.items() if d.kind != "def"]
        targets += [(f"learner {n} (model {l.model.name})", l.diagram) for n, l in module.learners.items()
                     if l.diagram != module.definitions[l.model.name].diagram]
        print(path)
        for title, diagram in targets:
            rng = np.random.default_rng(args.seed)
            results = check_laws(diagram, rng, checks=args.checks)
            print(f"  {title} : {diagram.type}")
            if results and results[0].skipped:
                print(f"    skipped: {results[0].skipped}")
                continue
            print(f"    {'law':48} {'checks':>6} {'worst error':>12}  result")
            for r in results:
                print(f"    {r.law:48} {r.checks:6d} {r.worst:12.2e}  {'pass' if r.passed else 'FAIL'}")
                if not r.passed:
                    status = EXIT_BAD_MODEL
                    print("    smallest failing diagram:")
                    print("      " + r.example.strip().replace("\n", "\n      "))
    return status


def cmd_draw(args) -> int:
    import graphviz

    from .diagrams import VIEWS, default_style, to_dot
    from .semantics.learner import training_step

    data = _read(args.file)
    try:
        module = check_bytes(data, args.file)
    except CatError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_BAD_MODEL
    if args.view == "learner":
        if not module.learners:
            raise UsageError(f"{args.file} declares no learner")
        name = args.definition or next(iter(module.learners))
        if name not in module.learners:
            raise UsageError(f"no learner `{name}` in {args.file}; it has {', '.join(module.learners)}")
        learner = module.learners[name]
        diagram = training_step(learner.diagram, learner.loss[0], learner.optimizer, learner.settings["batch"]).diagram
        view = "forward"
    else:
        if not module.definitions:
            raise UsageError(f"{args.file} defines nothing to draw")
        models = [n for n, d in module.definitions.items() if d.kind != "def"] or list(module.definitions)
        name = args.definition or models[-1]
        if name not in module.definitions:
            hint = did_you_mean(name, module.definitions)
            raise UsageError(f"no definition `{name}` in {args.file}" + (f"; {hint}" if hint else "") +
                             f" (it has {', '.join(module.definitions)})")
        diagram, view = module[name], args.view
        if view not in VIEWS:
            raise UsageError(f"unknown view `{view}`")
    style = default_style(diagram, rankdir=args.rankdir, fold=not args.no_fold)
    if args.depth is not None:
        style.depth = args.depth
    graph = to_dot(diagram, name=name, style=style, view=view)
    out = Path(args.output or f"{Path(args.file).stem}-{name}-{args.view}.svg")
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf", "dot", "gv"):
        raise UsageError(f"cannot write `{out.suffix}` files; use .svg, .png, .pdf or .dot")
    if fmt in ("dot", "gv"):
        _write_atomically_bytes(out, graph.source.encode())
    else:
        try:
            _write_atomically_bytes(out, graph.pipe(format=fmt))
        except graphviz.ExecutableNotFound:
            dot = out.with_suffix(".dot")
            _write_atomically_bytes(dot, graph.source.encode())
            print(f"catlearn draw: error: Graphviz's `dot` program is not installed, so {out} was not rendered;\n"
                  f"  the DOT text is in {dot}.\n"
                  "  = hint: install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
                  "graphviz; conda: conda install graphviz)", file=sys.stderr)
            return EXIT_BAD_MODEL
    print(f"wrote {out}")
    return EXIT_OK


def _write_atomically_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catlearn", description="Compositional learning with string diagrams.")
    parser.add_argument("--version", action="version", version=f"catlearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    check = sub.add_parser("check", help="parse and type-check .cat files",
                           description="Parse, elaborate and type-check .cat files; print each model's type. "
                                       "Exit 0 if all are well-typed, 1 if any is not.")
    check.add_argument("files", nargs="+", metavar="FILE", help=".cat files ('-' for standard input)")
    check.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    check.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    check.add_argument("-v", "--verbose", action="store_true", help="also list helper definitions")
    check.set_defaults(run=cmd_check)
    fmt = sub.add_parser("fmt", help="format .cat files in place",
                         description="Rewrite .cat files in the canonical layout, keeping comments. "
                                     "Files are replaced atomically; a file that does not parse is left untouched.")
    fmt.add_argument("files", nargs="+", metavar="FILE", help=".cat files ('-' formats standard input to stdout)")
    fmt.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would be reformatted")
    fmt.add_argument("--diff", action="store_true", help="change nothing; print a diff of what would change")
    fmt.set_defaults(run=cmd_fmt)
    verify = sub.add_parser("verify", help="check the laws of learners on every model",
                            description="Check, at random points, that each model's reverse derivative agrees with "
                                        "finite differences and with its forward derivative, is linear in the "
                                        "cotangent, compiles to equal lens and optic, and that batches equal "
                                        "examples one by one. Exit 1 if a law fails, showing the smallest failing "
                                        "diagram as .cat text.")
    verify.add_argument("files", nargs="+", metavar="FILE", help=".cat files")
    verify.add_argument("--checks", type=int, default=20, help="random points per law (default 20)")
    verify.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    verify.set_defaults(run=cmd_verify)
    draw = sub.add_parser("draw", help="draw a model as a neural circuit diagram",
                          description="Draw a definition (by default the file's last model) as a neural circuit "
                                      "diagram: typed wires, bold parameter wires, fences for definition calls, "
                                      "copy/discard dots, feedback loops through a delay box.")
    draw.add_argument("file", metavar="FILE", help="a .cat file")
    draw.add_argument("--def", dest="definition", metavar="NAME", help="the definition (or learner) to draw")
    draw.add_argument("-o", "--output", metavar="OUT", help="output file: .svg (default), .png, .pdf or .dot")
    draw.add_argument("--view", default="forward", choices=["forward", "backward", "lens", "learner"],
                      help="forward (default); backward: its reverse derivative; lens: forward and backward "
                           "passes; learner: a learner's training step")
    draw.add_argument("--depth", type=int, metavar="N", help="fences for definition calls up to depth N; deeper "
                                                             "calls are single boxes")
    draw.add_argument("--rankdir", default="LR", choices=["LR", "TB", "RL", "BT"], help="layout direction")
    draw.add_argument("--no-fold", action="store_true", help="do not fold repeated calls into one box")
    draw.set_defaults(run=cmd_draw)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        return args.run(args)
    except UsageError as e:
        print(f"catlearn {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except CatError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_BAD_MODEL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in catlearn, not in the user's model
        if os.environ.get("CATLEARN_DEBUG"):
            traceback.print_exc()
        print(f"catlearn: internal error: {type(e).__name__}: {e}\n"
              f"This is a bug in catlearn; set CATLEARN_DEBUG=1 for the traceback and please report it.",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
