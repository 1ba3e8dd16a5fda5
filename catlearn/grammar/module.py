"""Modules: loading `.cat` files, resolving ``use``, checking every declaration.

>>> m = loads('''
... use std.nn
... model f : R[3] -> R[3] = relu ; relu
... ''')
>>> m["f"]
<Diagram f R[3] -> R[3]: 2 ops>
"""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..core.builder import Builder
from ..core.diagram import Diagram
from ..core.errors import CatError, DefinitionError, ImportError_, NameError_, Source, TypeError_, did_you_mean
from ..core.learning import LOSSES, OPTIMIZERS, SETTINGS
from ..core.primitives import REGISTRY, generator, std_modules
from ..core.types import object_str
from ..stdlib import REEXPORTS, STD_DIR
from . import ast as A
from .elaborate import Definition, Elaborator, Env, SpliceBudget, TypeAlias
from .parser import decode, parse, read_limited, text_source


@dataclass
class Learner:
    """A checked ``learner`` declaration (executed by the training pass)."""

    name: str
    model: Definition
    diagram: Diagram
    loss: tuple
    optimizer: tuple
    settings: dict
    span: object = None


@dataclass
class Module:
    """A checked `.cat` file: its definitions as diagrams, types and learners."""

    name: str
    path: Path | None
    source: Source | None
    definitions: dict = field(default_factory=dict)
    types: dict = field(default_factory=dict)
    generators: dict = field(default_factory=dict)
    learners: dict = field(default_factory=dict)
    primitives: dict = field(default_factory=dict)
    ast: A.Module | None = None

    @property
    def exports(self) -> dict:
        return {**self.primitives, **self.types, **self.generators, **self.definitions}

    @property
    def models(self) -> dict:
        return {n: d for n, d in self.definitions.items() if d.kind == "model"}

    def __getitem__(self, name: str) -> Diagram:
        if name not in self.definitions:
            raise KeyError(f"no definition {name!r} in {self.name}; it has {', '.join(self.definitions) or 'none'}")
        return self.definitions[name].diagram

    def __contains__(self, name: str) -> bool:
        return name in self.definitions

    def instantiate(self, name: str, *args, **kwargs) -> Diagram:
        """The diagram of ``name(args…)`` with concrete sizes and values.

        >>> loads("use std.nn\\ndef f(n) : R[n] -> R[n] = relu").instantiate("f", 4)
        <Diagram f R[4] -> R[4]: 1 ops>
        """
        self[name]
        defn = self.definitions[name]
        params = defn.decl.params
        if len(args) > len(params):
            raise TypeError(f"{name} takes {len(params)} parameters, got {len(args)}")
        given = dict(zip((p.name for p in params), args), **kwargs)
        shapes, values = {}, {}
        for p in params:
            if p.name not in given:
                raise TypeError(f"{name} is missing the parameter {p.name!r}")
            if p.kind == "shape":
                shapes[p.name] = int(given[p.name])
            elif p.kind == "value":
                values[p.name] = float(given[p.name]) if p.value_type == "R" else int(given[p.name])
            else:
                raise TypeError(f"{name} takes a morphism {p.name!r}; instantiate it from a .cat definition")
        dom = [t.subst(shapes) for t in defn.dom]
        for t in dom:
            if t.vars():
                raise TypeError(f"the input sizes {sorted(t.vars())} of {name} are not fixed by its parameters")
        b = Builder(names=True)
        wires = [b.input(t) for t in dom]
        el = Elaborator(_Scope(self.name))
        outs = el.instantiate(defn, b, wires, shapes, values, {}, None, frame=False)
        return b.finish(outs, name)


class _Scope:
    """Names visible in a module: its own, imported, and qualified by alias."""

    def __init__(self, module: str, budget: SpliceBudget | None = None):
        self.module = module
        self.budget = budget or SpliceBudget()
        self.local: dict = {}
        self.imported: dict = {}
        self.origin: dict = {}
        self.ambiguous: dict = {}
        self.qualified: dict = {}
        self.failed: set = set()  # definitions already reported broken

    def add_import(self, exports: dict, origin: str, alias: str | None):
        if alias:
            self.qualified.setdefault(alias, {}).update(exports)
            return
        for name, entry in exports.items():
            if name in self.imported and self.imported[name] is not entry:
                self.ambiguous.setdefault(name, {self.origin[name]}).add(origin)
            else:
                self.imported[name] = entry
                self.origin[name] = origin

    def lookup(self, name: str, span):
        if "." in name:
            alias, _, rest = name.partition(".")
            if alias not in self.qualified:
                raise NameError_(f"unknown module alias `{alias}`", span,
                                 hint=did_you_mean(alias, self.qualified) or f"import it: use … as {alias}")
            if rest not in self.qualified[alias]:
                raise NameError_(f"`{alias}` has no `{rest}`", span, hint=did_you_mean(rest, self.qualified[alias]))
            return self.qualified[alias][rest]
        if name in self.failed:
            raise Reported(f"`{name}` is broken", span)
        if name in self.local:
            return self.local[name]
        if name in self.ambiguous:
            raise NameError_(f"`{name}` is ambiguous", span, found=f"`{name}` in {', '.join(sorted(self.ambiguous[name]))}",
                             hint="import one of the modules with `as` and write alias.name")
        return self.imported.get(name)

    def names(self) -> dict:
        return {**self.imported, **self.local}

    @staticmethod
    def home_of(name: str) -> str | None:
        """The standard module that exports `name`, for a 'consider importing' hint."""
        return _std_homes().get(name)


@lru_cache(maxsize=1)
def _std_homes() -> dict:
    """Each name a standard module defines, and that module (its first, if several)."""
    homes = {n: p.module for n, p in REGISTRY.items() if p.module.startswith("std.")}
    loader = Loader()
    for path in sorted(STD_DIR.glob("*.cat")):
        module = loader.std(f"std.{path.stem}", None)
        for n in module.definitions:
            homes.setdefault(n, module.name)
    return homes


class Reported(CatError):
    """A use of a definition whose own error is already reported: not reported again."""


MAX_IMPORT_DEPTH = 64  # the longest chain of files each `use`-ing the next
SEARCH_PATH_VARIABLE = "CATLEARN_PATH"


def search_path(extra=()) -> tuple[Path, ...]:
    """The folders besides the top-level file's own that `use "…"` may read
    from: `extra` (the CLI's ``--path``), then those in ``$CATLEARN_PATH``."""
    env = os.environ.get(SEARCH_PATH_VARIABLE, "")
    folders = [*extra, *(p for p in env.split(os.pathsep) if p)]
    return tuple(_real(Path(p).expanduser()) for p in folders)


def _real(path: Path) -> Path:
    """`path` absolute, with symlinks and `..` resolved (a symlink loop is left as it is, and fails to open)."""
    return Path(os.path.realpath(path))


class Loader:
    """Loads modules once each, following ``use`` and rejecting cycles.

    A ``use "…"`` path names a `.cat` file inside `root` (the top-level file's
    folder) or inside a folder of `path`, after resolving symlinks: reads stay
    where the user put them, so an untrusted file cannot make an error echo
    ``/etc/passwd``.  Relative paths are tried beside the importing file
    first, then in each folder of `path`.
    """

    def __init__(self, root: Path | None = None, path=()):
        self.cache: dict = {}
        self.stack: list = []
        self.path = search_path(path)
        self.roots = (_real(root or Path.cwd()), *self.path, _real(STD_DIR))
        self.budget = SpliceBudget()

    def std(self, name: str, span) -> Module:
        modules = std_modules()
        known = sorted(set(modules) | {f"std.{p.stem}" for p in STD_DIR.glob("*.cat")})
        if name == "std":
            merged = Module("std", None, None)
            for m in known:
                merged.primitives.update(self.std(m, span).exports)
            return merged
        if name not in known:
            raise ImportError_(f"there is no standard module `{name}`", span, expected=", ".join(["std"] + known),
                               found=name, hint=did_you_mean(name, known))
        key = ("std", name)
        if key not in self.cache:
            path = STD_DIR / f"{name.split('.', 1)[1]}.cat"
            own = {n: REGISTRY[n] for n in modules.get(name, [])}
            for base in REEXPORTS.get(name, []):
                own = {**self.std(base, span).exports, **own}
            module = self.file(path, span, name, prelude=own) if path.exists() else Module(name, None, None)
            module.primitives.update(own)
            self.cache[key] = module
        return self.cache[key]

    def resolve(self, target: str, base: Path, span) -> Path:
        """The file a ``use "target"`` in a file in `base` names (see the class)."""
        if not target.endswith(".cat"):
            raise ImportError_("a `use` path must name a .cat file", span, expected='use "name.cat"',
                               found=f'"{target}"', hint="standard modules are imported without quotes: use std.nn")
        relative = not Path(target).is_absolute()
        candidates = [base / target] + ([folder / target for folder in self.path] if relative else [])
        outside = False
        for candidate in candidates:
            try:
                path = _real(candidate)
                if not any(path.is_relative_to(root) for root in self.roots):
                    outside = True
                elif path.is_file():
                    return path
            except OSError as e:  # a name too long for the file system, say
                raise ImportError_(f"cannot read the module file `{target}`", span, found=e.strerror,
                                   hint="check the path") from None
        if outside:
            raise ImportError_(f"`{target}` is outside the folders a model may import from", span,
                               expected=f"a .cat file under {_relative(self.roots[0]) or '.'} "
                                        "(the top-level file's folder)",
                               hint=f"add its folder to the search path: --path DIR, or ${SEARCH_PATH_VARIABLE}")
        raise ImportError_(f"cannot find the module file `{target}`", span,
                           hint=f"looked for {_relative(candidates[0])}; a `use \"…\"` path is relative to the "
                                "importing file" + (", then to each folder of --path and $CATLEARN_PATH" if self.path else ""))

    def file(self, path: Path, span=None, name: str | None = None, prelude: dict | None = None) -> Module:
        path = _real(path)
        if path in self.stack:
            cycle = " → ".join(p.name for p in self.stack[self.stack.index(path):] + [path])
            raise ImportError_(f"modules import each other: {cycle}", span,
                               hint="move the shared definitions into a third module")
        if path in self.cache:
            return self.cache[path]
        if len(self.stack) >= MAX_IMPORT_DEPTH and not path.is_relative_to(self.roots[-1]):
            chain = [p.name for p in self.stack]
            shown = " → ".join(chain[:3] + ["…"] + chain[-2:] + [path.name])
            raise ImportError_("imports nested too deeply", span, expected=f"at most {MAX_IMPORT_DEPTH} files, "
                               "each importing the next", found=shown, hint="import the modules from one file instead")
        try:
            with open(path, "rb") as f:
                data = read_limited(f)
        except OSError as e:
            raise ImportError_(f"cannot read the module file `{path.name}`", span, found=e.strerror) from None
        self.stack.append(path)
        try:
            module = self.source(decode(data, str(path) if span is None else _relative(path)), name or path.stem, path,
                                 prelude)
        finally:
            self.stack.pop()
        self.cache[path] = module
        return module

    def source(self, source: Source, name: str, path: Path | None = None, prelude: dict | None = None) -> Module:
        ast = parse(source)
        self.budget.allow(source)
        module = Module(name, path, source, ast=ast)
        scope = _Scope(name, self.budget)
        if prelude:
            scope.add_import(prelude, name, None)
        base = path.parent if path else self.roots[0]
        for decl in ast.decls:
            if isinstance(decl, A.Use):
                if decl.is_file:
                    imported = self.file(self.resolve(decl.target, base, decl.span), decl.span)
                else:
                    imported = self.std(decl.target, decl.span)
                scope.add_import(imported.exports, imported.name, decl.alias)
        _check_module(module, scope, ast)
        return module


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


MAX_ERRORS = 20  # the most errors one file reports


class _Errors:
    """The errors of one module's declarations, each checked on its own (as
    rustc goes on after an error); a declaration that uses a broken one is not
    reported again."""

    def __init__(self, scope: _Scope):
        self.scope = scope
        self.found: list = []

    @contextmanager
    def each(self, name: str | None = None):
        try:
            yield
        except Reported:
            self.scope.failed.add(name)
        except CatError as e:
            self.found.append(e)
            self.scope.failed.add(name)
            if len(self.found) >= MAX_ERRORS:
                self.raise_found()

    def raise_found(self) -> None:
        if self.found:
            first, *rest = self.found
            raise first.with_others(rest, MAX_ERRORS)


def _check_module(module: Module, scope: _Scope, ast: A.Module) -> None:
    el = Elaborator(scope)
    errors = _Errors(scope)
    first: dict = {}
    for decl in ast.decls:
        if isinstance(decl, A.Use):
            continue
        name = decl.name
        if name in first:
            errors.found.append(NameError_(f"`{name}` is defined twice", decl.span,
                                           notes=(f"first defined at {first[name].location}",) if first[name] else ()))
            continue
        first[name] = decl.span
        if isinstance(decl, A.TypeDecl):
            alias = TypeAlias(decl, module.name)
            scope.local[name] = module.types[name] = alias
    errors.raise_found()  # names defined twice make what follows ambiguous
    for decl in ast.decls:
        if isinstance(decl, A.GenDecl):
            with errors.each(decl.name):
                implicit: dict = {}
                dom = el.type_of(decl.sig.dom, {}, implicit)
                cod = el.type_of(decl.sig.cod, {}, implicit)
                prim = generator(decl.name, dom, cod, doc="a generator declared in .cat")
                scope.local[decl.name] = module.generators[decl.name] = prim
    defs = {d.name: d for d in ast.decls if isinstance(d, A.Def)}
    for name in _dependency_order(defs):
        with errors.each(name):
            defn = el.define(defs[name], module.name)
            scope.local[name] = module.definitions[name] = defn
    for decl in ast.decls:
        if isinstance(decl, A.LearnerDecl):
            with errors.each(decl.name):
                module.learners[decl.name] = _check_learner(decl, el, scope)
    errors.raise_found()
    module.definitions = {n: module.definitions[n] for n in defs}


# -- dependencies between definitions ---------------------------------------------------
def _free_names(e, bound: dict, out: list) -> None:
    """Append (name, span) for each name `e` uses that `bound` (a multiset) does not bind."""
    if isinstance(e, A.Name):
        if not bound.get(e.id):
            out.append((e.id, e.span))
    elif isinstance(e, A.Call):
        _free_names(e.func, bound, out)
        for a in e.args:
            _free_names(a, bound, out)
        for k in e.kwargs:
            _free_names(k.value, bound, out)
    elif isinstance(e, (A.Chain, A.Tuple)):
        for i in e.items:
            _free_names(i, bound, out)
    elif isinstance(e, A.Negate):
        _free_names(e.value, bound, out)
    elif isinstance(e, A.Index):
        _free_names(e.target, bound, out)
    elif isinstance(e, (A.Lambda, A.Let)):
        added = []
        if isinstance(e, A.Lambda):
            added = list(e.binders)
            _bind(bound, added, 1)
        else:
            for binding in e.bindings:
                _free_names(binding.value, bound, out)
                _bind(bound, binding.names, 1)
                added += binding.names
        _free_names(e.body, bound, out)
        _bind(bound, added, -1)
    elif isinstance(e, A.Feedback):
        _free_names(e.body, bound, out)


def _bind(bound: dict, names, delta: int) -> None:
    for n in names:
        bound[n] = bound.get(n, 0) + delta


def _dependency_order(defs: dict) -> list:
    deps = {}
    for name, d in defs.items():
        bound = {name: 1 for name in [p.name for p in d.params] + [p.name for p in d.param_decls]}
        refs: list = []
        _free_names(d.body, bound, refs)
        deps[name] = [(r, span) for r, span in refs if r in defs]
    order, state = [], {}
    for root in defs:
        if root in state:
            continue
        stack = [(root, iter(deps[root]))]
        state[root] = "active"
        path = [root]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = "done"
                order.append(node)
                continue
            target, span = nxt
            if state.get(target) == "active":
                cycle = path[path.index(target):] + [target]
                raise DefinitionError(f"`{target}` is recursive: {' → '.join(cycle)}", span,
                                      hint="definitions cannot call themselves; use `feedback` to carry state "
                                           "from one step to the next")
            if target not in state:
                state[target] = "active"
                path.append(target)
                stack.append((target, iter(deps[target])))
    return order


# -- learners ---------------------------------------------------------------------
def _named_call(e: A.Expr, what: str):
    if isinstance(e, A.Name):
        return e.id, [], []
    if isinstance(e, A.Call) and isinstance(e.func, A.Name):
        return e.func.id, e.args, e.kwargs
    raise TypeError_(f"expected {what}", e.span, expected="a name, or a name with keyword options")


def _check_learner(decl: A.LearnerDecl, el: Elaborator, scope: _Scope) -> Learner:
    el.defining, el.calls = decl.name, {}
    name, args, kwargs = _named_call(decl.model, "a model")
    defn = scope.lookup(name, decl.model.span)
    if not isinstance(defn, Definition):
        raise TypeError_(f"`{name}` is not a model defined in .cat", decl.model.span,
                         hint=did_you_mean(name, [n for n, v in scope.names().items() if isinstance(v, Definition)]))
    call = A.Call(A.Name(name, span=decl.model.span), args, kwargs, span=decl.model.span)
    shapes, values, morphs = el.bind_params(defn, call, Env())
    dom = [t.subst(shapes) for t in defn.dom]
    loose = sorted(set().union(*(t.vars() for t in dom))) if dom else []
    if loose:
        raise TypeError_(f"the input size `{loose[0]}` of `{name}` must be known to train it", decl.model.span,
                         hint=f"give it: train {name}({', '.join(p.name for p in defn.decl.params)}) with sizes")
    b = Builder(names=True)
    outs = el.instantiate(defn, b, [b.input(t) for t in dom], shapes, values, morphs, decl.model.span, frame=False)
    diagram = b.finish(outs, name)
    clauses: dict = {}
    for c in decl.clauses:
        if c.key in clauses:
            raise NameError_(f"the learner setting `{c.key}` is given twice", c.span)
        clauses[c.key] = c
    known = ["loss", "optimizer", *SETTINGS]
    for key, c in clauses.items():
        if key not in known:
            raise NameError_(f"unknown learner setting `{key}`", c.span, expected=", ".join(known),
                             found=f"`{key}`", hint=did_you_mean(key, known))
    if "loss" not in clauses:
        raise DefinitionError(f"the learner `{decl.name}` has no loss", decl.span,
                              expected=f"loss {' | '.join(LOSSES)}", hint=f"add `loss {next(iter(LOSSES))}`")
    loss_name, loss_args, loss_kwargs = _named_call(clauses["loss"].value, "a loss")
    if loss_name not in LOSSES:
        raise NameError_(f"unknown loss `{loss_name}`", clauses["loss"].value.span, expected=", ".join(LOSSES),
                         found=f"`{loss_name}`", hint=did_you_mean(loss_name, LOSSES))
    spec = LOSSES[loss_name]
    if len(diagram.cod) != 1 or not spec.accepts(diagram.cod[0]):
        raise TypeError_(f"the loss `{loss_name}` does not fit the output of `{name}`", clauses["loss"].value.span,
                         expected=spec.expects, found=object_str(diagram.cod))
    if loss_args or loss_kwargs:
        raise TypeError_(f"the loss `{loss_name}` takes no options", clauses["loss"].value.span)
    optimizer = ("adam", tuple(sorted(OPTIMIZERS["adam"].kwargs.items())))
    if "optimizer" in clauses:
        value = clauses["optimizer"].value
        opt_name, opt_args, opt_kwargs = _named_call(value, "an optimizer")
        if opt_name not in OPTIMIZERS:
            raise NameError_(f"unknown optimizer `{opt_name}`", value.span, expected=", ".join(OPTIMIZERS),
                             found=f"`{opt_name}`", hint=did_you_mean(opt_name, OPTIMIZERS))
        ospec = OPTIMIZERS[opt_name]
        if opt_args:
            raise TypeError_("optimizer options are keywords", opt_args[0].span, expected=f"{opt_name}(lr = …)")
        options = dict(ospec.kwargs)
        for k in opt_kwargs:
            if k.name not in ospec.kwargs:
                raise NameError_(f"`{opt_name}` has no option `{k.name}`", k.span, expected=", ".join(ospec.kwargs),
                                 found=f"`{k.name}`", hint=did_you_mean(k.name, ospec.kwargs))
            v = float(el.number(k.value))
            if v < 0 or (k.name == "lr" and v == 0):
                raise TypeError_(f"`{k.name}` must be positive", k.value.span, found=str(v))
            options[k.name] = v
        optimizer = (opt_name, tuple(sorted(options.items())))
    settings = {}
    for key, (kind, default, ok, describe) in SETTINGS.items():
        if key not in clauses:
            settings[key] = default
            continue
        v = clauses[key].value
        if kind == "int" and isinstance(v, A.Number) and isinstance(v.value, int):
            value = v.value
        elif kind == "float" and isinstance(v, A.Number):
            value = float(v.value)
        elif kind == "choice" and isinstance(v, A.Name):
            value = v.id
        elif kind == "str" and isinstance(v, (A.String, A.Name)):
            value = v.value if isinstance(v, A.String) else v.id
        else:
            raise TypeError_(f"`{key}` must be {describe}", v.span, found=_show(v))
        if not ok(value):
            raise TypeError_(f"`{key}` must be {describe}", v.span, found=str(value))
        settings[key] = value
    return Learner(decl.name, defn, diagram, (loss_name, ()), optimizer, settings, decl.span)


def _show(e: A.Expr) -> str:
    if isinstance(e, A.Number):
        return e.text
    if isinstance(e, A.Name):
        return e.id
    return "an expression"


# -- public entry points ---------------------------------------------------------------
@contextmanager
def _paused_gc():
    """Checking allocates a large acyclic AST and IR that all stay alive until it
    ends; the cyclic collector's full passes over them make checking time grow
    faster than the model, so it is paused meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load(path: str | Path, search_path=()) -> Module:
    """Load and check a `.cat` file; raises :class:`CatError` on a bad model.
    Its ``use "…"`` reads stay in its folder and the folders of `search_path`
    and ``$CATLEARN_PATH``."""
    path = Path(path)
    with _paused_gc():
        return Loader(path.parent, search_path).file(path)


def loads(text: str, name: str = "<string>", search_path=()) -> Module:
    """Check `.cat` source text (imports resolve in the working directory)."""
    with _paused_gc():
        return Loader(None, search_path).source(text_source(text, name), name)


def check_bytes(data: bytes, name: str, search_path=()) -> Module:
    """Check raw file contents (as the CLI does for each file)."""
    path = Path(name)
    try:
        where = _real(path) if path.is_file() else None
    except OSError:  # a name too long for the file system: no file to place it in
        where = None
    with _paused_gc():
        return Loader(where.parent if where else None, search_path).source(decode(data, name), path.stem, where)

