"""Neural circuit diagrams of any Diagram, through graphviz.

The drawing is decided from the IR alone:

* every wire is an edge labelled with its type (``R[b: 8, 64]``); a wire read
  twice goes through a small copy dot, one never read ends in a hollow discard
  dot; a tuple of outputs is grouped on one output node;
* parameters are **bold** edges entering their box from above (Para);
* a box lifted over leading axes has a double border and names those axes;
* each call of a definition is a labelled fence (a cluster), nested as the
  calls are; below ``depth`` a call is one box, and a chain of calls of the
  same definition folds into one box marked ``× N`` (the default for a
  diagram of over 300 boxes is depth 0: every call a box);
* a ``feedback`` loop is a fence around its body, with its state going back
  through a visible delay box.

>>> import catlearn
>>> d = catlearn.loads("use std.nn\\nmodel f : R[3] -> R[2] = dense(3, 2) ; relu")["f"]
>>> "cluster_dense" in to_dot(d).source
True
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import graphviz

from ..core.diagram import CONST, FEEDBACK, SCAN, Diagram, Scope
from ..core.types import TensorType, dim_str, object_str

COLOURS = {"std.math": "#e8f1fb", "std.linalg": "#fdf0dc", "std.array": "#eeeeee", "std.nn": "#e6f4e6",
           "std.stream": "#f6e6f4", "user": "#ffffff", "value": "#ffffff", "std.core": "#ffffff"}
FONT = "Helvetica"


@dataclass
class Style:
    """How to draw: fence depth (None: all), layout direction, folding."""

    depth: int | None = None
    rankdir: str = "LR"
    fold: bool = True


def _label(t: TensorType) -> str:
    return str(t)


def _attrs_text(op) -> str:
    shown = []
    for k, v in op.attrs:
        if k in ("dtype",) or v is None:
            continue
        text = str(v) if not isinstance(v, tuple) else "(" + ", ".join(map(str, v)) + ")"
        if len(text) > 18:
            text = text[:16] + "…"
        shown.append(f"{k}={text}")
    return ", ".join(shown)


@dataclass
class _Group:
    """The ops of one collapsed definition call (or a folded chain of them)."""

    scope: Scope
    ops: list = field(default_factory=list)
    count: int = 1


class _Drawer:
    """Draws one diagram (or a feedback body) into a graph; nested drawers
    share `context` (node counter, parameter nodes)."""

    def __init__(self, graph, style: Style, context: dict | None = None, base: tuple = (), backwards: bool = False):
        self.g = graph
        self.style = style
        self.context = context if context is not None else {"count": 0, "params": set()}
        self.base = base
        self.backwards = backwards  # draw edges against the layout direction (a backward pass)
        self.params: set = set()
        self.in_node = self.out_node = None

    def node_id(self, kind: str) -> str:
        self.context["count"] += 1
        return f"{kind}{self.context['count']}"

    # -- the whole diagram -------------------------------------------------------
    def draw(self, d: Diagram, producers: dict | None = None) -> dict:
        """Draw `d`; `producers` maps its input wires to existing endpoints (a
        feedback body drawn inside a bigger picture: then no input and output
        nodes are drawn).  Returns the endpoint of every wire."""
        outer = producers is None
        producers = dict(producers or {})
        if outer:
            node = self.in_node = self.record("in", d.dom, "i")
            for k, w in enumerate(d.inputs):
                producers.setdefault(w, f"{node}:i{k}")
        read = {i for op in d.ops for i in op.inputs} | set(d.outputs)
        self.params = {p.wire for p in d.params if p.wire in read}
        for p in d.params:
            if p.wire not in read:  # a parameter this diagram does not use (a backward pass's biases)
                continue
            first = next((op for op in d.ops if p.wire in op.inputs), None)
            node = self.node_id("param")
            self.fence(first.scope if first else None).node(
                node, _esc(p.name.rsplit(".", 1)[-1]), shape="plaintext", fontname=FONT, fontsize="10",
                fontcolor="#1f4e8c", tooltip=p.name)
            self.context["params"].add(node)
            producers[p.wire] = node
        units = self.units(d)
        consumers = self.consumers(d, units)
        drawn = {}
        for unit in units:
            drawn[id(unit)] = self.draw_unit(d, unit, producers)
            for k, w in enumerate(self.unit_outputs(d, unit)):
                if isinstance(unit, _Group):
                    producers[w] = f"{drawn[id(unit)]}:o{k}"
                elif unit.prim not in (FEEDBACK, SCAN):
                    producers[w] = drawn[id(unit)]
        if outer:
            node = self.out_node = self.record("out", d.cod, "o")
            for k, w in enumerate(d.outputs):
                consumers.setdefault(w, []).append(f"{node}:o{k}")
        self.wire_edges(d, producers, consumers, drawn, outer)
        return producers

    def record(self, kind: str, types, port: str) -> str:
        node = self.node_id(kind)
        fields = "|".join(f"<{port}{k}> {_esc(_label(t))}" for k, t in enumerate(types)) or "()"
        self.g.node(node, f"{{{fields}}}" if self.style.rankdir in ("LR", "RL") else fields, shape="record",
                    style="rounded", color="#888888", fontname=FONT, fontsize="10")
        return node

    # -- grouping by definition calls ------------------------------------------------------
    def units(self, d: Diagram) -> list:
        """The ops, with each call below `depth` collapsed to a group, folded."""
        depth = self.style.depth
        out, groups = [], {}
        for op in d.ops:
            path = op.scope.path() if op.scope else ()
            if depth is not None and len(path) > depth:
                frame = path[depth]
                group = groups.get(frame)
                if group is None:
                    group = groups[frame] = _Group(frame)
                    out.append(group)
                group.ops.append(op)
            else:
                out.append(op)
        return self.fold(d, out) if self.style.fold else out

    def fold(self, d: Diagram, units: list) -> list:
        """Merge chains of groups of the same definition, each feeding only the next."""
        out = []
        for unit in units:
            prev = out[-1] if out else None
            if isinstance(unit, _Group) and isinstance(prev, _Group) and prev.scope.name == unit.scope.name \
                    and set(self.unit_inputs(d, unit)) <= set(self.unit_outputs(d, prev)) \
                    and [op.prim.name for op in unit.ops] == [op.prim.name for op in prev.ops[:len(unit.ops)]]:
                prev.ops.extend(unit.ops)
                prev.count += 1
                continue
            out.append(unit)
        return out

    def unit_inputs(self, d: Diagram, unit) -> list:
        ops = unit.ops if isinstance(unit, _Group) else [unit]
        made = {o for op in ops for o in op.outputs}
        return list(dict.fromkeys(i for op in ops for i in op.inputs if i not in made and i not in self.params))

    def unit_outputs(self, d: Diagram, unit) -> list:
        if not isinstance(unit, _Group):
            return list(unit.outputs)
        inside = {id(op) for op in unit.ops}
        used_outside = set(d.outputs)
        for op in d.ops:
            if id(op) not in inside:
                used_outside.update(op.inputs)
        return [o for op in unit.ops for o in op.outputs if o in used_outside]

    def consumers(self, d: Diagram, units: list) -> dict:
        out: dict[int, list] = {}
        for unit in units:
            if isinstance(unit, _Group):
                wires = self.unit_inputs(d, unit) + [i for op in unit.ops for i in op.inputs if i in self.params]
                for i in dict.fromkeys(wires):
                    out.setdefault(i, []).append(unit)
            elif unit.prim in (FEEDBACK, SCAN):  # a loop wires its own inputs, inside
                for i in unit.inputs:
                    out.setdefault(i, [])
            else:
                for i in unit.inputs:
                    out.setdefault(i, []).append(unit)
        return out

    # -- one box, group or loop ------------------------------------------------------------
    def draw_unit(self, d: Diagram, unit, producers: dict) -> str:
        if isinstance(unit, _Group):
            return self.draw_group(d, unit)
        graph = self.fence(unit.scope)
        if unit.prim is FEEDBACK:
            return self.draw_feedback(d, unit, graph, producers)
        if unit.prim is SCAN:
            return self.draw_scan(d, unit, graph, producers)
        node = self.node_id("op")
        if unit.prim is CONST:
            graph.node(node, _fmt_number(unit.attr["value"]), shape="circle", fontname=FONT, fontsize="9",
                       style="filled", fillcolor="#ffffff", margin="0.02")
            return node
        title = unit.prim.glyph or unit.prim.name
        extra = _attrs_text(unit)
        label = title if not extra else f"{title}\\n{extra}"
        opts = dict(shape="box", style="rounded,filled", fillcolor=COLOURS.get(unit.prim.module, "#ffffff"),
                    fontname=FONT, fontsize="11", tooltip=unit.prim.name)
        if unit.lift:
            out = d.types[unit.outputs[0]] if unit.outputs else None
            axes = ", ".join(n or str(s) for n, s in zip(out.names[:unit.lift], out.shape[:unit.lift])) if out else ""
            label += f"\\n⇑ {axes}"
            opts["peripheries"] = "2"
        graph.node(node, label, **opts, **{"class": f"box {unit.prim.name} scope:{_qual(unit.scope)}"})
        return node

    def draw_group(self, d: Diagram, group: _Group) -> str:
        node = self.node_id("def")
        outs = self.unit_outputs(d, group)
        fields = "|".join(f"<o{k}> {_esc(_label(d.types[w]))}" for k, w in enumerate(outs))
        name = group.scope.name + (f"  × {group.count}" if group.count > 1 else "")
        label = f"{{{_esc(name)}|{{{fields}}}}}" if fields else _esc(name)
        self.fence(group.scope.parent).node(node, label, shape="record", style="rounded,filled,bold",
                                            fillcolor="#fff8e0", fontname=FONT, fontsize="11")
        return node

    def draw_feedback(self, d: Diagram, op, graph, producers: dict) -> str:
        a = op.attr
        body = op.body
        n = a["n_inputs"]
        loop = self.node_id("loop")
        with graph.subgraph(name=f"cluster_{loop}") as sub:
            sub.attr(label=f"feedback {a['state']} : {a['state_type']}", style="rounded,dashed", color="#8a4f9e",
                     fontname=FONT, fontsize="11")
            delay = self.node_id("delay")
            init = a["init"][0] if a["init"] else "delay inside"
            sub.node(delay, f"z⁻¹\\n{init}", shape="box", style="rounded,filled", fillcolor=COLOURS["std.stream"],
                     fontname=FONT, fontsize="10")
            inner = _Drawer(sub, self.style, self.context, op.scope.path() if op.scope else ())
            sources = {w: producers[i] for w, i in zip(body.inputs[:n], op.inputs[:n])}
            sources[body.inputs[n]] = delay
            sources.update({w: producers[i] for w, i in zip(body.inputs[n + 1:], op.inputs[n:])})
            inner_producers = inner.draw(body, sources)
            sub.edge(inner_producers[body.outputs[-1]], delay, label=_esc(f"{a['state']}′"), style="dashed",
                     color="#8a4f9e", constraint="false", fontname=FONT, fontsize="9")
        for w, b in zip(op.outputs, body.outputs[:-1]):
            producers[w] = inner_producers[b]
        return loop

    def draw_scan(self, d: Diagram, op, graph, producers: dict) -> str:
        """A scan: its body (one step) in a fence labelled with the time axis it runs along."""
        body, n = op.body, op.attr["n_inputs"]
        first = d.types[op.inputs[0]]
        k = first.rank - 1 - op.attr["in_ranks"][0]
        axis = first.names[k] or dim_str(first.shape[k])
        loop = self.node_id("scan")
        with graph.subgraph(name=f"cluster_{loop}") as sub:
            sub.attr(label=f"scan ⟳ one step of {axis}", style="rounded,dashed", color="#2e7d6b", fontname=FONT,
                     fontsize="11")
            inner = _Drawer(sub, self.style, self.context, op.scope.path() if op.scope else ())
            inner_producers = inner.draw(body, {w: producers[i] for w, i in zip(body.inputs, op.inputs)})
        for w, b in zip(op.outputs, body.outputs):
            producers[w] = inner_producers[b]
        return loop

    def fence(self, scope: Scope | None):
        """The cluster an op of `scope` is drawn in (nested as the calls are)."""
        path = scope.path() if scope is not None else ()
        if self.style.depth is not None:
            path = path[:self.style.depth]
        path = path[len(self.base):] if path[:len(self.base)] == self.base else path
        return _Fence(self, path) if path else self.g

    # -- wires ------------------------------------------------------------------------------
    def wire_edges(self, d: Diagram, producers: dict, consumers: dict, drawn: dict, outer: bool):
        loose = set() if outer else set(d.outputs)  # a body's outputs are read outside it
        for w, src in producers.items():
            targets = consumers.get(w, [])
            is_param = src in self.context["params"]
            label = _esc(_label(d.types[w]))
            edge = dict(fontname=FONT, fontsize="9", color="#555555")
            if is_param:
                edge.update(style="bold", penwidth="2.2", color="#1f4e8c", headport="n")
            if not targets:
                if w in loose or w in consumers:  # read outside this body, or inside a loop
                    continue
                dot = self.node_id("drop")
                self.g.node(dot, "", shape="circle", width="0.1", fixedsize="true", style="filled",
                            fillcolor="#ffffff", color="#555555")
                self.edge(src, dot, label=label, **edge)
                continue
            if len(targets) > 1 and not is_param:
                dot = self.node_id("copy")
                self.g.node(dot, "", shape="point", width="0.09", color="#333333")
                self.edge(src, dot, label=label, arrowhead="none", **edge)
                src, label = dot, ""
            for target in targets:
                dst = target if isinstance(target, str) else drawn[id(target)]
                self.edge(src, dst, label=label or None, **edge)

    def edge(self, src: str, dst: str, **attrs):
        if self.backwards:
            attrs.pop("headport", None)
            self.g.edge(dst, src, dir="back", **attrs)
        else:
            self.g.edge(src, dst, **attrs)


class _Fence:
    """Nested clusters for a scope path, opened on demand (graphviz merges
    clusters of the same name, so each call is one fence)."""

    def __init__(self, drawer: _Drawer, path: tuple):
        self.drawer = drawer
        self.path = path

    @contextmanager
    def _open(self):
        with ExitStack() as stack:
            graph = self.drawer.g
            for frame in self.path:
                graph = stack.enter_context(graph.subgraph(name=f"cluster_{_cluster(frame)}"))
                lift = f"  ⇑{frame.lift}" if frame.lift else ""
                graph.attr(label=frame.label + lift, style="rounded", color="#b0b0b0", fontname=FONT,
                           fontsize="10", labeljust="l")
            yield graph

    def node(self, *args, **kwargs):
        with self._open() as graph:
            graph.node(*args, **kwargs)

    def edge(self, *args, **kwargs):
        with self._open() as graph:
            graph.edge(*args, **kwargs)

    @contextmanager
    def subgraph(self, **kwargs):
        with self._open() as graph, graph.subgraph(**kwargs) as sub:
            yield sub


def _qual(scope: Scope | None) -> str:
    return scope.qualname if scope is not None else ""


def _cluster(scope: Scope) -> str:
    return scope.qualname.replace(".", "__")


def _esc(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}").replace("|", "\\|") \
        .replace("<", "\\<").replace(">", "\\>")


def _fmt_number(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


VIEWS = ("forward", "backward", "lens")


def _graph(name: str, title: str, style: Style) -> graphviz.Digraph:
    g = graphviz.Digraph(name=name)
    g.attr(rankdir=style.rankdir, fontname=FONT, newrank="true", nodesep="0.25", ranksep="0.35", label=title,
           labelloc="t", fontsize="12")
    return g


def default_style(d: Diagram, **overrides) -> Style:
    """All fences for a small diagram; for a large one (over 300 boxes), each
    definition call is one box, and chains of calls fold into ``× N``."""
    return Style(**{"depth": None if len(d.ops) <= 300 else 0, **overrides})


def to_dot(d: Diagram, name: str | None = None, style: Style | None = None, view: str = "forward",
           title: str | None = None) -> graphviz.Digraph:
    """The neural circuit diagram of `d` (``view``: ``forward``; ``backward``,
    its reverse derivative; ``lens``, forward and backward passes) as a graph,
    under `title` (by default the name and the type)."""
    from ..semantics.rdc import reverse

    name = name or d.name or "diagram"
    style = style or default_style(d)
    if view == "lens":
        return _lens(d, name, style, title)
    if view == "backward":
        d = reverse(d)
        name = f"R[{name}]"
    elif view != "forward":
        raise ValueError(f"unknown view {view!r}; one of {', '.join(VIEWS)}")
    g = _graph(name, title or f"{name} : {object_str(d.dom)} → {object_str(d.cod)}", style)
    _Drawer(g, style).draw(d)
    return g


def _lens(d: Diagram, name: str, style: Style, title: str | None) -> graphviz.Digraph:
    """The optic of `d`: its forward pass left to right, its backward pass below
    it right to left, and the residuals passed between them."""
    from ..semantics.lens import compile_split

    split = compile_split(d, "optic")
    g = _graph(name, title or f"{name} as an optic: forward →, backward ←", style)
    context = {"count": 0, "params": set()}
    drawers = []
    for title, part, backwards in (("forward", split.forward, False), ("backward", split.backward, True)):
        with g.subgraph(name=f"cluster_{title}") as sub:
            sub.attr(label=title, style="rounded", color="#d0d0d0", fontname=FONT, fontsize="11")
            drawer = _Drawer(sub, style, context, backwards=backwards)
            drawer.draw(part)
            drawers.append(drawer)
    fwd, bwd = drawers
    for k in range(len(split.residuals)):
        g.edge(f"{fwd.out_node}:o{split.n_outputs + k}", f"{bwd.in_node}:i{k}", style="dashed", color="#c06000",
               constraint="false", label="residual" if k == 0 else None, fontname=FONT, fontsize="9")
    return g


def svg(d: Diagram, **options) -> str:
    """The drawing of `d` as SVG text (needs Graphviz's ``dot``)."""
    return to_dot(d, **options).pipe(format="svg").decode("utf-8")
