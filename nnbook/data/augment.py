"""On-the-fly distortions of the training images (chapter 6's problem; Simard et al. 2003).

Owns the random draw of each transform's parameters (`draw`), the resampling of
a batch of images under them (`apply`), and the distortion of a whole epoch's
training images in large chunks on their own device (`distort`). Also the
preview mosaic behind `nnbook augment-preview` (an array: analysis/plots.py draws it).

Every transform is one sampling grid: for each output pixel, where to read the
clean image (bilinear, zeros outside it). The affine part (translation,
rotation, scaling, shear, about the image centre) maps each output pixel back
into the input; Simard's elastic displacement is added to that position. So a
whole chunk of images is distorted by one `grid_sample`, whatever is on.

Conventions (y points down, as the image is displayed):
  - translate: content moves right / down by (dx, dy) pixels;
  - rotate: counterclockwise as displayed, degrees;
  - scale: content grows by (sx, sy) horizontally / vertically about the centre;
  - shear: x += tan(angle) * y about the centre, so lower rows move right;
  - elastic: a field of (x, y) offsets, pixels, added where each pixel reads.
The forward map is p -> A p + t with A = rotation @ shear @ scale (scale first,
then shear, rotation, translation); output pixel p reads the clean image at
A^-1 (p - t) + field(p).

When the training loop distorts, which images it distorts is its business
(training/batches.py), and how a member's generator is seeded nnbook/seeds.py's;
this module draws from the generator it is given (the preview, from the one of the
member seeded as asked) and never sees labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from nnbook.config import IMAGE_SIDE, Augment
from nnbook.seeds import DISTORTIONS, generator

CHUNK = 8192  # images per batched op: the grid, field and images take ~75 MB per chunk (float32)
TRUNCATE = 4.0  # the Gaussian kernel reaches 4 sigma each side (scipy's default)
PIXEL = 2.0 / IMAGE_SIDE  # one pixel in affine_grid's normalised [-1, 1] coordinates


@dataclass
class Distortion:
    """Per-image parameters of N distortions; None = that transform is off."""

    shift: Optional[torch.Tensor] = None  # (N, 2) pixels: right, down
    angle: Optional[torch.Tensor] = None  # (N,) degrees, counterclockwise as displayed
    scale: Optional[torch.Tensor] = None  # (N, 2) factors: horizontal, vertical
    shear: Optional[torch.Tensor] = None  # (N,) degrees: lower rows move right
    field: Optional[torch.Tensor] = None  # (N, 2, 28, 28) pixels: (x, y) offset where each output pixel reads


def draw(spec: Augment, n: int, gen: torch.Generator) -> Distortion:
    """Random parameters for n images, in a fixed order (translate, rotate, scale,
    shear, elastic), each uniform within the config's bounds."""
    device = gen.device

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=gen, device=device)

    d = Distortion()
    if spec.translate is not None:
        d.shift = uniform((n, 2), -spec.translate, spec.translate)
    if spec.rotate is not None:
        d.angle = uniform((n,), -spec.rotate, spec.rotate)
    if spec.scale is not None:
        d.scale = uniform((n, 2), 1.0 - spec.scale, 1.0 + spec.scale)
    if spec.shear is not None:
        d.shear = uniform((n,), -spec.shear, spec.shear)
    if spec.elastic is not None:
        noise = uniform((n, 2, IMAGE_SIDE, IMAGE_SIDE), -1.0, 1.0)
        d.field = spec.elastic.alpha * smooth(noise, spec.elastic.sigma)
    return d


def gaussian_matrix(sigma: float, device=None) -> torch.Tensor:
    """The (28, 28) matrix G that smooths a row r of 28 pixels as r @ G: a
    normalised Gaussian of std sigma pixels, cut at 4 sigma, zeros outside the
    image. Symmetric, so G @ m smooths the columns of a map m."""
    radius = int(math.ceil(TRUNCATE * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    i = torch.arange(IMAGE_SIDE, device=device)
    offset = i.view(1, -1) - i.view(-1, 1)  # (28, 28): j - i
    inside = offset.abs() <= radius
    return torch.where(inside, kernel[(offset + radius).clamp(0, 2 * radius)], torch.zeros((), device=device))


def smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of (N, C, 28, 28) maps, separably: m -> G @ m @ G (a row
    pass, then a column pass), each pass one large matrix product over all N*C*28
    rows. Equals a separable convolution with zero padding, and on a CPU it is
    several times faster than conv2d with a long 1-D kernel."""
    g = gaussian_matrix(sigma, field.device).to(field.dtype)
    n, c, h, w = field.shape
    rows = (field.reshape(-1, w) @ g).view(n, c, h, w)
    return (rows.transpose(-1, -2).reshape(-1, h) @ g).view(n, c, w, h).transpose(-1, -2)


def sampling_grid(d: Distortion, n: int, device, dtype=torch.float32) -> torch.Tensor:
    """grid_sample's (N, 28, 28, 2) grid: for each output pixel, the (x, y) where it
    reads the input, in normalised [-1, 1] coordinates (pixel centres, as with
    align_corners=False). The affine part is the inverse of p -> A p + t with
    A = rotation @ shear @ scale, written out entry by entry:
    A^-1 = diag(1/sx, 1/sy) @ [[1, -k], [0, 1]] @ [[c, -s], [s, c]], k = tan(shear).
    (Elementwise on (N, 28, 28): on a CPU, affine_grid's batch of tiny matrix
    products costs several times more.)"""
    def per_image(v: torch.Tensor) -> torch.Tensor:
        return v.to(device=device, dtype=dtype).view(-1, 1, 1)

    cos = sin = tan = None
    if d.angle is not None:
        radians = per_image(torch.deg2rad(d.angle))
        cos, sin = torch.cos(radians), torch.sin(radians)
    if d.shear is not None:
        tan = torch.tan(per_image(torch.deg2rad(d.shear)))
    centres = (torch.arange(IMAGE_SIDE, device=device, dtype=dtype) * 2 + 1) / IMAGE_SIDE - 1
    u, v = centres.view(1, 1, -1), centres.view(1, -1, 1)  # x across, y down: (1, 1, 28), (1, 28, 1)
    if d.shift is not None:
        u = u - per_image(d.shift[:, 0] * PIXEL)
        v = v - per_image(d.shift[:, 1] * PIXEL)
    if cos is not None:  # undo the rotation: [[c, -s], [s, c]]
        u, v = cos * u - sin * v, sin * u + cos * v
    if tan is not None:  # undo the shear
        u = u - tan * v
    if d.scale is not None:  # undo the scaling
        u = u / per_image(d.scale[:, 0])
        v = v / per_image(d.scale[:, 1])
    if d.field is not None:
        u = u + d.field[:, 0].to(dtype) * PIXEL
        v = v + d.field[:, 1].to(dtype) * PIXEL
    shape = (n, IMAGE_SIDE, IMAGE_SIDE)
    return torch.stack([u.expand(shape), v.expand(shape)], dim=-1)


def apply(x: torch.Tensor, d: Distortion) -> torch.Tensor:
    """Distort N flat images (N, 784) under the parameters d: (N, 784)."""
    n = len(x)
    images = x.view(n, 1, IMAGE_SIDE, IMAGE_SIDE)
    grid = sampling_grid(d, n, x.device, x.dtype)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.view(n, -1)


@torch.no_grad()
def distort(x: torch.Tensor, spec: Augment, gen: torch.Generator, chunk: int = CHUNK) -> torch.Tensor:
    """A freshly distorted copy of N flat images (N, 784), on their device, CHUNK at a time.
    The same generator state gives the same images."""
    return torch.cat([apply(x[i:i + chunk], draw(spec, len(x[i:i + chunk]), gen))
                      for i in range(0, len(x), chunk)])


# ----------------------------------------------------------------------------- preview


def preview_mosaic(images: np.ndarray, spec: Augment, seed: int, samples: int, gap: int = 2) -> np.ndarray:
    """A (rows*(28+gap)-gap, (1+samples)*(28+gap)-gap) image: each of the (rows, 784) clean
    `images` followed by `samples` distortions of it, drawn as the member seeded `seed` draws
    its distortions (on the CPU); gaps are -1 (drawn as blank)."""
    x = torch.from_numpy(images)
    gen = generator(DISTORTIONS, seed)
    rows = len(x)
    copies = distort(x.repeat_interleave(samples, dim=0), spec, gen)  # (rows*samples, 784)
    tiles = torch.cat([x.unsqueeze(1), copies.view(rows, samples, -1)], dim=1)  # (rows, 1+samples, 784)
    cols = 1 + samples
    side = IMAGE_SIDE + gap
    mosaic = torch.full((rows * side - gap, cols * side - gap), -1.0)
    for r in range(rows):
        for c in range(cols):
            mosaic[r * side:r * side + IMAGE_SIDE, c * side:c * side + IMAGE_SIDE] = \
                tiles[r, c].view(IMAGE_SIDE, IMAGE_SIDE).cpu()
    return mosaic.numpy()


def describe(spec: Augment) -> str:
    """One line for titles and logs: 'translate 2 px, rotate 10°, elastic alpha 34 sigma 4'."""
    parts = []
    if spec.translate is not None:
        parts.append(f"translate ±{spec.translate:g} px")
    if spec.rotate is not None:
        parts.append(f"rotate ±{spec.rotate:g}°")
    if spec.scale is not None:
        parts.append(f"scale ±{spec.scale:g}")
    if spec.shear is not None:
        parts.append(f"shear ±{spec.shear:g}°")
    if spec.elastic is not None:
        parts.append(f"elastic alpha {spec.elastic.alpha:g} sigma {spec.elastic.sigma:g}")
    return ", ".join(parts) or "no distortion"
