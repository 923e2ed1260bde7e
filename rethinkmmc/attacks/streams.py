"""Per-example random streams: an attack's random draws for a point depend on the attack's
seed, the point's index in the evaluation and how many draws came before, never on which
other points share its batch.

A torch.Generator is one stream for a whole batch: split 450 points into batches of 25 or of
450 and every point gets other random starts, targets and Square windows, so the stored result
would depend on the batch size. Here each draw is a counter-based hash (a keyed integer mix, in
the spirit of Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) of
(seed, point index, draw number, element), computed with plain int64 tensor ops on the
points' own device. The draw number advances once per call for every point of the batch, so a
draw made for a subset (``streams[idx]``) keeps the others' numbering in step.

This is not a cryptographic generator; it is a uniform, reproducible, batch-independent one,
which is what an attack's random start, target and square windows need.
"""
from __future__ import annotations

import math

import torch

__all__ = ["Streams", "TARGET_DRAW"]

# The draw number of an attack's random targets, apart from the numbers 0, 1, ... its perturb
# uses: a target drawn inside the call and one drawn beforehand (evaluate's `Attack.targets`)
# are the same, and neither shares its bits with the random start.
TARGET_DRAW = -1

_M32 = 0xFFFFFFFF
_MUL = 0x45D9F3B  # < 2**27: every product of a 32-bit lane stays inside int64


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash of each entry of the int64 tensor `x` (entries in [0, 2**32))."""
    x = ((x >> 16) ^ x) * _MUL & _M32
    x = ((x >> 16) ^ x) * _MUL & _M32
    return (x >> 16) ^ x


class Streams:
    """The random streams of the points `ids` (their indices in the evaluation) under `seed`.

    ``rand(*shape)`` gives one uniform [0, 1) tensor of ``shape`` per point, stacked to
    ``(len(ids), *shape)``; ``randint`` and ``randn`` likewise. ``streams[idx]`` is the view of
    a subset of the points; it shares the draw counter with the whole.
    """

    def __init__(self, seed: int, ids: torch.Tensor, device: torch.device | str | None = None):
        ids = torch.as_tensor(ids, dtype=torch.int64, device=device)
        self.device, self.ids = ids.device, ids
        seed_key = _mix(torch.tensor(int(seed) & _M32, dtype=torch.int64, device=self.device))
        self.keys = _mix((_mix(ids & _M32) ^ (ids >> 32) ^ seed_key) & _M32)
        self._counter = [0]  # shared with the views: one draw numbering for the whole call

    @classmethod
    def _view(cls, parent: Streams, idx) -> Streams:
        s = cls.__new__(cls)
        s.device, s._counter = parent.device, parent._counter
        s.keys, s.ids = parent.keys[idx], parent.ids[idx]
        return s

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, idx) -> Streams:
        return Streams._view(self, idx)

    def seek(self, draw: int) -> Streams:
        """Set the draw number (for the whole, views included): an attack whose number of
        draws per step depends on its batch (Square's redraws) seeks to a number fixed by the
        step, so that each point's later draws stay the same in any batch."""
        self._counter[0] = int(draw)
        return self

    def _bits(self, shape: tuple[int, ...]) -> torch.Tensor:
        """32 random bits per element of ``(len(self), *shape)``, from the next draw number."""
        draw = self._counter[0]
        self._counter[0] += 1
        numel = math.prod(shape)
        key = _mix((self.keys ^ _mix(torch.tensor(draw & _M32, device=self.device))) & _M32)
        j = torch.arange(numel, dtype=torch.int64, device=self.device)
        bits = _mix((key[:, None] * 0x2545F491 + _mix(j)[None, :] + 0x7F4A7C15) & _M32)
        bits = _mix(bits ^ key[:, None])
        return bits.view(len(self.keys), *shape)

    def rand(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform on [0, 1), 24 bits per value (exact in float32, never 1.0)."""
        return ((self._bits(shape) >> 8).to(dtype) * 2.0 ** -24)

    def randint(self, low: int, high, *shape: int) -> torch.Tensor:
        """Uniform integers in [low, high); `high` may be an int or one bound per point."""
        u = self._bits(shape).to(torch.float64) * 2.0 ** -32
        span = torch.as_tensor(high, dtype=torch.float64, device=self.device) - low
        if span.dim():
            span = span.view(-1, *([1] * len(shape)))
        return (low + (u * span).floor()).to(torch.int64)

    def randn(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normal, by Box-Muller from two uniforms per value."""
        u1 = 1.0 - self.rand(*shape, dtype=torch.float64)  # (0, 1]: log is finite
        u2 = self.rand(*shape, dtype=torch.float64)
        return (torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)).to(dtype)
