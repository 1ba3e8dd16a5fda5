"""Learners as closed diagrams: losses, the learning rate and optimisers are
diagrams too, and one training step is the single diagram

    step : P ⊗ S ⊗ X ⊗ T → P ⊗ S ⊗ R

(parameters, optimiser state, a batch of inputs and targets ↦ new parameters,
new state, the batch's loss), built as in "Categorical foundations of
gradient-based learning": the model's Para morphism, then the loss, the
reverse derivative of the composite (``R``) at cotangent 1 — the learning rate
and the optimiser's update lens closing the loop on ``P ⊗ S``.

>>> import catlearn
>>> module = catlearn.load("models/iris_logistic.cat")
>>> step = training_step(module.learners["iris"].diagram, "cross_entropy", ("sgd", (("lr", 0.1),)), 16)
>>> step.diagram.type
'R[3, 4] * R[3] * R[16 | 4] * R[16 | 3] -> R[3, 4] * R[3] * R'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core.builder import Builder, Emitter, Wire
from ..core.diagram import Diagram
from ..core.errors import CatError
from ..core.passes import dead_code_elimination
from ..core.types import TensorType
from .lens import compile_split
from .para import uncurry
from .rdc import reverse


# -- losses: per-example diagrams Y ⊗ T → R -------------------------------------------------
def _sum_all(g: Emitter, w: Wire, rank: int) -> Wire:
    for _ in range(rank):
        w = g.sum(w)
    return w


def _mse(g, y, t, rank):
    return g.mul(_sum_all(g, g.square(g.sub(y, t)), rank), 0.5)


def _cross_entropy(g, y, t, rank):
    return g.sub(g.logsumexp(y), g.dot(t, y))


def _binary_cross_entropy(g, y, t, rank):
    return _sum_all(g, g.sub(g.softplus(y), g.mul(y, t)), rank)


#: loss name -> per-example loss ``(g, prediction, target, rank) -> scalar``;
#: targets have the prediction's type (class labels are one-hot for cross_entropy)
LOSSES: dict[str, Callable] = {"mse": _mse, "cross_entropy": _cross_entropy,
                               "binary_cross_entropy": _binary_cross_entropy}


# -- optimisers: update lenses on (P, S) given the gradient -----------------------------------
@dataclass(frozen=True)
class Optimizer:
    """``state(t)`` lists the state tensors of a parameter of type ``t`` (with
    initial values), ``shared`` the state shared by all parameters, and
    ``update(g, p, s, grad, shared, **hp) -> (p', s')`` is the update lens."""

    name: str
    state: Callable
    shared: tuple
    update: Callable
    shared_update: Callable | None = None


def _sgd(g, p, s, grad, shared, lr):
    return g.sub(p, g.mul(grad, lr)), []


def _momentum(g, p, s, grad, shared, lr, beta):
    v = g.add(g.mul(s[0], beta), grad)
    return g.sub(p, g.mul(v, lr)), [v]


def _nesterov(g, p, s, grad, shared, lr, beta):
    v = g.add(g.mul(s[0], beta), grad)
    return g.sub(p, g.mul(g.add(grad, g.mul(v, beta)), lr)), [v]


def _adam(g, p, s, grad, shared, lr, beta1, beta2, eps):
    c1, c2 = shared  # β₁ᵗ and β₂ᵗ after this step
    m = g.add(g.mul(s[0], beta1), g.mul(grad, 1.0 - beta1))
    v = g.add(g.mul(s[1], beta2), g.mul(g.square(grad), 1.0 - beta2))
    m_hat = g.div(m, g.sub(1.0, c1))
    v_hat = g.div(v, g.sub(1.0, c2))
    return g.sub(p, g.mul(g.div(m_hat, g.add(g.sqrt(v_hat), eps)), lr)), [m, v]


def _adam_shared(g, shared, lr, beta1, beta2, eps):
    return [g.mul(shared[0], beta1), g.mul(shared[1], beta2)]


_SCALAR = TensorType("R")
OPTIMIZERS: dict[str, Optimizer] = {
    "sgd": Optimizer("sgd", lambda t: [], (), _sgd),
    "momentum": Optimizer("momentum", lambda t: [(t, 0.0)], (), _momentum),
    "nesterov": Optimizer("nesterov", lambda t: [(t, 0.0)], (), _nesterov),
    "adam": Optimizer("adam", lambda t: [(t, 0.0), (t, 0.0)], ((_SCALAR, 1.0), (_SCALAR, 1.0)), _adam,
                      _adam_shared),
}


@dataclass
class TrainingStep:
    """One training step and the layout of its wires: either the single closed
    diagram (``split`` None), or the objective compiled as a lens or an optic —
    a forward pass, a backward pass — and the optimiser's ``update``
    ``P ⊗ S ⊗ P' → P ⊗ S``, run one after the other."""

    diagram: Diagram
    objective: Diagram  # the batch's loss, a Para morphism X ⊗ T → R with the model's parameters
    params: list  # parameter names, in the step's order
    state: list  # (shape, initial value) of each optimiser state tensor
    batch: int
    split: object = None  # a lens.Split of the objective
    update: Diagram | None = None

    def initial_state(self) -> list[np.ndarray]:
        return [np.full(tuple(shape), value, dtype=float) for shape, value in self.state]

    def __call__(self, params: dict, state: list, x, t, evaluate) -> tuple[dict, list, float]:
        k = len(self.params)
        if self.split is None:
            outs = evaluate(self.diagram, [params[n] for n in self.params] + list(state) + [x, t])
            return dict(zip(self.params, outs[:k])), outs[k:-1], float(outs[-1])
        forward = evaluate(self.split.forward, [x, t], params)
        value, residuals = forward[0], forward[1:]
        grads = evaluate(self.split.backward, residuals + [np.ones(())], params)[2:]
        outs = evaluate(self.update, [params[n] for n in self.params] + list(state) + grads)
        return dict(zip(self.params, outs[:k])), outs[k:], float(value)


def objective(model: Diagram, loss: str, batch: int) -> Diagram:
    """``X ⊗ T → R``: the mean loss of the model over a batch (a Para morphism)."""
    if loss not in LOSSES:
        raise CatError(f"unknown loss `{loss}`", hint=f"one of {', '.join(LOSSES)}")
    if len(model.dom) != 1 or len(model.cod) != 1:
        raise CatError(f"a trained model has one input and one output; {model!r} has {model.type}")
    (x_type,), (y_type,) = model.dom, model.cod
    b = Builder()
    g = Emitter(b)
    x, t = b.input(x_type.batched((batch,))), b.input(y_type.batched((batch,)))
    (y,) = b.splice(model, [x])
    per_example = LOSSES[loss](g, y, t, y_type.rank)
    total = g.sum_leading(per_example, axes=1, keep=0)
    return b.finish([g.mul(total, 1.0 / batch)], f"loss[{model.name}]")


def training_step(model: Diagram, loss: str, optimizer: tuple, batch: int,
                  strategy: str | None = None) -> TrainingStep:
    """The training step for `model` with `loss` and `optimizer` (``(name,
    sorted kwargs)``, as a learner declaration gives them): one closed diagram,
    or with a `strategy` (``lens`` or ``optic``) separate forward, backward and
    update passes."""
    name, kwargs = optimizer
    opt = OPTIMIZERS[name]
    f = objective(model, loss, batch)
    param_types = [f.types[p.wire] for p in f.params]
    state_layout = [(t.shape, v) for p in param_types for t, v in opt.state(p)]
    state_layout += [(t.shape, v) for t, v in opt.shared]
    names = [p.name for p in f.params]
    update = _update(opt, dict(kwargs), param_types, names)
    b = Builder()
    params = [b.input(t) for t in param_types]
    state = [b.input(TensorType("R", tuple(shape))) for shape, _ in state_layout]
    x, t = (b.input(ty) for ty in f.dom)
    (value,) = _fenced(b, f.name, lambda: b.splice(uncurry(f), params + [x, t]))
    grads = _fenced(b, f"R[{f.name}]", lambda: b.splice(uncurry(reverse(f)), params + [x, t, b.const(1.0)])[2:])
    outs = b.splice(update, params + state + grads) + [value]
    step = b.finish(outs, f"step[{model.name}]").normal_form()
    split = compile_split(f, strategy) if strategy is not None else None
    return TrainingStep(step, f, names, state_layout, batch, split, update if split else None)


def _fenced(b: Builder, name: str, build):
    """What `build` adds to `b`, in a frame called `name` (one fence when drawn)."""
    prev = b.enter(name)
    try:
        return build()
    finally:
        b.scope = prev


def _update(opt: Optimizer, hp: dict, param_types: list, names: list) -> Diagram:
    """The optimiser's lens as a diagram ``P ⊗ S ⊗ P' → P ⊗ S`` (the state: each
    parameter's slots in turn, then the shared ones), a frame per parameter."""
    b = Builder()
    g = Emitter(b)
    params = [b.input(t) for t in param_types]
    per_param = [[b.input(t) for t, _ in opt.state(p.type)] for p in params]
    shared = [b.input(t) for t, _ in opt.shared]
    grads = [b.input(t) for t in param_types]
    if opt.shared_update is not None:
        shared = _fenced(b, f"{opt.name} (shared)", lambda: opt.shared_update(g, shared, **hp))
    new_params, new_state = [], []
    for name, p, s, grad in zip(names, params, per_param, grads):
        p2, s2 = _fenced(b, f"{opt.name} {name}", lambda: opt.update(g, p, s, grad, shared, **hp))
        new_params.append(p2)
        new_state += s2
    return b.finish(new_params + new_state + list(shared), f"update[{opt.name}]")


def backprop_learner(d: Diagram, eps: float) -> tuple[Diagram, Diagram, Diagram]:
    """The learner ``(P, I, U, r)`` of a Para morphism by gradient descent on the
    quadratic error ``E(p, a, b) = ½‖I(p, a) − b‖²`` with step `eps`
    (Fong, Spivak and Tuyéras, "Backprop as functor"):

    * ``I : P ⊗ A → B`` — the morphism itself;
    * ``U : P ⊗ A ⊗ B → P``, ``U(p, a, b) = p − ε ∇_p E(p, a, b)``;
    * ``r : P ⊗ A ⊗ B → A``, ``r(p, a, b) = a − ∇_a E(p, a, b)``.
    """
    implement = uncurry(d)
    b = Builder()
    g = Emitter(b)
    ps = [b.input(d.types[p.wire]) for p in d.params]
    xs = [b.input(t) for t in d.dom]
    targets = [b.input(t) for t in d.cod]
    ys = b.splice(implement, ps + xs)
    errors = [g.sub(y, t) for y, t in zip(ys, targets)]  # ∂E/∂y for E = ½‖y − t‖²
    grads = b.splice(uncurry(reverse(d)), ps + xs + errors)  # (∇_a E, ∇_p E)
    grad_a, grad_p = grads[:len(xs)], grads[len(xs):]
    new_p = [g.sub(p, g.mul(gp, eps)) for p, gp in zip(ps, grad_p)]
    new_a = [g.sub(x, ga) for x, ga in zip(xs, grad_a)]
    update = dead_code_elimination(b.finish(new_p, f"U[{d.name}]"))
    request = dead_code_elimination(b.finish(new_a, f"r[{d.name}]"))
    return implement, update, request
