"""General-purpose perturbations: Gaussian noise and random rotation (Pang et al. 2020, Sec. 5.3).

Pang et al., "Rethinking Softmax Cross-Entropy Loss for Adversarial Robustness" (ICLR 2020),
Sec. 5.3 ("Performance under general-purpose attacks"), test models on inputs that are not
crafted against them: additive Gaussian noise and random rotations (within +-30 degrees in the
original's setting). They are ``Attack`` subclasses so that ``evaluate`` and the store treat them
like any attack, but they read neither the model nor its gradients (``uses_objective = False``,
``norm = "none"``); their randomness comes from the base call's per-example streams, so the same
seed gives the same corrupted images.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import Attack, check_eps
from .streams import Streams

__all__ = ["GaussianNoise", "Rotation", "rotate"]


class GaussianNoise(Attack):
    """x + std * N(0, 1), clipped to [0, 1] (Pang et al. 2020, Sec. 5.3; std 0.05 as the original).

    Independent noise per pixel and per channel, drawn from each example's stream.
    """

    name = "noise"
    norm = "none"
    uses_objective = False

    def __init__(self, std: float = 0.05, seed: int = 0):
        super().__init__(eps=0.0, seed=seed)
        self.std = check_eps("std", std)

    def settings(self):
        s = super().settings()
        s["std"] = self.std
        return s

    def perturb(self, model, x, y, target, gen):
        noise = gen.randn(*x.shape[1:], dtype=x.dtype).to(x.device)
        return (x + self.std * noise).clamp(0, 1)


def rotate(x: torch.Tensor, degrees: torch.Tensor | float, padding_mode: str = "border") -> torch.Tensor:
    """Rotate each image of the batch x (B, C, H, W) about its center by its angle in degrees,
    counter-clockwise as displayed (row 0 at the top), the sense of ``torch.rot90(x, 1, (-2, -1))``
    and of Keras/scipy. Bilinear interpolation; ``padding_mode`` as ``grid_sample``.

    Works on non-square images too: the rotation is done in pixel units, not in the [-1, 1]
    coordinates of ``affine_grid``, which stretch a non-square image differently along each axis.
    """
    if x.dim() != 4:
        raise ValueError(f"x: expected a batch (B, C, H, W), got shape {tuple(x.shape)}")
    b, _, h, w = x.shape
    deg = torch.as_tensor(degrees, dtype=torch.float64, device=x.device).expand(b)
    rad = deg * (math.pi / 180)
    cos, sin = torch.cos(rad), torch.sin(rad)
    # affine_grid maps each output location (normalised to [-1, 1], x right, y down) to the
    # input location it samples. In pixel units (u = x * W/2, v = y * H/2) an image turned
    # counter-clockwise on screen by a samples its input at R u, with R = [[cos, -sin], [sin, cos]]
    # acting on (u, v) with v down; back in normalised units: S^-1 R S, S = diag(W/2, H/2).
    # Built in float64 so that 90 degrees lands on pixel centres as closely as possible.
    theta = torch.zeros(b, 2, 3, dtype=torch.float64, device=x.device)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin * h / w
    theta[:, 1, 0] = sin * w / h
    theta[:, 1, 1] = cos
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


class Rotation(Attack):
    """Rotate each image by an angle drawn uniformly in [-max_degrees, max_degrees] (Pang et al.
    2020, Sec. 5.3: random rotation within +-30 degrees), or by exactly ``degrees`` for sweeps.

    Bilinear interpolation and ``padding_mode="border"``: the original used Keras's rotation
    (scipy's order-1 affine transform) with ``fill_mode="nearest"``, which fills the corners
    uncovered by the rotation with the nearest edge pixel; "border" does the same ("zeros" would
    add black corners instead, a different corruption; it is kept as an option).
    """

    name = "rotation"
    norm = "none"
    uses_objective = False

    def __init__(self, max_degrees: float = 30.0, degrees: float | None = None,
                 padding_mode: str = "border", seed: int = 0):
        super().__init__(eps=0.0, seed=seed)
        self.max_degrees = check_eps("max_degrees", max_degrees)
        if degrees is not None and not (isinstance(degrees, (int, float)) and math.isfinite(degrees)):
            raise ValueError(f"degrees: must be a finite number or None, got {degrees!r}")
        if padding_mode not in ("border", "zeros", "reflection"):
            raise ValueError(f"padding_mode: unknown {padding_mode!r} "
                             "(allowed: border, zeros, reflection)")
        self.degrees = None if degrees is None else float(degrees)
        self.padding_mode = padding_mode

    def settings(self):
        s = super().settings()
        if self.degrees is None:
            s["max_degrees"] = self.max_degrees
        else:
            s["degrees"] = self.degrees
        s["padding_mode"] = self.padding_mode
        return s

    def angles(self, gen: Streams) -> torch.Tensor:
        """The angles (degrees) a call draws, one per example of `gen`."""
        if self.degrees is not None:
            return torch.full((len(gen),), self.degrees, dtype=torch.float64)
        u = gen.rand(dtype=torch.float64)
        return (2 * u - 1) * self.max_degrees

    def perturb(self, model, x, y, target, gen):
        return rotate(x, self.angles(gen).to(x.device), self.padding_mode)
