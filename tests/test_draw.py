"""Drawings: the DOT output's structure for every model (every wire labelled,
parameter wires bold, fences nested as the calls are, feedback loops through a
delay box), real SVG renders through `dot`, and the command line."""
import re
from pathlib import Path

import graphviz
import pytest

import catlearn
from catlearn.core.diagram import FEEDBACK
from catlearn.cli import main
from catlearn.diagrams import Style, svg, to_dot
from catlearn.semantics.learner import training_step

ROOT = Path(__file__).parent.parent
MODELS = sorted((ROOT / "models").glob("*.cat"))
DEFINITIONS = [(path, name) for path in MODELS for name in catlearn.load(path).definitions]


def parse(source: str):
    """Nodes with the clusters around them, and edges with their attributes."""
    nodes, edges, stack = {}, [], []
    for line in source.splitlines():
        line = line.strip()
        if line.startswith("subgraph cluster_"):
            stack.append(line.split()[1][len("cluster_"):])
        elif line == "}":
            if stack:
                stack.pop()
        elif "->" in line:
            tail, rest = line.split("->", 1)
            head = rest.split("[")[0].strip()
            edges.append((tail.strip().split(":")[0], head.split(":")[0], line))
        elif re.match(r"^\w+ \[", line):
            nodes[line.split()[0]] = (tuple(stack), line)
    return nodes, edges


@pytest.mark.parametrize("path,name", DEFINITIONS, ids=lambda x: x.stem if isinstance(x, Path) else x)
def test_structure_of_every_drawing(path, name):
    d = catlearn.load(path)[name]
    nodes, edges = parse(to_dot(d, style=Style()).source)
    copies = {n for n, (_, line) in nodes.items() if n.startswith("copy")}
    for tail, _, line in edges:
        if tail in copies or "style=dashed" in line:
            continue
        assert "label=" in line, f"an unlabelled wire: {line}"
    params = {n for n in nodes if n.startswith("param")}
    param_edges = [line for tail, _, line in edges if tail in params]
    assert all("style=bold" in line and "headport=n" in line for line in param_edges)
    used = {i for op in d.ops for i in op.inputs}
    assert len(params) == sum(1 for p in d.params if p.wire in used)
    for node, (clusters, line) in nodes.items():  # fences nest as the definition calls do
        m = re.search(r'class="box \S+ scope:([^"]*)"', line)
        if m and not any(c.startswith(("loop", "scan")) for c in clusters):
            scope = m.group(1)
            expected = tuple(".".join(scope.split(".")[:k + 1]).replace(".", "__")
                             for k in range(len(scope.split(".")))) if scope else ()
            assert clusters == expected, (node, clusters, scope)
    loops = [op for op in _all_ops(d) if op.prim is FEEDBACK]
    delays = [n for n in nodes if n.startswith("delay")]
    assert len(delays) == len(loops)
    for delay in delays:
        assert any(head == delay and "style=dashed" in line for _, head, line in edges)


def _all_ops(d):
    for op in d.ops:
        yield op
        if op.body is not None:
            yield from _all_ops(op.body)


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_every_model_renders_to_svg(path):
    module = catlearn.load(path)
    name = [n for n, d in module.definitions.items() if d.kind != "def"][-1]
    text = svg(module[name])
    assert text.lstrip().startswith("<?xml") and "</svg>" in text


def test_backward_and_lens_views_render():
    mlp = catlearn.load(ROOT / "models" / "digits_mlp.cat")["mlp"]
    for view in ("backward", "lens"):
        assert "</svg>" in svg(mlp, view=view)
    source = to_dot(mlp, view="lens").source
    assert "cluster_forward" in source and "cluster_backward" in source and "residual" in source


def test_repeated_calls_fold():
    m = catlearn.loads("use std.nn\ndef block(n) : R[n] -> R[n] = dense(n, n) ; relu\n"
                       "model deep : R[4] -> R[4] = " + " ; ".join(["block(4)"] * 6))
    source = to_dot(m["deep"], style=Style(depth=0)).source
    assert "block  × 6" in source
    assert "× 6" not in to_dot(m["deep"], style=Style(depth=0, fold=False)).source


def test_jupyter_display():
    d = catlearn.loads("use std.nn\nmodel f : R[3] -> R[3] = relu")["f"]
    bundle = d._repr_mimebundle_()
    assert "</svg>" in bundle["image/svg+xml"] and bundle["text/plain"] == repr(d)
    assert bundle["image/png"].startswith(b"\x89PNG")


def test_draw_command(tmp_path, capsys):
    out = tmp_path / "mlp.svg"
    assert main(["draw", str(ROOT / "models" / "digits_mlp.cat"), "-o", str(out)]) == 0
    assert out.read_text().lstrip().startswith("<?xml")
    dot = tmp_path / "rnn.dot"
    assert main(["draw", str(ROOT / "models" / "elman_rnn.cat"), "--def", "elman_8_16", "-o", str(dot)]) == 0
    assert "feedback s" in dot.read_text()
    assert main(["draw", str(ROOT / "models" / "digits_mlp.cat"), "--view", "learner", "-o",
                 str(tmp_path / "step.svg")]) == 0
    assert main(["draw", str(ROOT / "models" / "digits_mlp.cat"), "--def", "mpl"]) == 2
    err = capsys.readouterr().err
    assert "did you mean `mlp`" in err and "(definitions: mlp; learners: digits)" in err
    assert main(["draw", str(ROOT / "models" / "digits_mlp.cat"), "--def", "digit"]) == 2
    assert "did you mean `digits`" in capsys.readouterr().err


LEARNERS = [(path, name) for path in MODELS for name in catlearn.load(path).learners]
OPTIMIZERS = "use std.nn\nmodel f : R[4] -> R[3] = dense(4, 3) ; tanh\nlearner l = train f\n  loss mse\n  optimizer "


@pytest.mark.parametrize("path,name", LEARNERS + [(OPTIMIZERS + o, "l") for o in ("momentum(lr=0.1, beta=0.9)",
                                                                                   "nesterov(lr=0.1, beta=0.9)")],
                         ids=lambda x: x.stem if isinstance(x, Path) else x[-30:])
def test_the_training_step_has_a_frame_per_pass(path, name):
    """Every box of a training step lies in the frame of its pass: the objective,
    its reverse derivative, or the optimiser's update of one parameter."""
    learner = (catlearn.load(path) if isinstance(path, Path) else catlearn.loads(path)).learners[name]
    opt, model = learner.optimizer[0], learner.model.name
    drawn = training_step(learner.diagram, learner.loss[0], learner.optimizer, learner.settings["batch"]).diagram
    assert all(op.scope is not None or op.prim.name in ("copy", "discard", "const") for op in drawn.ops)
    passes = {f"loss[{model}]", f"R[loss[{model}]]"} | {f"{opt} {p.name}" for p in learner.diagram.params}
    assert {op.scope.path()[0].name for op in drawn.ops if op.scope} - passes <= {f"{opt} (shared)"}


def svg_size(text: str) -> tuple[int, int]:
    return tuple(map(int, re.search(r'<svg width="(\d+)pt" height="(\d+)pt"', text).groups()))


def test_the_learner_view_draws_each_pass_as_one_box(tmp_path, capsys):
    """The digits MLP's step (139 boxes) is 7 boxes: 5962×1724 pt drawn box by box, 1083×370 pt so."""
    path = str(ROOT / "models" / "digits_mlp.cat")
    dot = tmp_path / "step.dot"
    assert main(["draw", path, "--def", "digits", "-o", str(dot)]) == 0  # a learner's default view
    nodes, _ = parse(dot.read_text())
    boxes = sorted(re.search(r'\{([^|}]+)', line).group(1).strip() for n, (_, line) in nodes.items()
                   if n.startswith("def"))
    assert boxes == ["R[loss[mlp]]", "adam (shared)", "adam dense.W", "adam dense.b", "adam dense_1.W",
                     "adam dense_1.b", "loss[mlp]"]
    assert not any(n.startswith("op") for n in nodes)
    assert "learner digits: a training step of mlp : P ⊗ S ⊗ X ⊗ T → P ⊗ S ⊗ R  (cross_entropy, adam, batch 32)" \
        in dot.read_text()
    assert main(["draw", path, "--view", "learner", "-o", str(tmp_path / "step.svg")]) == 0
    width, height = svg_size((tmp_path / "step.svg").read_text())
    assert width < 1400 and height < 500, (width, height)
    assert main(["draw", path, "--view", "learner", "--depth", "1", "-o", str(dot)]) == 0  # the passes opened
    source = dot.read_text()
    assert 'subgraph "cluster_loss[mlp]"' in source and 'label="{dense|' in source
    assert re.search(r"^\s*op\d+ \[", source, re.M)


def test_a_learner_is_drawn_only_as_a_learner(capsys):
    path = str(ROOT / "models" / "digits_mlp.cat")
    assert main(["draw", path, "--def", "digits", "--view", "backward"]) == 2
    assert "`digits` is a learner: draw its training step with --view learner, or its model with --def mlp" \
        in capsys.readouterr().err
    assert main(["draw", path, "--def", "mlp", "--view", "learner"]) == 2
    assert "`mlp` is not a learner" in capsys.readouterr().err


def test_missing_dot_still_writes_the_dot_text(tmp_path, monkeypatch, capsys):
    def no_dot(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", no_dot)
    out = tmp_path / "mlp.png"
    assert main(["draw", str(ROOT / "models" / "digits_mlp.cat"), "-o", str(out)]) == 1
    assert not out.exists() and (tmp_path / "mlp.dot").read_text().startswith("digraph")
    assert "apt-get install graphviz" in capsys.readouterr().err


def test_a_stateful_model_is_drawn_unrolled(tmp_path):
    out = tmp_path / "unrolled.dot"
    assert main(["draw", "models/elman_rnn.cat", "--def", "elman_8_16", "--unroll", "3", "-o", str(out)]) == 0
    nodes, _ = parse(out.read_text())
    assert sum(1 for n, (_, line) in nodes.items() if "class=\"box tanh" in line) == 3  # one tanh a step
    assert not [n for n in nodes if n.startswith("delay")]  # no loop is left


def test_a_stateless_model_has_nothing_to_unroll(tmp_path, capsys):
    assert main(["draw", "models/digits_mlp.cat", "--unroll", "3", "-o", str(tmp_path / "x.dot")]) == 2
    assert "has no state to unroll" in capsys.readouterr().err
