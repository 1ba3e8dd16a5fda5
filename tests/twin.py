"""An oracle sharing no code with catlearn: a diagram's twin, each box written
here directly in torch for one example (the model's own types, NumPy-style
broadcasting inside the model), so that torch.func's ``vmap``, ``vjp`` and
``jvp`` give what a batch, a reverse derivative and a forward derivative must
be.  Selections give the whole derivative to the first selected entry (the
convention of docs/language.md), written here with argmax/argmin."""
import torch
from torch.nn import functional as F


def _permute(x, spec):
    src, dst = (part.split() for part in spec.split("->"))
    lead = x.dim() - len(src)
    return x.permute(*range(lead), *(lead + src.index(w) for w in dst))


def _first(x, pick):
    return torch.take_along_dim(x, pick(x, -1, keepdim=True), -1)[..., 0]


def _images(fn, x, size):
    """A 2-d pooling of (…, c, h, w) as torch's of (n, c, h, w)."""
    lead = x.shape[:-3]
    out = fn(x.reshape(-1, *x.shape[-3:]), size)
    return out.reshape(*lead, *out.shape[1:])


def _sum_leading(x, axes, keep):
    return x.sum(dim=tuple(range(x.dim() - axes - keep, x.dim() - keep))) if axes else x


def _repeat_leading(x, shape, keep):
    lead, tail = x.shape[:x.dim() - keep], x.shape[x.dim() - keep:]
    return x.reshape((*lead, *(1,) * len(shape), *tail)).expand((*lead, *shape, *tail))


def _einsum(*xs, spec):
    ins, out = spec.replace(" ", "").split("->")
    return torch.einsum(",".join("..." + s for s in ins.split(",")) + "->..." + out, *xs)


def _concat(x, y):
    lead = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    return torch.cat([x.expand(*lead, x.shape[-1]), y.expand(*lead, y.shape[-1])], -1)


TWINS = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "neg": lambda x: -x,
    "square": lambda x: x * x,
    "exp": torch.exp,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "sin": torch.sin,
    "cos": torch.cos,
    "relu": torch.relu,
    "softplus": F.softplus,
    "maximum": lambda x, y: torch.where(x >= y, x, y),
    "minimum": lambda x, y: torch.where(x <= y, x, y),
    "sum": lambda x: x.sum(-1),
    "mean": lambda x: x.mean(-1),
    "max": lambda x: _first(x, torch.argmax),
    "min": lambda x: _first(x, torch.argmin),
    "logsumexp": lambda x: torch.logsumexp(x, -1),
    "dot": lambda x, y: (x * y).sum(-1),
    "broadcast": lambda x, n: x.unsqueeze(-1).expand(*x.shape, n),
    "index": lambda x, i: x[..., i],
    "slice": lambda x, start, stop: x[..., start:stop],
    "pad": lambda x, before, after: F.pad(x, (before, after)),
    "concat": _concat,
    "transpose": lambda x: x.transpose(-1, -2),
    "rearrange": _permute,
    "reshape": lambda x, shape, axes=1: x.reshape((*x.shape[:x.dim() - axes], *shape)),
    "flatten": lambda x: x.flatten(-2),
    "sum_leading": _sum_leading,
    "repeat_leading": _repeat_leading,
    "matvec": lambda w, x: _einsum(w, x, spec="mn,n->m"),
    "matmul": torch.matmul,
    "outer": lambda x, y: _einsum(x, y, spec="n,m->nm"),
    "einsum": _einsum,
    "softmax": lambda x: torch.softmax(x, -1),
    "log_softmax": lambda x: torch.log_softmax(x, -1),
    "layernorm": lambda x, eps=1e-5: F.layer_norm(x, x.shape[-1:], eps=eps),
    "maxpool2d": lambda x, size=2: _images(F.max_pool2d, x, size),
    "avgpool2d": lambda x, size=2: _images(F.avg_pool2d, x, size),
}
CONSTANTS = {"const": lambda value, dtype: torch.tensor(float(value), dtype=torch.float64),
             "zeros": lambda shape, dtype: torch.zeros(tuple(shape), dtype=torch.float64),
             "ones": lambda shape, dtype: torch.ones(tuple(shape), dtype=torch.float64)}


def twin(d):
    """``f(params, inputs) -> outputs`` for one example of model-level `d` (parameters in d.params order)."""
    def f(params, inputs):
        values = dict(zip(d.inputs, inputs))
        values.update((p.wire, v) for p, v in zip(d.params, params))
        for op in d.ops:
            if op.prim.name in CONSTANTS:
                out = CONSTANTS[op.prim.name](**op.attr)
            else:
                out = TWINS[op.prim.name](*(values[i] for i in op.inputs), **op.attr)
            values[op.outputs[0]] = out
        return [values[w] for w in d.outputs]
    return f


def over(fn, batch_rank: int, in_dims):
    """`fn` mapped over `batch_rank` leading batch axes (torch.func.vmap, nested)."""
    for _ in range(batch_rank):
        fn = torch.func.vmap(fn, in_dims=in_dims)
    return fn
