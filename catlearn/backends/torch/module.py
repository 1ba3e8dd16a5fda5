"""Compiled diagrams as ``torch.nn.Module``\\ s.

The parameters are ``nn.Parameter``\\ s named as in the `.cat` source
(``dense.W`` is the parameter ``W`` of a submodule ``dense``), so
``state_dict`` keys are the diagram's parameter names.  Two gradient modes
agree: ``autograd`` (torch differentiates the compiled forward pass) and
``rd`` (a ``torch.autograd.Function`` whose backward is the compiled reverse
derivative diagram, as a lens or an optic).

>>> import torch, catlearn
>>> module = compile_module(catlearn.load("models/digits_mlp.cat")["mlp"])
>>> sorted(module.state_dict())
['dense.W', 'dense.b', 'dense_1.W', 'dense_1.b']
>>> module(torch.zeros(5, 64)).shape
torch.Size([5, 10])
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...core.diagram import Diagram
from ...core.errors import CatError
from ...semantics.lens import compile_split
from ..numpy.interpreter import init_params
from .codegen import compile_source, generate

GRADIENTS = ("autograd", "rd")


class _Holder(nn.Module):
    """A plain container giving dotted parameter names their submodules."""


class _Reverse(torch.autograd.Function):
    """Forward by the compiled forward pass (keeping residuals), backward by the
    compiled reverse-derivative diagram."""

    @staticmethod
    def forward(ctx, module, *tensors):
        k = len(module.parameter_names)
        outs = module._forward_pass(*tensors)
        n = module._n_outputs
        ctx.module = module
        ctx.save_for_backward(*tensors[:k], *outs[n:])
        return tuple(outs[:n])

    @staticmethod
    def backward(ctx, *grads):
        module = ctx.module
        k = len(module.parameter_names)
        saved = ctx.saved_tensors
        result = module._backward_pass(*saved[:k], *saved[k:], *grads)
        n_in = module._n_inputs
        return (None, *result[n_in:], *result[:n_in])


class CatModule(nn.Module):
    """A diagram compiled to a torch module (see the module docstring)."""

    def __init__(self, diagram: Diagram, gradient: str = "autograd", strategy: str = "optic",
                 dtype: torch.dtype = torch.float32, seed: int = 0):
        super().__init__()
        if gradient not in GRADIENTS:
            raise CatError(f"unknown gradient mode `{gradient}`", expected=" or ".join(GRADIENTS), found=gradient)
        self.diagram = diagram
        self.gradient = gradient
        self.strategy = strategy
        self.parameter_names = [p.name for p in diagram.params]
        self._slots = []  # (owner submodule, attribute) of each parameter, in the diagram's order
        initial = init_params(diagram, seed)
        for name in self.parameter_names:
            owner, leaf = self._owner(name), name.rsplit(".", 1)[-1]
            owner.register_parameter(leaf, nn.Parameter(torch.as_tensor(np.asarray(initial[name]), dtype=dtype)))
            self._slots.append((owner, leaf))
        self.source = generate(diagram, "forward")
        self._forward = compile_source(self.source, "forward")
        self._n_inputs, self._n_outputs = len(diagram.dom), len(diagram.cod)
        if gradient == "rd":
            split = compile_split(diagram, strategy)
            self.forward_source = generate(split.forward, "forward_pass")
            self.backward_source = generate(split.backward, "backward_pass")
            self._forward_pass = compile_source(self.forward_source, "forward_pass")
            self._backward_pass = compile_source(self.backward_source, "backward_pass")

    def _owner(self, name: str) -> nn.Module:
        module: nn.Module = self
        for part in name.split(".")[:-1]:
            if part not in module._modules:
                module.add_module(part, _Holder())
            module = module._modules[part]
        return module

    def forward(self, *inputs):
        if len(inputs) != self._n_inputs:
            raise TypeError(f"{self.diagram.name or 'the model'} takes {self._n_inputs} input(s), given {len(inputs)}")
        params = [getattr(owner, leaf) for owner, leaf in self._slots]  # (functional_call may swap them)
        if self.gradient == "rd":
            outs = _Reverse.apply(self, *params, *inputs)
        else:
            outs = self._forward(*params, *inputs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    @property
    def code(self) -> str:
        """The generated Python source (forward; and backward in ``rd`` mode)."""
        if self.gradient == "rd":
            return "\n\n".join([self.forward_source, self.backward_source])
        return self.source

    def extra_repr(self) -> str:
        return f"{self.diagram.name or 'diagram'} : {self.diagram.type}, gradient={self.gradient}" + \
            (f", strategy={self.strategy}" if self.gradient == "rd" else "")


def compile_module(diagram: Diagram, gradient: str = "autograd", **options) -> CatModule:
    """``CatModule(diagram, gradient, …)``: a diagram as a ``torch.nn.Module``."""
    return CatModule(diagram, gradient, **options)
