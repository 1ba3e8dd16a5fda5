"""The PyTorch backend: diagrams compiled to Python source over torch, wrapped
as ``torch.nn.Module``\\ s."""
from .codegen import generate
from .module import CatModule, compile_module

__all__ = ["CatModule", "compile_module", "generate"]
