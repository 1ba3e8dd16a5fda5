"""Training a learner with the PyTorch backend (``catlearn train``).

The model is compiled to a :class:`~catlearn.backends.torch.CatModule` (either
gradient mode); losses and optimisers are the learner's, with the definitions
the NumPy reference uses (tested equal to ``torch.nn.functional`` and
``torch.optim``).  Each epoch ends with a checkpoint, written atomically in
safetensors (never pickle), holding the parameters, the optimiser state and
the history; ``resume`` continues after the last finished epoch, from a
checkpoint checked whole before any of it is used.  The same seed gives the
same numbers.
"""
from __future__ import annotations

import fcntl
import io
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .backends.torch import compile_module
from .core.diagram import CONST, Diagram
from .core.errors import CatError, FileError
from .data import Dataset
from .distributed import World, device_for, joined, shard
from .files import write_atomically
from .grammar.module import Learner

CHECKPOINT = "checkpoint.safetensors"
DEFAULT_THREADS = torch.get_num_threads()  # torch's choice, before catlearn changes it
MANY_THREADS = 2 ** 22  # weights × rows per call from which torch's threads pay (benchmarks/README.md)


@dataclass
class History:
    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)


def check_data(learner: Learner, source: str, x: np.ndarray, *labels: np.ndarray) -> None:
    """A CatError, placed at the learner, where examples `x` from `source` (and
    their `labels`, for the learner's loss) do not fit its model."""
    model, dom, (outputs,) = learner.model.name, learner.diagram.dom, learner.diagram.cod
    if len(dom) != 1:
        raise CatError(f"`{model}` takes {len(dom)} inputs, but a dataset gives one array of examples", learner.span,
                       expected="a model of one input", found=f"{model} : {learner.diagram.type}",
                       hint="train a model whose other inputs are parameters or constants inside it")
    (inputs,) = dom
    if tuple(x.shape[1:]) != tuple(inputs.shape):
        raise CatError(f"the examples of {source} do not fit `{model}`", learner.span,
                       expected=f"examples of shape {tuple(inputs.shape)} ({model} : {learner.diagram.type})",
                       found=f"examples of shape {tuple(x.shape[1:])}",
                       hint=f"give {source} as many features as `{model}` takes, or change the model's input type")
    y = np.concatenate([np.asarray(part).reshape(len(part), -1) for part in labels] or [np.zeros((0, 1))])
    if not len(y):
        return
    loss, low, high = learner.loss[0], y.min(), y.max()
    if loss == "cross_entropy":
        classes = outputs.shape[-1]
        whole = y.shape[1] == 1 and np.all(y == np.round(y)) and low >= 0
        if not whole or high >= classes:
            raise CatError(f"the labels of {source} are not classes of `{model}`", learner.span,
                           expected=f"one class number per example, 0 … {classes - 1} ({model} scores {classes} "
                                    f"classes)", found=f"labels from {low:g} to {high:g}, {y.shape[1]} per example",
                           hint=f"give one class number per example (of a one-hot row, its argmax), not {y.shape[1]}"
                           if y.shape[1] > 1 else "number the classes 0, 1, 2, …" if not whole else
                           f"give `{model}` an output of R[{int(high) + 1}], one score per class")
    elif loss == "binary_cross_entropy":
        if not np.isin(y, (0, 1)).all() or y.shape[1] != 1:
            raise CatError(f"the labels of {source} are not 0 or 1", learner.span,
                           expected="one label per example, 0 or 1, for binary_cross_entropy",
                           found=f"labels from {low:g} to {high:g}, {y.shape[1]} per example")
    elif y.shape[1] != int(np.prod(outputs.shape)):
        raise CatError(f"the labels of {source} do not match `{model}`'s output", learner.span,
                       expected=f"{int(np.prod(outputs.shape))} number(s) per example, as {model} gives {outputs}",
                       found=f"{y.shape[1]} per example")


def _loss(name: str, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if name == "cross_entropy":
        return torch.nn.functional.cross_entropy(scores, labels.long())
    if name == "binary_cross_entropy":
        return torch.nn.functional.binary_cross_entropy_with_logits(scores.reshape(-1), labels.float().reshape(-1))
    target = labels.float().reshape(scores.shape)
    return 0.5 * (scores - target).square().reshape(len(scores), -1).sum(-1).mean()


def _optimizer(spec: tuple, params) -> torch.optim.Optimizer:
    name, kwargs = spec
    hp = dict(kwargs)
    if name == "sgd":
        return torch.optim.SGD(params, lr=hp["lr"])
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=hp["lr"], momentum=hp["beta"], nesterov=name == "nesterov")
    return torch.optim.Adam(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])


def accuracy(module, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows of `x` whose predicted class is `y`."""
    device = next(module.parameters()).device
    with torch.no_grad():
        scores = module(torch.as_tensor(x, dtype=torch.float32, device=device)).cpu()
    if scores.dim() > 1 and scores.shape[-1] > 1:
        predicted = scores.argmax(-1).numpy()
    else:
        predicted = (scores.reshape(-1) > 0).numpy().astype(int)
    return float(np.mean(predicted == y))


def weights(diagram: Diagram) -> int:
    """The number of trainable numbers in `diagram`."""
    return sum(t.size() or 0 for t in diagram.param_types)


def threads_for(diagram: Diagram, rows: int) -> int:
    """Intra-op threads for running `diagram` on `rows` examples per call: one
    below MANY_THREADS weights × rows, where threads cost more than they save
    (and far more on a busy machine), else torch's default."""
    return 1 if weights(diagram) * rows < MANY_THREADS else DEFAULT_THREADS


# -- checkpoints ---------------------------------------------------------------------------
def _signature(module) -> str:
    return json.dumps({n: list(module.get_parameter(n).shape) for n in module.parameter_names})


def save_checkpoint(path: Path, module, optimizer, epoch: int, history: History, data: Dataset) -> None:
    """Write the parameters, optimiser state and history atomically."""
    from safetensors.torch import save

    tensors = {f"param/{n}": module.get_parameter(n).detach().cpu().contiguous() for n in module.parameter_names}
    state = optimizer.state_dict()
    for index, slots in state["state"].items():
        for slot, value in slots.items():
            name = f"optim/{module.parameter_names[index]}/{slot}"
            tensors[name] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["data/mean"] = torch.as_tensor(data.mean)
    tensors["data/scale"] = torch.as_tensor(data.scale)
    meta = {"epoch": str(epoch), "history": json.dumps(history.__dict__), "parameters": _signature(module),
            "classes": str(data.classes), "format": "catlearn-1"}
    write_atomically(path, save(tensors, metadata=meta))


@contextmanager
def claim(out: Path):
    """Hold the folder `out` for one training run: another run into it meanwhile is
    a FileError, and the temporary files of a killed run's writes are removed."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        folder = os.open(out, os.O_RDONLY)
    except OSError as e:
        raise FileError(out, "cannot make the output folder", found=e.strerror,
                        hint="give --out a folder you can write to") from None
    try:
        try:
            fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileError(out, "another `catlearn train` is writing to this folder",
                            hint="wait for it to finish, or give --out another folder") from None
        for pattern in (".checkpoint.*.tmp", ".loss.png.*.tmp", ".model.*.tmp"):
            for stale in out.glob(pattern):
                stale.unlink(missing_ok=True)
        yield
    finally:
        os.close(folder)


_EDITED = "the file changed after catlearn wrote it: use another checkpoint, or train afresh"


def _slots(optimizer) -> dict[str, bool]:
    """The state `optimizer` keeps for a parameter: each slot, and whether it has the parameter's shape (else it
    is a step count)."""
    if isinstance(optimizer, torch.optim.Adam):
        return {"step": False, "exp_avg": True, "exp_avg_sq": True}
    return {"momentum_buffer": True} if optimizer.defaults.get("momentum") else {}


def _check_layout(path: Path, module, optimizer, shapes: dict) -> None:
    """A FileError unless the checkpoint's tensors (`shapes`, by name) are those of `module` (and
    `optimizer`): each parameter of its shape, optimiser slots of the optimiser's kind, the data's
    standardisation of the model's input shape."""
    mine = {n: tuple(module.get_parameter(n).shape) for n in module.parameter_names}
    params = [k[6:] for k in shapes if k.startswith("param/")]
    for name, shape in mine.items():
        if name not in params:
            raise FileError(path, f"the checkpoint has no parameter `{name}`",
                            expected=f"a checkpoint of this model ({len(mine)} parameters)",
                            found=", ".join(params) or "none")
        if shapes[f"param/{name}"] != shape:
            raise FileError(path, f"the checkpoint's parameter `{name}` has the wrong shape", expected=str(shape),
                            found=str(shapes[f"param/{name}"]), hint="the model changed since this checkpoint was "
                                                                     "written")
    extra = [n for n in params if n not in mine]
    if extra:
        raise FileError(path, f"the checkpoint has a parameter `{extra[0]}` the model does not have",
                        hint="the model changed since this checkpoint was written")
    dom = module.diagram.dom
    inputs = tuple(dom[0].shape) if len(dom) == 1 else None
    slots = _slots(optimizer) if optimizer is not None else None
    kept = {}
    for key, shape in shapes.items():
        kind, _, rest = key.partition("/")
        name, _, slot = rest.rpartition("/")
        if kind == "optim" and name in mine:
            kept.setdefault(name, set()).add(slot)
            if slots is None:
                continue
            if slot not in slots:
                raise FileError(path, f"the checkpoint keeps optimiser state `{slot}` of `{name}`, which the "
                                      f"learner's optimiser does not", expected=", ".join(slots) or "no state",
                                hint="the learner's optimizer changed since this checkpoint was written: train "
                                     "afresh (without --resume)")
            if shape != (mine[name] if slots[slot] else ()):
                raise FileError(path, f"the checkpoint's optimiser state `{slot}` of `{name}` has the wrong shape",
                                expected=str(mine[name] if slots[slot] else ()), found=str(shape), hint=_EDITED)
        elif key in ("data/mean", "data/scale"):
            if inputs is not None and shape != inputs:
                raise FileError(path, f"the checkpoint's `{key}` has the wrong shape",
                                expected=f"{inputs}, the model's input shape", found=str(shape), hint=_EDITED)
        elif kind != "param":
            raise FileError(path, f"the checkpoint holds a tensor `{key}` catlearn does not write", hint=_EDITED)
    for key in ("data/mean", "data/scale"):
        if key not in shapes:
            raise FileError(path, f"the checkpoint has no `{key}` (how the features were standardised)",
                            hint=_EDITED)
    for name, have in kept.items():
        if slots and have != set(slots):
            raise FileError(path, f"the checkpoint's optimiser state of `{name}` has no `{min(set(slots) - have)}`",
                            expected=", ".join(slots), found=", ".join(sorted(have)), hint=_EDITED)


def _check_values(path: Path, tensors: dict) -> None:
    """A FileError unless every tensor holds finite floating-point numbers (a step count: a whole number ≥ 0)
    and the features' scales are positive."""
    for key, t in tensors.items():
        if key.endswith("/step") and key.startswith("optim/"):
            real = not (t.is_complex() or t.dtype == torch.bool) and t.numel() == 1
            if not (real and bool(torch.isfinite(t) & (t == t.round()) & (t >= 0))):
                raise FileError(path, f"the checkpoint's step count `{key}` is not a whole number ≥ 0",
                                found=str(t.tolist())[:40], hint=_EDITED)
        elif not t.is_floating_point():
            raise FileError(path, f"the checkpoint's `{key}` holds {str(t.dtype).removeprefix('torch.')} numbers",
                            expected="floating-point numbers (catlearn writes float32)", hint=_EDITED)
        elif not torch.isfinite(t).all():
            raise FileError(path, f"the checkpoint's `{key}` holds NaN or infinite numbers", hint=_EDITED)
    if not (tensors["data/scale"] > 0).all():
        raise FileError(path, "the checkpoint's `data/scale` holds a number ≤ 0",
                        expected="the features' positive standard deviations", hint=_EDITED)


def _check_meta(path: Path, meta: dict) -> tuple[int, History]:
    """The checkpoint's epoch and history, or a FileError: a whole number of epochs, and a record of
    that many finite losses and accuracies."""
    text = meta.get("epoch", "")
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise FileError(path, "the checkpoint's epoch is not a number of finished epochs",
                        expected="a whole number ≥ 0", found=f"`{text[:40]}`" + ("…" if len(text) > 40 else ""),
                        hint=_EDITED)
    epoch = int(text)
    try:
        record = json.loads(meta.get("history", ""))
    except (ValueError, RecursionError) as e:
        raise FileError(path, "the checkpoint's history is not JSON", found=str(e)[:200], hint=_EDITED) from None
    fields = list(History.__dataclass_fields__)
    if not isinstance(record, dict) or sorted(record) != sorted(fields):
        found = (f"the keys {', '.join(sorted(record))}" if isinstance(record, dict) else
                 f"a JSON {type(record).__name__}")
        raise FileError(path, "the checkpoint's history is not a record of losses and accuracies",
                        expected="an object of the keys " + ", ".join(fields), found=found, hint=_EDITED)
    for key, values in record.items():
        if not (isinstance(values, list) and len(values) == epoch and
                all(type(v) in (int, float) and abs(v) < 1e300 for v in values)):
            found = f"{len(values)} entries" if isinstance(values, list) else f"a JSON {type(values).__name__}"
            raise FileError(path, f"the checkpoint's history of `{key}` does not match its epoch, {epoch}",
                            expected=f"{epoch} finite numbers, one per finished epoch", found=found, hint=_EDITED)
    return epoch, History(**record)


def load_checkpoint(path: Path, module, optimizer=None) -> tuple[int, History, dict]:
    """Load a checkpoint into `module` (and `optimizer`); (epoch, history, tensors).
    All of it is checked first: a bad checkpoint is a FileError that changes nothing."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileError(path, "no checkpoint here", hint="train first, or give --checkpoint the file's path")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != "catlearn-1":
                raise FileError(path, "the file is not a catlearn checkpoint", found=f"metadata {sorted(meta)}",
                                hint="give the checkpoint.safetensors that `catlearn train` wrote")
            _check_layout(path, module, optimizer, {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise FileError(path, "the checkpoint is corrupt or not a safetensors file", found=str(e)[:200],
                        hint="delete it to start again, or point --checkpoint at a good one") from None
    _check_values(path, tensors)
    epoch, history = _check_meta(path, meta)
    with torch.no_grad():
        for name in module.parameter_names:
            module.get_parameter(name).copy_(tensors[f"param/{name}"])
    if optimizer is not None:
        state = {"state": {}, "param_groups": optimizer.state_dict()["param_groups"]}
        for index, name in enumerate(module.parameter_names):
            slots = {k.rsplit("/", 1)[1]: v for k, v in tensors.items() if k.startswith(f"optim/{name}/")}
            if slots:
                state["state"][index] = {k: v.float() if k == "step" else v for k, v in slots.items()}
        optimizer.load_state_dict(state)
    return epoch, history, tensors


# -- NaN / inf -----------------------------------------------------------------------------------
def first_nonfinite(d: Diagram, module, x: torch.Tensor):
    """The first box of `d` whose output is not finite on `x`, or None."""
    values = dict(zip(d.inputs, [x]))
    for p in d.params:
        values[p.wire] = module.get_parameter(p.name).detach()
    with torch.no_grad():
        for op in d.ops:
            attrs = op.attr
            if not op.inputs:
                attrs["like"] = x
            fn = CONST.torch if op.prim is CONST else op.prim.torch
            out = fn(torch, *(values[i] for i in op.inputs), **attrs)
            values[op.outputs[0]] = out
            if not torch.isfinite(out).all():
                return op
    return None


# -- the loop ----------------------------------------------------------------------------------
def _nonfinite_error(loss: float, epoch: int, learner: Learner, module, x: torch.Tensor, world: World) -> CatError:
    """The error for a non-finite loss, naming the first box that produced one on any process's rows."""
    op = first_nonfinite(learner.diagram, module, x)
    index = learner.diagram.ops.index(op) if op is not None else None
    if world.distributed:
        import torch.distributed as dist

        found = [None] * world.size
        dist.all_gather_object(found, index)
        index = next((i for i in found if i is not None), None)
    op = learner.diagram.ops[index] if index is not None else None
    where = f"`{op.prim.name}`" if op else "the loss"
    return CatError(f"the loss became {loss} in epoch {epoch + 1}: {where} produced it first",
                    op.span if op else None, hint="lower the learning rate, or check the inputs of that box")


def train(learner: Learner, data: Dataset, out: Path, gradient: str = "autograd", epochs: int | None = None,
          resume: bool = False, progress: bool = True, seed: int | None = None, log=print,
          device: str = "cpu", world: World = World()):
    """Train `learner` on `data`, checkpointing into the folder `out`.

    With several processes (`world`, see :mod:`catlearn.distributed`) each
    takes its share of every batch and DDP averages the gradients; the main
    process reports and writes the checkpoints.
    """
    settings = learner.settings
    show = progress and world.main
    if show:
        from tqdm.auto import tqdm
    epochs = settings["epochs"] if epochs is None else epochs
    seed = settings["seed"] if seed is None else seed
    device = device_for(device, world) if isinstance(device, str) else device
    check_data(learner, data.name, data.x_train, data.y_train, data.y_val)
    batch = min(settings["batch"], len(data.x_train))
    if batch % world.size:
        raise CatError(f"a batch of {batch} does not split evenly over {world.size} processes",
                       hint=f"use a --nproc that divides {batch}, or change the learner's batch")
    with joined(world, device):
        torch.manual_seed(seed)
        module = compile_module(learner.diagram, gradient, strategy=settings["strategy"], seed=seed).to(device)
        model = module
        if world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None)
        optimizer = _optimizer(learner.optimizer, module.parameters())
        out.mkdir(parents=True, exist_ok=True)
        checkpoint = out / CHECKPOINT
        start, history = 0, History()
        if resume and checkpoint.exists():
            start, history, _ = load_checkpoint(checkpoint, module, optimizer)
            if world.main:
                log(f"resuming after epoch {start} of {epochs}")
        x = torch.as_tensor(data.x_train, dtype=torch.float32, device=device)
        y = torch.as_tensor(data.y_train, device=device)
        loss_name = learner.loss[0]
        try:
            for epoch in range(start, epochs):
                order = torch.as_tensor(np.random.default_rng([seed, epoch]).permutation(len(x)), device=device)
                batches = range(0, len(x) - batch + 1, batch)
                bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", leave=False, unit="batch",
                           disable=None) if show else batches
                total = torch.zeros((), device=device)
                for step, start_row in enumerate(bar, 1):
                    rows = shard(order[start_row:start_row + batch], world)
                    optimizer.zero_grad()
                    loss = _loss(loss_name, model(x[rows]), y[rows])
                    mean = _global_mean(loss.detach(), world)
                    if not torch.isfinite(mean):
                        raise _nonfinite_error(mean.item(), epoch, learner, module, x[rows], world)
                    loss.backward()
                    optimizer.step()
                    total += mean
                    if show and not bar.disable:
                        bar.set_postfix(loss=f"{total.item() / step:.4f}", refresh=False)
                history.loss.append(total.item() / max(len(batches), 1))
                history.accuracy.append(accuracy(module, data.x_val, data.y_val))
                if world.main:
                    save_checkpoint(checkpoint, module, optimizer, epoch + 1, history, data)
                    log(f"epoch {epoch + 1:3d}/{epochs}  loss {history.loss[-1]:.4f}  held-out accuracy "
                        f"{history.accuracy[-1]:.4f}")
        finally:  # a DDP wrapper goes before its process group (else a process can hang as it frees it)
            del model
        return module, history


def _global_mean(value: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of a scalar over the processes (each holds an equal share of the batch)."""
    if not world.distributed:
        return value
    import torch.distributed as dist

    value = value.clone()
    dist.all_reduce(value)
    return value / world.size


def loss_figure(history: History, title: str):
    """The loss curve and held-out accuracy by epoch, as a matplotlib figure (ticks at whole epochs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, left = plt.subplots(figsize=(6, 3.5), dpi=120)
    epochs = range(1, len(history.loss) + 1)
    left.plot(epochs, history.loss, color="#1f4e8c", label="training loss")
    left.set_xlabel("epoch")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_ylabel("loss")
    right = left.twinx()
    right.plot(epochs, history.accuracy, color="#c06000", label="held-out accuracy")
    right.set_ylabel("accuracy")
    left.set_title(title)
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.9), fontsize=8)
    fig.tight_layout()
    return fig


def plot_history(history: History, path: Path, title: str) -> None:
    """The loss curve (and held-out accuracy) as a PNG, written atomically."""
    import matplotlib.pyplot as plt

    fig = loss_figure(history, title)
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    write_atomically(path, png.getvalue())
