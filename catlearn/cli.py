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
import traceback
from pathlib import Path

from . import __version__
from .core.errors import CatError, did_you_mean
from .distributed import current
from .files import write_atomically
from .grammar.format import format_module
from .grammar.module import Module, check_bytes
from .grammar.parser import decode, parse, read_limited

EXIT_OK, EXIT_BAD_MODEL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


def _read(path: str) -> bytes:
    """A `.cat` file's bytes, read no further than the size limit (so
    ``/dev/zero`` is refused, not read until memory runs out)."""
    if path == "-":
        return read_limited(sys.stdin.buffer)
    p = Path(path)
    try:
        if p.is_dir():
            raise UsageError(f"{path} is a directory; give .cat files (e.g. {path}/*.cat)")
        with open(p, "rb") as f:
            return read_limited(f)
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


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
            module = check_bytes(data, "<stdin>" if path == "-" else path, args.path)
        except CatError as e:
            status = EXIT_BAD_MODEL
            results.append({"path": path, "ok": False, "errors": [x.to_json() for x in e.all]})
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
            write_atomically(Path(path), formatted, keep_mode=True)
            print(f"reformatted {path}")
    return status


def cmd_verify(args) -> int:
    import numpy as np

    from .testing.laws import check_laws

    status = EXIT_OK
    verified, failed, skipped = 0, 0, []
    for path in args.files:
        data = _read(path)
        try:
            module = check_bytes(data, "<stdin>" if path == "-" else path, args.path)
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
            if results and all(r.skipped for r in results):
                print(f"    skipped: {results[0].skipped}")
                skipped.append(f"{path}: {title} ({results[0].skipped})")
                continue
            verified += 1
            failed += not all(r.passed for r in results)
            print(f"    {'law':48} {'checks':>6} {'worst error':>12}  result")
            on = ""
            for r in results:
                if r.on != on:
                    on = r.on
                    print(f"    on {on}:")
                if r.skipped:
                    print(f"    {r.law:48} {r.checks:6d} {'-':>12}  skipped: {r.skipped}")
                    continue
                print(f"    {r.law:48} {r.checks:6d} {r.worst:12.2e}  {'pass' if r.passed else 'FAIL'}")
                if not r.passed:
                    status = EXIT_BAD_MODEL
                    if r.error:
                        print(f"    raised {r.error}")
                    print("    smallest failing diagram:")
                    print("      " + r.example.strip().replace("\n", "\n      "))
    summary = f"verified {verified} model{'' if verified == 1 else 's'}" + (f" ({failed} failed)" if failed else "")
    if skipped:
        summary += f"; skipped {len(skipped)}, not verified" + (" (an error with --strict)" if args.strict else "") + ":"
        if args.strict:
            status = EXIT_BAD_MODEL
    print("\n" + summary)
    for line in skipped:
        print(f"  {line}")
    return status


def cmd_draw(args) -> int:
    import graphviz

    from .diagrams import default_style, to_dot
    from .semantics.learner import training_step

    data = _read(args.file)
    try:
        module = check_bytes(data, args.file, args.path)
    except CatError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_BAD_MODEL
    definitions, learners = module.definitions, module.learners
    choices = f"(definitions: {', '.join(definitions) or 'none'}; learners: {', '.join(learners) or 'none'})"
    if args.definition is not None:
        name = args.definition
    elif args.view == "learner":
        if not learners:
            raise UsageError(f"{args.file} declares no learner")
        name = next(iter(learners))
    else:
        models = [n for n, d in definitions.items() if d.kind != "def"] or list(definitions)
        if not models:
            raise UsageError(f"{args.file} defines nothing to draw")
        name = models[-1]
    if name not in definitions and name not in learners:
        hint = did_you_mean(name, [*definitions, *learners])
        raise UsageError(f"no definition or learner `{name}` in {args.file}" + (f"; {hint}" if hint else "") +
                         f" {choices}")
    view = args.view or ("learner" if name in learners else "forward")
    if view == "learner":
        if name not in learners:
            raise UsageError(f"`{name}` is not a learner; --view learner draws a learner's training step {choices}")
        learner = learners[name]
        step = training_step(learner.diagram, learner.loss[0], learner.optimizer, learner.settings["batch"])
        diagram, view_of = step.diagram, "forward"  # its passes are frames: at depth 0, a box each
        title = (f"learner {name}: a training step of {learner.model.name} : P ⊗ S ⊗ X ⊗ T → P ⊗ S ⊗ R  "
                 f"({learner.loss[0]}, {learner.optimizer[0]}, batch {learner.settings['batch']})")
        style = default_style(diagram, depth=0, rankdir=args.rankdir or "TB", fold=not args.no_fold)
    elif name in learners:
        raise UsageError(f"`{name}` is a learner: draw its training step with --view learner, or its model with "
                         f"--def {learners[name].model.name}")
    else:
        diagram, view_of, title = module[name], view, None
        if args.unroll is not None:
            from .semantics.stateful import is_stateful, unroll
            if not is_stateful(diagram):
                raise UsageError(f"`{name}` has no state to unroll; --unroll draws a stateful model (one with a "
                                 f"feedback or a delay) for N steps")
            if args.unroll < 1:
                raise UsageError(f"--unroll takes a number of steps ≥ 1, not {args.unroll}")
            diagram = unroll(diagram, args.unroll).with_name(name)
            title = f"{name} unrolled for {args.unroll} steps : {diagram.type}"
        style = default_style(diagram, rankdir=args.rankdir or "LR", fold=not args.no_fold)
    if args.depth is not None:
        style.depth = args.depth
    graph = to_dot(diagram, name=name, style=style, view=view_of, title=title)
    out = Path(args.output or f"{Path(args.file).stem}-{name}-{view}.svg")
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf", "dot", "gv"):
        raise UsageError(f"cannot write `{out.suffix}` files; use .svg, .png, .pdf or .dot")
    if fmt in ("dot", "gv"):
        write_atomically(out, graph.source.encode())
    else:
        try:
            write_atomically(out, graph.pipe(format=fmt))
        except graphviz.ExecutableNotFound:
            dot = out.with_suffix(".dot")
            write_atomically(dot, graph.source.encode())
            print(f"catlearn draw: error: Graphviz's `dot` program is not installed, so {out} was not rendered;\n"
                  f"  the DOT text is in {dot}.\n"
                  "  = hint: install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
                  "graphviz; conda: conda install graphviz)", file=sys.stderr)
            return EXIT_BAD_MODEL
    print(f"wrote {out}")
    return EXIT_OK


def _learner(module, name: str | None, path: str):
    if not module.learners:
        raise UsageError(f"{path} declares no learner (add `learner NAME = train MODEL loss …`)")
    name = name or next(iter(module.learners))
    if name not in module.learners:
        raise UsageError(f"no learner `{name}` in {path}; it has {', '.join(module.learners)}")
    return module.learners[name]


def cmd_train(args) -> int:
    import contextlib

    import graphviz
    import torch

    from .data import load
    from .diagrams import to_dot
    from .distributed import device_for, launch
    from .training import CHECKPOINT, check_data, claim, plot_history, threads_for, train

    for flag, value, least in (("--epochs", args.epochs, 1), ("--seed", args.seed, 0), ("--nproc", args.nproc, 1),
                               ("--threads", args.threads, 1)):
        if value is not None and value < least:
            raise UsageError(f"{flag} must be at least {least}, not {value}")
    module = check_bytes(_read(args.file), args.file, args.path)
    learner = _learner(module, args.learner, args.file)
    data_name = args.data or learner.settings["data"]
    if not data_name:
        raise UsageError("no data: give --data NAME (iris, digits, wine, breast_cancer, mnist1d) or a .csv/.npz file, "
                         "or `data NAME` in the learner")
    data = load(data_name, learner.settings["split"], learner.settings["seed"] if args.seed is None else args.seed)
    check_data(learner, data_name, data.x_train, data.y_train, data.y_val)  # before any process starts
    world = current()
    out = Path(args.out or f"runs/{learner.name}")
    batch = min(learner.settings["batch"], len(data.x_train))
    if args.nproc > 1 and not world.distributed:
        if batch % args.nproc:
            raise UsageError(f"a batch of {batch} does not split evenly over {args.nproc} processes; "
                             f"use an --nproc that divides {batch}")
        with claim(out):  # for the processes, which write into it
            return launch(args.argv, args.nproc)
    if world.distributed and args.nproc not in (1, world.size):
        raise UsageError(f"--nproc {args.nproc}, but torchrun started {world.size} processes")
    device = device_for(args.device, world)
    torch.set_num_threads(args.threads or threads_for(learner.diagram, batch // world.size))
    say = print if world.main else (lambda *a, **k: None)
    where = f"{world.size} processes ({'nccl' if device.type == 'cuda' else 'gloo'})" if world.distributed else device
    threads = torch.get_num_threads()
    say(f"training `{learner.name}` ({learner.model.name} : {learner.diagram.type}) on {data.name}: "
        f"{len(data.x_train)} examples, {len(data.x_val)} held out; gradients by {args.gradient}; on {where}, "
        f"{threads} CPU thread{'s' * (threads != 1)}")
    with contextlib.nullcontext() if world.distributed else claim(out):
        model, history = train(learner, data, out, args.gradient, args.epochs, args.resume, not args.no_progress,
                               args.seed, log=say, device=device, world=world)
        if not world.main:
            return EXIT_OK
        plot_history(history, out / "loss.png", f"{learner.name}: {learner.model.name} on {data.name}")
        graph = to_dot(learner.diagram, name=learner.model.name)
        picture = out / "model.svg"
        try:
            write_atomically(picture, graph.pipe(format="svg"))
        except graphviz.ExecutableNotFound:
            picture = out / "model.dot"
            write_atomically(picture, graph.source.encode())
            print("(Graphviz's `dot` is not installed, so the model's diagram is DOT text; install graphviz for an "
                  "SVG)")
    print(f"\nfinal held-out accuracy {history.accuracy[-1]:.4f}, training loss {history.loss[-1]:.4f}")
    print(f"wrote {out / CHECKPOINT}, {out / 'loss.png'}, {picture}")
    return EXIT_OK


def cmd_eval(args) -> int:
    import torch

    from .backends.torch import compile_module
    from .data import load
    from .training import accuracy, check_data, load_checkpoint, threads_for

    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, not {args.threads}")
    module = check_bytes(_read(args.file), args.file, args.path)
    learner = _learner(module, args.learner, args.file)
    data_name = args.data or learner.settings["data"]
    if not data_name:
        raise UsageError("no data: give --data NAME (iris, digits, wine, breast_cancer, mnist1d) or a .csv/.npz file, "
                         "or `data NAME` in the learner")
    data = load(data_name, learner.settings["split"], learner.settings["seed"])
    check_data(learner, data_name, data.x_val, data.y_val)
    torch.set_num_threads(args.threads or threads_for(learner.diagram, len(data.x_val)))
    model = compile_module(learner.diagram)
    epoch, _, _ = load_checkpoint(Path(args.checkpoint), model)
    print(f"{learner.name} after epoch {epoch}: held-out accuracy {accuracy(model, data.x_val, data.y_val):.4f} "
          f"on {len(data.x_val)} examples of {data.name}")
    return EXIT_OK


def cmd_predict(args) -> int:
    import math

    import torch

    from .backends.torch import compile_module
    from .data import read
    from .training import check_data, load_checkpoint, threads_for

    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, not {args.threads}")
    module = check_bytes(_read(args.file), args.file, args.path)
    learner = _learner(module, args.learner, args.file)
    model = compile_module(learner.diagram)
    _, _, tensors = load_checkpoint(Path(args.checkpoint), model)
    dom = learner.diagram.dom
    x, _ = read(args.input, features=math.prod(dom[0].shape) if len(dom) == 1 else None)  # labels are optional
    check_data(learner, args.input, x)
    torch.set_num_threads(args.threads or threads_for(learner.diagram, len(x)))
    x = (x - tensors["data/mean"].numpy()) / tensors["data/scale"].numpy()
    with torch.no_grad():
        scores = model(torch.as_tensor(x, dtype=torch.float32)).numpy()
    labels = scores.argmax(-1) if scores.ndim > 1 and scores.shape[-1] > 1 else (scores.reshape(-1) > 0).astype(int)
    text = "\n".join(str(int(v)) for v in labels) + "\n"
    if args.output:
        write_atomically(Path(args.output), text.encode())
        print(f"wrote {len(labels)} predictions to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


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
                                        "examples one by one. A stateful model (feedback, delay) and each scan's "
                                        "step are checked on sequences: backpropagation through time against "
                                        "finite differences and the unrolled network, the forward derivative "
                                        "without unrolling, batches of sequences, checkpointed BPTT on torch. "
                                        "Exit 1 if a law fails, showing the smallest failing diagram as .cat text. "
                                        "A summary at the end names the models skipped (symbolic sizes, not "
                                        "real-valued) and why; --strict fails on them.")
    verify.add_argument("files", nargs="+", metavar="FILE", help=".cat files")
    verify.add_argument("--checks", type=int, default=20, help="random points per law (default 20)")
    verify.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    verify.add_argument("--strict", action="store_true", help="exit 1 if a model is skipped (symbolic sizes or "
                                                               "not real-valued): not verified")
    verify.set_defaults(run=cmd_verify)
    draw = sub.add_parser("draw", help="draw a model as a neural circuit diagram",
                          description="Draw a definition (by default the file's last model) as a neural circuit "
                                      "diagram: typed wires, bold parameter wires, fences for definition calls, "
                                      "copy/discard dots, feedback loops through a delay box.")
    draw.add_argument("file", metavar="FILE", help="a .cat file")
    draw.add_argument("--def", dest="definition", metavar="NAME",
                      help="the definition or learner to draw (default: the last model; a learner: its training step)")
    draw.add_argument("-o", "--output", metavar="OUT", help="output file: .svg (default), .png, .pdf or .dot")
    draw.add_argument("--view", choices=["forward", "backward", "lens", "learner"],
                      help="forward (the default for a definition); backward: its reverse derivative; lens: forward "
                           "and backward passes; learner (the default for a learner): a learner's training step, "
                           "each pass (the objective, its reverse derivative, each parameter's update) one box")
    draw.add_argument("--unroll", type=int, metavar="N", help="a stateful model unrolled for N steps: an ordinary "
                                                              "diagram, the parameters shared by every step")
    draw.add_argument("--depth", type=int, metavar="N", help="fences for definition calls up to depth N; deeper "
                                                             "calls are single boxes (the learner view: 0)")
    draw.add_argument("--rankdir", choices=["LR", "TB", "RL", "BT"],
                      help="layout direction (default LR; the learner view: TB)")
    draw.add_argument("--no-fold", action="store_true", help="do not fold repeated calls into one box")
    draw.set_defaults(run=cmd_draw)
    threads = ("CPU threads for torch's operations (default: 1 where the model's weights times the examples of "
               "one call (a batch) are under 2^22 = 4,194,304, as more threads save little or nothing there; else "
               "torch's default, one per core). On a machine busy with other work 1 was faster at every size "
               "measured (benchmarks/README.md)")
    train = sub.add_parser("train", help="train a learner with PyTorch",
                           description="Train a learner declared in FILE on a bundled dataset (iris, digits, wine, "
                                       "breast_cancer, mnist1d) or a .csv/.npz file, with a progress bar; a safetensors "
                                       "checkpoint after every epoch (atomically), a loss curve and the model's "
                                       "diagram in the output folder.")
    train.add_argument("file", metavar="FILE", help="a .cat file declaring a learner")
    train.add_argument("--learner", metavar="NAME", help="the learner (default: the first)")
    train.add_argument("--data", metavar="DATA", help="dataset name or .csv/.npz file (default: the learner's)")
    train.add_argument("--epochs", type=int, help="epochs (default: the learner's)")
    train.add_argument("--seed", type=int, help="seed for the split, the initial weights and the batches")
    train.add_argument("--gradient", default="autograd", choices=["autograd", "rd"],
                       help="autograd (torch differentiates) or rd (catlearn's reverse-derivative diagram)")
    train.add_argument("--out", metavar="DIR", help="output folder (default: runs/LEARNER)")
    train.add_argument("--resume", action="store_true", help="continue after the last finished epoch")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--device", default="auto", metavar="DEV",
                       help="auto (default: a GPU if torch sees one), cpu or cuda")
    train.add_argument("--nproc", type=int, default=1, metavar="N",
                       help="data-parallel training in N processes on this machine (DDP; gloo on CPU, nccl on GPU)")
    train.add_argument("--threads", type=int, metavar="N", help=threads)
    train.set_defaults(run=cmd_train)
    evaluate = sub.add_parser("eval", help="held-out accuracy of a checkpoint",
                              description="Load a checkpoint and report its held-out accuracy.")
    evaluate.add_argument("file", metavar="FILE")
    evaluate.add_argument("--checkpoint", required=True, metavar="CKPT")
    evaluate.add_argument("--learner", metavar="NAME")
    evaluate.add_argument("--data", metavar="DATA")
    evaluate.add_argument("--threads", type=int, metavar="N", help=threads)
    evaluate.set_defaults(run=cmd_eval)
    predict = sub.add_parser("predict", help="predict labels with a checkpoint",
                             description="Predict a label for every example of a .csv/.npz file with a checkpoint; "
                                         "the file need not hold labels.")
    predict.add_argument("file", metavar="FILE")
    predict.add_argument("--checkpoint", required=True, metavar="CKPT")
    predict.add_argument("--input", required=True, metavar="DATA",
                         help="a .csv file of one example a row: as many cells as the model takes features, or one "
                              "more, the label, last (ignored); a first line with no number in it is a header, and "
                              "skipped. Or an .npz file of the array `x` (a `y` beside it is ignored)")
    predict.add_argument("--learner", metavar="NAME")
    predict.add_argument("-o", "--output", metavar="OUT", help="write the labels here (default: stdout)")
    predict.add_argument("--threads", type=int, metavar="N", help=threads)
    predict.set_defaults(run=cmd_predict)
    for command in sub.choices.values():
        if command.prog.split()[-1] != "fmt":
            command.add_argument("--path", action="append", default=[], metavar="DIR",
                                 help='a folder that `use "…"` may import from, besides the model\'s own '
                                      "(repeatable; also $CATLEARN_PATH)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    reports = current().main  # of several training processes, only the first reports a user's error
    try:
        return args.run(args)
    except UsageError as e:
        if reports:
            print(f"catlearn {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except CatError as e:
        if reports:
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
