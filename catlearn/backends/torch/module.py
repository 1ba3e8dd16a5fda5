"""Compiled diagrams as ``torch.nn.Module``\\ s.

The parameters are ``nn.Parameter``\\ s named as in the `.cat` source
(``dense.W`` is the parameter ``W`` of a submodule ``dense``), so
``state_dict`` keys are the diagram's parameter names.  Two gradient modes
agree: ``autograd`` (torch differentiates the compiled forward pass) and
``rd`` (a ``torch.autograd.Function`` whose backward is the compiled reverse
derivative diagram, as a lens or an optic).  Both work under ``torch.compile``
and torch.func's transforms (``functional_call``, ``grad``, ``vjp``, ``vmap``,
``jacrev``, per-example gradients).

>>> import torch, catlearn
>>> module = compile_module(catlearn.load("models/digits_mlp.cat")["mlp"])
>>> sorted(module.state_dict())
['dense.W', 'dense.b', 'dense_1.W', 'dense_1.b']
>>> module(torch.zeros(5, 64)).shape
torch.Size([5, 10])
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from ...core.batching import batch_shapes, batched
from ...core.check import checked
from ...core.diagram import Diagram
from ...core.errors import CatError
from ..dtypes import require_real_arithmetic
from ...core.passes import dead_code_elimination
from ...semantics.lens import DEFAULT_STRATEGY, STRATEGIES, compile_split
from ..numpy.interpreter import init_params
from .codegen import compile_source, generate
from .fuse import fuse, fuse_split

GRADIENTS = ("autograd", "rd")
MAX_LAYOUTS = 16  # a module keeps the code of this many batch layouts


class _Holder(nn.Module):
    """A plain container giving dotted parameter names their submodules."""


class _Passes:
    """The compiled lens (or optic) of a diagram for one batch layout: the
    forward pass, and a backward pass for each set of cotangents asked for
    (what autograd does not need is not computed, nor kept for it)."""

    def __init__(self, d: Diagram, strategy: str):
        split = compile_split(d, strategy)
        self.n_inputs, self.n_outputs, self.n_params = len(d.dom), len(d.cod), len(d.params)
        forward, self.backward_diagram = fuse_split(split.forward, split.backward, self.n_outputs)
        self.forward_diagram = fuse(forward)
        self.forward_source = generate(self.forward_diagram, "forward_pass", shapes=True)
        self.forward = compile_source(self.forward_source, "forward_pass")
        self._backward: dict = {}

    def backward(self, needs: tuple) -> tuple:
        """``(function, reads, slots)`` for the cotangents of the inputs, then the
        parameters, for which `needs` is true: the function takes the
        parameters and residuals numbered `reads`, then the outputs'
        cotangents, and its results go to the positions `slots` of what
        ``torch.autograd.Function.backward`` returns."""
        found = self._backward.get(needs)
        return found if found is not None else self._compile_backward(needs)

    @torch.compiler.disable  # generating code is not for torch.compile to trace
    def _compile_backward(self, needs: tuple) -> tuple:
        d = self.backward_diagram
        residuals, cotangents = d.inputs[:len(d.inputs) - self.n_outputs], d.inputs[len(d.inputs) - self.n_outputs:]
        wanted = tuple(w for w, need in zip(d.outputs, needs) if need)
        pruned = dead_code_elimination(replace(d, outputs=wanted, _cache={}))
        read = {i for op in pruned.ops for i in op.inputs} | set(wanted)
        params = tuple(p for p in d.params if p.wire in read)
        kept = tuple(w for w in residuals if w in read)
        saved = [p.wire for p in d.params] + list(residuals)
        pruned = checked(replace(pruned, params=params, inputs=kept + cotangents, _cache={}), "the backward pass's pruning")
        k = self.n_params
        slots = [1 + (k + j if j < self.n_inputs else j - self.n_inputs) for j, need in enumerate(needs) if need]
        source = generate(fuse(pruned), "backward_pass", shapes=True)
        self._backward[needs] = (compile_source(source, "backward_pass"),
                                 [saved.index(w) for w in [p.wire for p in params] + list(kept)], slots)
        return self._backward[needs]


class _Reverse(torch.autograd.Function):
    """Forward by the compiled forward pass, keeping the residuals the backward
    pass will read; backward by the compiled reverse-derivative diagram."""

    @staticmethod
    def forward(ctx, passes, *tensors):
        outs = passes.forward(*tensors)
        _keep(ctx, passes, tensors, outs[passes.n_outputs:])
        return tuple(outs[:passes.n_outputs])

    @staticmethod
    def backward(ctx, *grads):
        return _cotangents(ctx, grads)


def _keep(ctx, passes, tensors, residuals) -> None:
    """Save what the backward pass for the cotangents autograd asks for reads."""
    k = passes.n_params
    needs = ctx.needs_input_grad[k + 1:] + ctx.needs_input_grad[1:k + 1]
    if any(needs):
        function, reads, slots = passes.backward(needs)
        kept = (*tensors[:k], *residuals)
        ctx.save_for_backward(*(kept[i] for i in reads))
        ctx.backward_pass = function, slots, 1 + len(tensors), passes.n_outputs


def _cotangents(ctx, grads) -> tuple:
    """The backward pass on the outputs' cotangents, its results in their places among the Function's inputs."""
    function, slots, size, n = ctx.backward_pass
    cotangents = [None] * size
    for slot, value in zip(slots, function(*ctx.saved_tensors, *grads[:n])):
        cotangents[slot] = value
    return tuple(cotangents)


class _ReverseUnderTransforms(torch.autograd.Function):
    """`_Reverse` as torch.func's transforms need it, with ``forward`` and
    ``setup_context`` apart: the residuals leave the forward pass as outputs
    without gradients (an input kept as a residual leaves as a view of it), and
    ``vmap`` batches both passes as they are."""

    generate_vmap_rule = True

    @staticmethod
    def forward(passes, *tensors):
        inputs = {id(t) for t in tensors}
        return tuple(o.view_as(o) if id(o) in inputs else o for o in passes.forward(*tensors))

    @staticmethod
    def setup_context(ctx, inputs, output):
        passes, residuals = inputs[0], output[inputs[0].n_outputs:]
        ctx.mark_non_differentiable(*residuals)
        _keep(ctx, passes, inputs[1:], residuals)

    @staticmethod
    def backward(ctx, *grads):
        return _cotangents(ctx, grads)


_apply_in_cpp = super(torch.autograd.Function, _Reverse).apply  # what Function.apply calls in the end


def _reverse(passes, *tensors) -> tuple:
    """The model's outputs, differentiated by its compiled reverse derivative:
    ``_Reverse.apply`` straight in torch's C++ (``Function.apply``'s Python
    part, about 5 µs of a training step, is for torch.func's transforms),
    `_ReverseUnderTransforms` under a transform."""
    if torch._C._are_functorch_transforms_active():
        return _ReverseUnderTransforms.apply(passes, *tensors)[:passes.n_outputs]
    return _apply_in_cpp(passes, *tensors)


class CatModule(nn.Module):
    """A diagram compiled to a torch module (see the module docstring).

    Inputs may carry leading batch axes: the module then runs the diagram's
    ``vmap`` (``batched``), compiled for that batch layout on first use.  In
    ``rd`` mode its reverse derivative sums the parameters' cotangents over the
    batch in its own contractions."""

    def __init__(self, diagram: Diagram, gradient: str = "autograd", strategy: str = DEFAULT_STRATEGY,
                 dtype: torch.dtype = torch.float32, seed: int = 0):
        super().__init__()
        if gradient not in GRADIENTS:
            raise CatError(f"unknown gradient mode `{gradient}`", expected=" or ".join(GRADIENTS), found=gradient)
        if strategy not in STRATEGIES:
            raise CatError(f"unknown strategy `{strategy}`", expected=" or ".join(STRATEGIES), found=strategy)
        require_real_arithmetic(diagram, "torch backend")
        self.diagram = diagram
        self.gradient = gradient
        self.strategy = strategy
        self.dtype = dtype
        self.parameter_names = [p.name for p in diagram.params]
        self._slots = []  # (owner submodule, attribute) of each parameter, in the diagram's order
        initial = init_params(diagram, seed)
        for name in self.parameter_names:
            owner, leaf = self._owner(name), name.rsplit(".", 1)[-1]
            owner.register_parameter(leaf, nn.Parameter(torch.as_tensor(np.asarray(initial[name]), dtype=dtype)))
            self._slots.append((owner, leaf))
        self._n_inputs, self._n_outputs = len(diagram.dom), len(diagram.cod)
        generate(fuse(diagram), "forward")  # what torch cannot run is a CatError here, at its box, not at a first call
        self._layouts: dict = {}  # the inputs' shapes -> the forward function (autograd) or _Passes (rd)

    def _owner(self, name: str) -> nn.Module:
        module: nn.Module = self
        for part in name.split(".")[:-1]:
            if part not in module._modules:
                module.add_module(part, _Holder())
            module = module._modules[part]
        return module

    def forward(self, *inputs):
        # functional_call swaps tensors into _parameters; a parametrization replaces the attribute
        params = [owner._parameters[leaf] if leaf in owner._parameters else getattr(owner, leaf)
                  for owner, leaf in self._slots]
        try:  # compiled for this number of inputs, these shapes
            compiled = self._layouts[tuple([x.shape for x in inputs])]
        except (KeyError, AttributeError):
            compiled = self._layout(inputs)
        if not params and not inputs:  # a constant, made in the module's dtype
            outs = compiled(torch.empty((), dtype=self.dtype))
        elif self.gradient == "rd":
            outs = _reverse(compiled, *params, *inputs)
        else:
            outs = compiled(*params, *inputs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _batches(self, inputs) -> tuple:
        """The leading batch axes of each input (in front of its declared type)."""
        if len(inputs) != self._n_inputs:
            raise TypeError(f"{self.diagram.name or 'the model'} takes {self._n_inputs} input(s), given {len(inputs)}")
        for x in inputs:
            if not torch.is_tensor(x):
                raise TypeError(f"{self.diagram.name or 'the model'} takes tensors, given {type(x).__name__}")
        return batch_shapes(self.diagram, [tuple(x.shape) for x in inputs])

    @torch.compiler.disable  # generating code is not for torch.compile to trace
    def _layout(self, inputs):
        """The code for inputs of these shapes, compiled for their batch axes
        (on first use; ``forward`` looks it up itself first)."""
        d = batched(self.diagram, self._batches(inputs))
        if self.gradient == "rd" and (inputs or d.params):
            compiled = _Passes(d, self.strategy)
        else:
            compiled = compile_source(generate(fuse(d), "forward", shapes=True), "forward")
        if len(self._layouts) >= MAX_LAYOUTS:  # forget the oldest layout
            del self._layouts[next(iter(self._layouts))]
        self._layouts[tuple([x.shape for x in inputs])] = compiled
        return compiled

    @property
    def code(self) -> str:
        """The generated Python source, as compiled for a batch of 32 on every
        input: the forward function, or in ``rd`` mode the lens passes."""
        d = batched(self.diagram, ((32,),) * self._n_inputs)
        if self.gradient == "rd" and (self._n_inputs or d.params):
            passes = _Passes(d, self.strategy)
            backward = generate(fuse(passes.backward_diagram), "backward_pass", shapes=True)
            return "\n\n".join([passes.forward_source, backward])
        return generate(fuse(d), "forward", shapes=True)

    def extra_repr(self) -> str:
        return f"{self.diagram.name or 'diagram'} : {self.diagram.type}, gradient={self.gradient}" + \
            (f", strategy={self.strategy}" if self.gradient == "rd" else "")


def compile_module(diagram: Diagram, gradient: str = "autograd", **options) -> CatModule:
    """``CatModule(diagram, gradient, …)``: a diagram as a ``torch.nn.Module``."""
    return CatModule(diagram, gradient, **options)
