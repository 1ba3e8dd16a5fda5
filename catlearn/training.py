"""Training a learner with the PyTorch backend (``catlearn train``).

The model is compiled to a :class:`~catlearn.backends.torch.CatModule` (either
gradient mode); losses and optimisers are the learner's, with the definitions
the NumPy reference uses (tested equal to ``torch.nn.functional`` and
``torch.optim``).  Each epoch ends with a checkpoint, written atomically in
safetensors (never pickle), holding the parameters, the optimiser state and
the history; ``resume`` continues after the last finished epoch.  The same
seed gives the same numbers.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .backends.torch import compile_module
from .core.diagram import CONST, Diagram
from .core.errors import CatError
from .data import Dataset
from .distributed import World, device_for, joined, shard
from .grammar.module import Learner

CHECKPOINT = "checkpoint.safetensors"


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
                           hint="number the classes 0, 1, 2, …" if not whole else
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


# -- checkpoints ---------------------------------------------------------------------------
def _signature(module) -> str:
    return json.dumps({n: list(module.get_parameter(n).shape) for n in module.parameter_names})


def save_checkpoint(path: Path, module, optimizer, epoch: int, history: History, data: Dataset) -> None:
    """Write the parameters, optimiser state and history atomically."""
    from safetensors.torch import save_file

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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".checkpoint.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_checkpoint(path: Path, module, optimizer=None) -> tuple[int, History, dict]:
    """Load a checkpoint into `module` (and `optimizer`); (epoch, history, tensors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CatError(f"no checkpoint at {path}", hint="train first, or give --checkpoint the file's path")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CatError(f"the checkpoint {path} is corrupt or not a safetensors file", found=str(e)[:200],
                       hint="delete it to start again, or point --checkpoint at a good one") from None
    if meta.get("format") != "catlearn-1":
        raise CatError(f"{path} is not a catlearn checkpoint", found=f"metadata {sorted(meta)}")
    with torch.no_grad():
        for name in module.parameter_names:
            key = f"param/{name}"
            if key not in tensors:
                raise CatError(f"the checkpoint has no parameter `{name}`",
                               expected=f"a checkpoint of this model ({len(module.parameter_names)} parameters)",
                               found=", ".join(k[6:] for k in tensors if k.startswith("param/")) or "none")
            mine = module.get_parameter(name)
            if tuple(tensors[key].shape) != tuple(mine.shape):
                raise CatError(f"the checkpoint's parameter `{name}` has the wrong shape",
                               expected=str(tuple(mine.shape)), found=str(tuple(tensors[key].shape)),
                               hint="the model changed since this checkpoint was written")
            mine.copy_(tensors[key])
        extra = [k[6:] for k in tensors if k.startswith("param/") and k[6:] not in module.parameter_names]
        if extra:
            raise CatError(f"the checkpoint has a parameter `{extra[0]}` the model does not have",
                           hint="the model changed since this checkpoint was written")
    if optimizer is not None:
        state = {"state": {}, "param_groups": optimizer.state_dict()["param_groups"]}
        for index, name in enumerate(module.parameter_names):
            slots = {k.rsplit("/", 1)[1]: v for k, v in tensors.items() if k.startswith(f"optim/{name}/")}
            if slots:
                state["state"][index] = slots
        optimizer.load_state_dict(state)
    history = History(**json.loads(meta.get("history", "{}")))
    return int(meta.get("epoch", "0")), history, tensors


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


def plot_history(history: History, path: Path, title: str) -> None:
    """The loss curve (and held-out accuracy) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, left = plt.subplots(figsize=(6, 3.5), dpi=120)
    epochs = range(1, len(history.loss) + 1)
    left.plot(epochs, history.loss, color="#1f4e8c", label="training loss")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    right = left.twinx()
    right.plot(epochs, history.accuracy, color="#c06000", label="held-out accuracy")
    right.set_ylabel("accuracy")
    left.set_title(title)
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.9), fontsize=8)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
