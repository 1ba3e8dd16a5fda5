"""Sequences on torch: a ``scan`` box as a loop over compiled steps.

The code generator writes, for each ``scan`` box, its body's Mealy step
``φ : X ⊗ C ⊗ S → Y ⊗ S``, the same step returning the residuals ``r`` its
reverse derivative reads, and the cotangent part of ``R[φ]`` on them
(:mod:`catlearn.semantics.residuals`), as functions, once; a :class:`Scan`
runs them along the time axis, so nothing is traced again per step.

Its derivative is backpropagation through time, run backwards in time:
``(dxₜ, dc, dsₜ) = R'(rₜ, c, dyₜ, dsₜ₊₁)``, the constants' (and parameters')
cotangents summed over the steps.  Two memory strategies:

* ``checkpoint=0`` keeps every step's residuals from the forward pass;
* ``checkpoint=k`` keeps every k-th state, and recomputes a segment's k
  steps, with their residuals, from its checkpoint before going back through
  it: ``T/k`` states and ``k`` steps' residuals.

Backpropagation through time is differentiable once (its kept states carry
no graph): asked for a graph of its gradient it raises a CatError, as the
``rd`` mode's reverse derivative is differentiable again.  Under torch.func's
transforms the loop runs as plain torch operations, which they differentiate.

An affine recurrence ``sₜ₊₁ = aₜ sₜ + bₜ`` (linear attention, S4D, gated
variants) runs instead in its chunked parallel form, a prefix scan within
chunks of :data:`CHUNK` steps and across them, which torch differentiates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ...core.errors import CatError


@dataclass(frozen=True, eq=False)
class Scan:
    """A compiled ``scan`` box: ``step(x…, c…, s…) -> (y…, s'…)``, the same
    step also returning the residuals its reverse derivative reads,
    ``step_residuals(x…, c…, s…) -> (y…, s'…, r…)``
    (:mod:`catlearn.semantics.residuals`), and ``R[φ]``'s cotangent part
    ``back(r…, c…, dy…, ds'…) -> (dx…, dc…, ds…)``, with the layout of its
    sequences (time axis of each input and output) and its states' initial
    values ``(shape, value)``."""

    step: Callable
    step_residuals: Callable
    back: Callable
    n_inputs: int
    states: tuple
    times: tuple
    out_times: tuple
    out_shapes: tuple
    checkpoint: int = 0
    parallel: tuple | None = None  # (coefficients, outputs, pairs) of an affine recurrence
    hoisted: dict | None = None  # block length → (π, R[π]) on a block of steps at once, time first
    loop_consts: tuple | None = None  # the constants the step reads, by index (None: all)

    def __call__(self, *tensors):
        if self.parallel is not None:
            return self.prefix_scan(tensors)
        if torch._C._are_functorch_transforms_active():  # torch.func differentiates the loop itself
            return self.run(tensors, stacked=True)[0]
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return _BackpropagationThroughTime.apply(self, *tensors)
        return self.run(tensors)[0]

    def prefix_scan(self, tensors) -> tuple:
        """An affine recurrence ``sₜ₊₁ = aₜ ⊙ sₜ + bₜ`` (over several states,
        a matrix of elementwise coefficients) in its chunked parallel form
        (:func:`_affine_states`), then the outputs at every step at once;
        torch differentiates it."""
        coefficients, outputs, pairs = self.parallel
        seqs = [x.movedim(k, 0) for x, k in zip(tensors[:self.n_inputs], self.times)]
        consts = tensors[self.n_inputs:]
        length = seqs[0].shape[0]
        shapes = [shape for shape, _ in self.states]
        values = [v if v.dim() > len(shapes[i]) else v.expand(length, *v.shape)  # constant in time
                  for v, i in zip(coefficients(*seqs, *consts), [i for i, _ in pairs] + list(range(len(shapes))))]
        k = len(self.states)
        a = [[None] * k for _ in range(k)]
        for (i, j), value in zip(pairs, values):
            a[i][j] = value
        s0 = self.initial(seqs[0])
        after = _affine_states(a, list(values[len(pairs):]), s0)  # s₁ … s_T
        before = [torch.cat([s.expand(later.shape[1:]).unsqueeze(0), later[:-1]]) for s, later in zip(s0, after)]
        return tuple(y.movedim(0, t) for y, t in zip(outputs(*seqs, *consts, *before), self.out_times))

    def reverse(self, *tensors):
        """``R[scan]``: the cotangents of the sequences and constants given
        theirs and the outputs' cotangents, recomputing the forward pass for
        its residuals (a lens)."""
        k = len(tensors) - len(self.out_times)
        kept = self.run(tensors[:k], self.checkpoint or None, outputs=False, residuals=not self.checkpoint)[1]
        return self.backward(tensors[:k], tensors[k:], kept)

    def initial(self, like: torch.Tensor) -> list:
        return [torch.full(shape, value, dtype=like.dtype, device=like.device) for shape, value in self.states]

    def length(self, tensors) -> int:
        return tensors[0].shape[self.times[0]]

    def hidden(self, tensors, start: int, stop: int) -> list:
        """The step inputs of the steps ``start … stop − 1``, time first: the
        sequences' slices, or the hoisted part π on all of those steps at once."""
        seqs, consts = tensors[:self.n_inputs], tensors[self.n_inputs:]
        block = [x.narrow(k, start, stop - start).movedim(k, 0) for x, k in zip(seqs, self.times)]
        return block if self.hoisted is None else list(self.hoisted[stop - start][0](*block, *consts))

    def run(self, tensors, keep: int | None = None, start: int = 0, stop: int | None = None, states=None,
            outputs: bool = True, stacked: bool = False, residuals: bool = False):
        """``(outputs, kept)``: the steps ``start … stop − 1`` from `states`
        (the initial ones by default), keeping the states of the steps that
        are multiples of `keep` (none where `keep` is None), or with
        `residuals` every step's residuals; the outputs are None where not
        asked for, written in place into one tensor each, or `stacked` at the
        end (for a caller differentiating the loop itself)."""
        seqs, consts = tensors[:self.n_inputs], tensors[self.n_inputs:]
        states = self.initial(seqs[0]) if states is None else states
        stop = self.length(tensors) if stop is None else stop
        n_out, n_states = len(self.out_times), len(self.states)
        step = self.step_residuals if residuals else self.step
        ys: list = [None] * (stop - start if stacked else n_out)  # each step's outputs, or each output
        kept = []
        for block, end in _blocks(start, stop):
            hidden = self.hidden(tensors, block, end)
            for t in range(block, end):
                if keep is not None and (t - start) % keep == 0:
                    kept.append(states)
                outs = step(*[h[t - block] for h in hidden], *self.read(consts), *states)
                if residuals:
                    kept.append(outs[n_out + n_states:])
                if stacked:
                    ys[t - start] = outs[:n_out]
                elif outputs:
                    if t == start:
                        ys = [_sequence_of(value, shape, k, stop - start)
                              for value, shape, k in zip(outs, self.out_shapes, self.out_times)]
                    for y, value, k in zip(ys, outs, self.out_times):
                        y.select(k, t - start).copy_(value)
                states = list(outs[n_out:n_out + n_states])
        if not outputs:
            return None, kept
        if stop == start:
            like = seqs[0]
            return tuple(like.new_zeros(shape) for shape in self.out_shapes), kept
        if stacked:
            return tuple(torch.stack(y, dim=k) for y, k in zip(zip(*ys), self.out_times)), kept
        return tuple(ys), kept

    def backward(self, tensors, cotangents, kept: list) -> tuple:
        """The cotangents of the sequences and constants, given the outputs'
        and what :meth:`run` kept (every step's residuals, or every
        ``checkpoint``-th state): a checkpoint's segment at a time, its
        residuals recomputed, within it :data:`BLOCK` steps at a time."""
        seqs, consts = tensors[:self.n_inputs], tensors[self.n_inputs:]
        T, n_states = self.length(tensors), len(self.states)
        ds = [torch.zeros_like(s) for s in self.initial(seqs[0])]
        dpre = [torch.zeros_like(c) for c in consts]  # through the hoisted part
        loop_consts = self.read(consts)
        dc = [torch.zeros_like(c) for c in loop_consts]
        dseqs = [torch.zeros_like(x) for x in seqs]  # written a block at a time
        for segment, end in reversed(_segments(T, self.checkpoint)):
            saved = (kept[segment:end] if not self.checkpoint else
                     self.run(tensors, None, segment, end, kept[segment // self.checkpoint], outputs=False,
                              residuals=True)[1])
            for start, stop in reversed(_blocks(segment, end)):
                dh: list = []
                for t in reversed(range(start, stop)):
                    outs = self.back(*saved[t - segment], *loop_consts,
                                     *[dy.select(k, t) for dy, k in zip(cotangents, self.out_times)], *ds)
                    n_h = len(outs) - len(loop_consts) - n_states
                    dh.append(outs[:n_h])
                    dc = [a + b for a, b in zip(dc, outs[n_h:n_h + len(loop_consts)])]
                    ds = list(outs[n_h + len(loop_consts):])
                dh = [torch.stack(d[::-1]) for d in zip(*dh)]
                if self.hoisted is not None:
                    block = [x.narrow(k, start, stop - start).movedim(k, 0) for x, k in zip(seqs, self.times)]
                    back = self.hoisted[stop - start][1](*block, *consts, *dh)
                    dh, dpre = back[:len(seqs)], [a + b for a, b in zip(dpre, back[len(seqs):])]
                for dx, d, k in zip(dseqs, dh, self.times):
                    dx.narrow(k, start, stop - start).copy_(d.movedim(0, k))
        for i, d in zip(range(len(consts)) if self.loop_consts is None else self.loop_consts, dc):
            dpre[i] = dpre[i] + d
        return (*dseqs, *dpre)

    def read(self, consts) -> list:
        """The constants the step reads."""
        return list(consts) if self.loop_consts is None else [consts[i] for i in self.loop_consts]


class _BackpropagationThroughTime(torch.autograd.Function):
    """A scan whose forward pass keeps every step's residuals (or checkpoints
    of its states) and whose backward pass runs ``R[φ]``'s cotangent part
    backwards in time."""

    @staticmethod
    def forward(ctx, scan: Scan, *tensors):
        outs, kept = scan.run(tensors, scan.checkpoint or None, residuals=not scan.checkpoint)
        ctx.scan, ctx.kept = scan, kept
        ctx.save_for_backward(*tensors)
        return outs

    @staticmethod
    def backward(ctx, *cotangents):
        if torch.is_grad_enabled():  # create_graph: the kept states were computed without a graph
            raise CatError("a second derivative through a scan needs the `rd` gradient mode",
                           expected="compile_module(d, gradient='rd') for gradients of gradients",
                           found="autograd mode, whose backpropagation through time is differentiable once",
                           hint="rd mode differentiates its reverse derivative diagram again; autograd mode "
                                "suits first derivatives (training)")
        tensors = ctx.saved_tensors
        cotangents = [torch.zeros(shape, dtype=tensors[0].dtype, device=tensors[0].device) if c is None else c
                      for c, shape in zip(cotangents, ctx.scan.out_shapes)]
        grads = ctx.scan.backward(tensors, cotangents, ctx.kept)
        return (None, *(g if need else None for g, need in zip(grads, ctx.needs_input_grad[1:])))


BLOCK = 64  # steps whose hoisted part runs at once


def _sequence_of(value: torch.Tensor, shape: tuple, time: int, length: int) -> torch.Tensor:
    """An uninitialised sequence of `length` steps of `value`'s kind, its time axis `time` (of the output `shape`)."""
    shape = list(shape)
    shape[time] = length
    return value.new_empty(shape)


def _blocks(start: int, stop: int) -> list:
    """The blocks ``[b, e)`` of at most :data:`BLOCK` steps from `start` to `stop`."""
    return [(b, min(stop, b + BLOCK)) for b in range(start, stop, BLOCK)]


def _segments(length: int, checkpoint: int) -> list:
    """The segments a backward pass goes through, last to first: a checkpoint's, or one block."""
    every = checkpoint or BLOCK
    return [(s, min(length, s + every)) for s in range(0, length, every)]


def block_lengths(length: int, checkpoint: int) -> list:
    """Every length of block a scan of `length` steps runs its hoisted part on."""
    blocks = _blocks(0, length) + [b for s, e in _segments(length, checkpoint) for b in _blocks(s, e)]
    return sorted({e - b for b, e in blocks})


CHUNK = 32  # steps to a chunk of the parallel form


def _affine_states(a: list, b: list, s0: list) -> list:
    """The states ``s₁ … s_T`` of ``sₜ₊₁ = aₜ sₜ + bₜ`` from ``s₀``, chunked:
    the T steps cut into chunks of :data:`CHUNK`, each chunk's prefixes by
    :func:`_prefixes` (all chunks at once), the states entering the chunks by
    the same recurrence on the chunks' totals, then every state at once.
    Work O(T log CHUNK), depth O(log T)."""
    length = b[0].shape[0]
    if length <= CHUNK:
        a, b = _prefixes(a, b)
        return [_add(_apply(row, s0), offset) for row, offset in zip(a, b)]
    n = -(-length // CHUNK)

    def chunked(x):  # (T, …) → (CHUNK, n, …), the steps past T zero (their states are dropped)
        if x is None:
            return None
        x = torch.cat([x, x.new_zeros(n * CHUNK - length, *x.shape[1:])])
        return x.reshape(n, CHUNK, *x.shape[1:]).transpose(0, 1)
    a, b = _prefixes([[chunked(x) for x in row] for row in a], [chunked(x) for x in b])
    ends = _affine_states([[None if x is None else x[-1] for x in row] for row in a], [x[-1] for x in b], s0)
    starts = [torch.cat([s.expand(end.shape[1:]).unsqueeze(0), end[:-1]]) for s, end in zip(s0, ends)]
    within = [_add(_apply(row, starts), offset) for row, offset in zip(a, b)]
    return [x.transpose(0, 1).reshape(n * CHUNK, *x.shape[2:])[:length] for x in within]


def _prefixes(a: list, b: list) -> tuple:
    """Hillis and Steele's scan along the first axis: ``(a, b)`` at step t
    becomes the composite of steps 0 … t, in ``log₂`` of the length rounds."""
    length, k = b[0].shape[0], len(b)
    shift = 1
    while shift < length:
        late_a = [[None if x is None else x[shift:] for x in row] for row in a]
        early_a = [[None if x is None else x[:-shift] for x in row] for row in a]
        new_a = _matmul(late_a, early_a)
        new_b = [_add(_apply(late_a[i], [x[:-shift] for x in b]), b[i][shift:]) for i in range(k)]
        a = [[_keep_head(a[i][j], new_a[i][j], shift) for j in range(k)] for i in range(k)]
        b = [torch.cat([b[i][:shift], new_b[i]]) for i in range(k)]
        shift *= 2
    return a, b


def _add(x, y):
    return y if x is None else x + y


def _apply(row: list, states: list):
    """``Σⱼ row[j] ⊙ states[j]`` (None where the row is all zero)."""
    total = None
    for c, s in zip(row, states):
        if c is not None:
            total = _add(total, c * s)
    return total


def _matmul(x: list, y: list) -> list:
    """The product of two matrices of elementwise coefficients (None: zero)."""
    k = len(x)
    out = [[None] * k for _ in range(k)]
    for i in range(k):
        for j in range(k):
            for m in range(k):
                if x[i][m] is not None and y[m][j] is not None:
                    out[i][j] = _add(out[i][j], x[i][m] * y[m][j])
    return out


def _keep_head(old, new, shift: int):
    """A coefficient after a round: its first `shift` steps as they were, the rest composed."""
    if new is None:
        return None if old is None else torch.cat([old[:shift], torch.zeros_like(old[shift:])])
    head = old[:shift] if old is not None else torch.zeros_like(new[:shift])
    return torch.cat([head, new])
