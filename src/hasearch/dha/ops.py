"""The 14 data-augmentation operations of DHA (Sec. 3.1), vectorised over a batch.

Every operation takes a float batch ``x`` of shape ``(n, C, H, W)`` in ``[0, 1]`` (``C`` = 1
or 3), a per-sample ``magnitude`` of shape ``(n,)`` in ``[0, 1]`` (the AutoAugment level
divided by 10) and a per-sample ``sign`` of shape ``(n,)`` holding +-1, and returns a new
batch in ``[0, 1]``; the input is never modified. The magnitude mapping follows the
AutoAugment / PIL conventions (the op list is that of PBA, Ho et al. 2019, as in the paper):

==============  ==========================================================  ======
operation       parameter at magnitude ``m``                                signed
==============  ==========================================================  ======
AutoContrast    per image and channel min-max stretch to [0, 1]             no
Equalize        per image and channel histogram equalisation (PIL's)        no
Rotate          angle ``sign * 30 * m`` degrees about the centre            yes
Posterize       keep ``8 - round(4 m)`` bits (8 .. 4)                       no
Solarize        invert pixels at or above ``1 - m`` (PIL's ``256 - 256 m``  no
                on 8-bit levels, so ``m = 0`` inverts nothing)
Color           saturation factor ``1 + sign * 0.9 * m`` (blend with luma)  yes
Contrast        factor ``1 + sign * 0.9 * m`` (blend with the mean gray)    yes
Brightness      factor ``1 + sign * 0.9 * m`` (``x * factor``, as PIL)      yes
Sharpness       factor ``1 + sign * 0.9 * m`` (PIL's smoothing kernel)      yes
ShearX / Y      shear factor ``sign * 0.3 * m`` about pixel (0, 0)          yes
TranslateX / Y  ``sign * 0.45 * m`` of the image width / height             yes
Identity        none                                                        no
==============  ==========================================================  ======

Pixels are read as 8-bit levels ``round(255 x)`` by Equalize and Posterize (the data are
8-bit images, and rounding keeps a level that went through normalisation and back).
Geometric operations sample bilinearly and fill uncovered pixels with 0 (black); they
follow kornia's conventions (``rotate`` counter-clockwise as displayed about the centre,
``shear`` about pixel (0, 0), ``translate`` in pixels, ``align_corners=True``).

Color and Contrast use kornia's PIL-style blends (``adjust_saturation_with_gray_subtraction``,
``adjust_contrast_with_mean_subtraction``; kornia's plain ``adjust_contrast`` is a
multiplication, i.e. a brightness change, and its ``adjust_saturation`` works in HSV). Color
on a 1-channel image is the identity; Brightness is PIL's ``x * factor`` (kornia's is
additive). The other operations are written here, vectorised over the batch, and the tests
compare each with its kornia counterpart (and Equalize with PIL): older kornia releases,
which the requirement ``kornia>=0.7`` still admits, loop in Python over the samples for
per-sample posterize / solarize / sharpness and over images and channels for equalize (as
kornia 0.9's own comments say of the code it replaced), and even kornia 0.9 spends 3-4x
the sampling work in per-call overhead on the small per-operation groups of a batch
(affine matrix inversion, ``affine_grid``, mask padding, value checks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import MappingProxyType

import torch
import torch.nn.functional as F
from kornia.enhance import (
    adjust_contrast_with_mean_subtraction,
    adjust_saturation_with_gray_subtraction,
)
from torch import Tensor

OPERATIONS: tuple[str, ...] = (
    "AutoContrast",
    "Equalize",
    "Rotate",
    "Posterize",
    "Solarize",
    "Color",
    "Contrast",
    "Brightness",
    "Sharpness",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Identity",
)

MAX_ROTATE_DEGREES = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATE = 0.45  # fraction of the image size
MAX_ENHANCE = 0.9  # enhance factors lie in [1 - 0.9, 1 + 0.9]
MAX_POSTERIZE_DROP = 4  # bits removed at m = 1 (8 -> 4)

Operation = Callable[[Tensor, Tensor, Tensor], Tensor]


def _per_sample(t: Tensor) -> Tensor:
    """``(n,)`` -> ``(n, 1, 1, 1)`` so that it broadcasts over an image batch."""
    return t.view(-1, 1, 1, 1)


def _enhance_factor(m: Tensor, s: Tensor) -> Tensor:
    return 1.0 + s * MAX_ENHANCE * m


def _levels(x: Tensor) -> Tensor:
    """The 8-bit level of each pixel, ``round(255 x)``, as floats in 0..255."""
    return torch.round(x * 255.0).clamp_(0.0, 255.0)


# --- intensity operations ---------------------------------------------------------------


def _auto_contrast(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    flat = span <= 0  # a constant plane is left as it is (PIL does the same)
    stretched = (x - lo) / torch.where(flat, torch.ones_like(span), span)
    return torch.where(flat, x, stretched).clamp_(0.0, 1.0)


def _equalize(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    # PIL's ImageOps.equalize per image and channel, all planes at once: a 256-bin histogram
    # by scatter_add, step = (pixels - count of the top level) // 255, look-up table
    # lut[v] = (pixels below v + step // 2) // step, read back by gather.
    n, c, h, w = x.shape
    levels = _levels(x).long().view(n * c, h * w)
    hist = torch.zeros(n * c, 256, dtype=torch.long, device=x.device)
    hist.scatter_add_(1, levels, torch.ones_like(levels))
    top_count = hist.gather(1, levels.amax(dim=1, keepdim=True))
    step = (h * w - top_count) // 255
    below = hist.cumsum(dim=1) - hist
    lut = ((below + step // 2) // step.clamp_min(1)).clamp_max_(255)
    out = lut.gather(1, levels).to(x.dtype).div_(255.0)
    return torch.where(step > 0, out, x.view(n * c, h * w)).view(n, c, h, w)  # step 0: as is


def _posterize(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    bits = _per_sample(8.0 - torch.round(MAX_POSTERIZE_DROP * m))
    step = torch.exp2(8.0 - bits)  # keep the top `bits` bits of the 8-bit level
    posterized = torch.floor(_levels(x) / step) * step / 255.0
    return torch.where(bits >= 8.0, x, posterized)


def _solarize(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    # PIL inverts the 8-bit level v when v >= 256 (1 - m); in [0, 1]: x >= (1 - m) 256 / 255.
    threshold = _per_sample((1.0 - m) * (256.0 / 255.0))
    return torch.where(x >= threshold, 1.0 - x, x)


def _color(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x.clone()
    return adjust_saturation_with_gray_subtraction(x, _enhance_factor(m, s))


def _contrast(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    return adjust_contrast_with_mean_subtraction(x, _enhance_factor(m, s))


def _brightness(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    return (x * _per_sample(_enhance_factor(m, s))).clamp_(0.0, 1.0)


def _smooth(x: Tensor) -> Tensor:
    """PIL's SMOOTH filter (3x3 kernel of ones with 5 in the centre, / 13); borders as is."""
    rows = x[:, :, :-2] + x[:, :, 1:-1] + x[:, :, 2:]
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
    out = x.clone()
    out[:, :, 1:-1, 1:-1] = (box + 4.0 * x[:, :, 1:-1, 1:-1]) / 13.0
    return out


def _sharpness(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    smooth = _smooth(x)
    return (smooth + _per_sample(_enhance_factor(m, s)) * (x - smooth)).clamp_(0.0, 1.0)


# --- geometric operations ---------------------------------------------------------------


def _aspect(x: Tensor) -> float:
    """(H - 1) / (W - 1): converts a y distance to x units in align_corners coordinates."""
    return max(x.shape[2] - 1, 1) / max(x.shape[3] - 1, 1)


def _identity_theta(x: Tensor) -> Tensor:
    """A fresh ``(n, 2, 3)`` identity affine map, to be filled per sample."""
    eye = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    return eye.expand(x.shape[0], 2, 3).clone()


@functools.lru_cache(maxsize=16)
def _base_grid(height: int, width: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(3, H * W)``: rows u, v, 1 of the output pixel centres in [-1, 1] (align_corners)."""
    v, u = torch.meshgrid(
        torch.linspace(-1.0, 1.0, height, dtype=dtype, device=device),
        torch.linspace(-1.0, 1.0, width, dtype=dtype, device=device),
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1), torch.ones_like(u).reshape(-1)])


def _warp(x: Tensor, theta: Tensor) -> Tensor:
    """Bilinear affine warp, zero fill; ``theta`` ``(n, 2, 3)`` maps output to input
    normalised coordinates. The grid is one ``(2n, 3) @ (3, H W)`` product on a cached base.
    """
    n, _, height, width = x.shape
    base = _base_grid(height, width, x.dtype, x.device)
    grid = (theta.reshape(2 * n, 3) @ base).view(n, 2, height, width).permute(0, 2, 3, 1)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.clamp_(0.0, 1.0)


def _rotate(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    # Counter-clockwise as displayed about the centre; sampling uses the inverse rotation.
    angle = torch.deg2rad(s * MAX_ROTATE_DEGREES * m)
    cos, sin = torch.cos(angle), torch.sin(angle)
    r = _aspect(x)
    theta = _identity_theta(x)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * r
    theta[:, 1, 0], theta[:, 1, 1] = sin / r, cos
    return _warp(x, theta)


def _shear(x: Tensor, m: Tensor, s: Tensor, axis: int) -> Tensor:
    # Forward map about pixel (0, 0): x' = x + k y (ShearX) or y' = y + k x (ShearY).
    k = s * MAX_SHEAR * m
    ratio = _aspect(x) if axis == 0 else 1.0 / _aspect(x)
    theta = _identity_theta(x)
    theta[:, axis, 1 - axis] = -k * ratio
    theta[:, axis, 2] = -k * ratio
    return _warp(x, theta)


def _translate(x: Tensor, m: Tensor, s: Tensor, axis: int) -> Tensor:
    # axis 0 = x (a fraction of the width), 1 = y (of the height); normalised units span 2.
    size = x.shape[3 - axis]
    theta = _identity_theta(x)
    theta[:, axis, 2] = -2.0 * (s * MAX_TRANSLATE * m) * size / max(size - 1, 1)
    return _warp(x, theta)


def _identity(x: Tensor, m: Tensor, s: Tensor) -> Tensor:
    return x.clone()


OPERATION_TABLE: MappingProxyType[str, Operation] = MappingProxyType(
    {
        "AutoContrast": _auto_contrast,
        "Equalize": _equalize,
        "Rotate": _rotate,
        "Posterize": _posterize,
        "Solarize": _solarize,
        "Color": _color,
        "Contrast": _contrast,
        "Brightness": _brightness,
        "Sharpness": _sharpness,
        "ShearX": lambda x, m, s: _shear(x, m, s, 0),
        "ShearY": lambda x, m, s: _shear(x, m, s, 1),
        "TranslateX": lambda x, m, s: _translate(x, m, s, 0),
        "TranslateY": lambda x, m, s: _translate(x, m, s, 1),
        "Identity": _identity,
    }
)
"""Operation name -> ``f(x, magnitude, sign)``; same keys and order as :data:`OPERATIONS`."""


def apply_operation(name: str, x: Tensor, magnitude: Tensor, sign: Tensor) -> Tensor:
    """Apply operation ``name`` to every image of ``x`` with its own magnitude and sign.

    Args:
        name: one of :data:`OPERATIONS`.
        x: float batch ``(n, C, H, W)`` in ``[0, 1]``, ``C`` = 1 or 3; not modified.
        magnitude: ``(n,)`` in ``[0, 1]`` (level / 10); see the table in the module docstring.
        sign: ``(n,)`` of +-1; used by Rotate, Shear, Translate and the four enhance ops.

    Returns:
        A new batch of the shape and dtype of ``x``, in ``[0, 1]``.

    Raises:
        ValueError: for an unknown name or mismatched shapes.
    """
    op = OPERATION_TABLE.get(name)
    if op is None:
        raise ValueError(f"unknown augmentation operation {name!r}; known: {', '.join(OPERATIONS)}")
    if x.dim() != 4 or x.shape[1] not in (1, 3) or not x.is_floating_point():
        raise ValueError(
            f"expected a float batch (n, 1 or 3, H, W), got {tuple(x.shape)} {x.dtype}"
        )
    n = x.shape[0]
    if magnitude.shape != (n,) or sign.shape != (n,):
        raise ValueError(
            f"magnitude and sign must have shape ({n},), "
            f"got {tuple(magnitude.shape)} and {tuple(sign.shape)}"
        )
    if n == 0:
        return x.clone()
    m = magnitude.to(device=x.device, dtype=x.dtype)
    s = sign.to(device=x.device, dtype=x.dtype)
    return op(x, m, s)
