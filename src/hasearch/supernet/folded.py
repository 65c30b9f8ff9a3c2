"""``relu6(BatchNorm(conv1x1(x)))`` on the batch's statistics in one pass over the output.

A reward forward (AutoHAS scores W* and W on a validation batch, ``BNMode.BATCH``) spends
most of its time in memory-bound passes over the expanded activations: the 1x1 expansion
convolution writes them, BatchNorm reads them twice (statistics, then normalisation) and
writes them, ReLU6 reads and writes them again. For a 1x1 convolution the batch statistics
of the output follow from the input's (exact in real arithmetic):

    mean(y_c) = w_c . mean(x),   var(y_c) = w_c^T Cov(x) w_c   (biased, as BatchNorm uses)

so BatchNorm folds into the convolution's weight and bias (y = a * (w x) + b with
a = gamma / sqrt(var + eps), b = beta - a * mean) and ReLU6 becomes the convolution's
oneDNN post-op: the output is written once and never read back. ``Cov(x)`` costs one
small matrix product over the input, which has 1/expansion of the output's channels.

Where the input is not a 1x1 convolution's (the depthwise convolution's output, the stem's),
:func:`batch_bn_relu6` still saves two passes: the statistics in one read, then normalisation
and ReLU6 together as a per-channel 1x1 convolution with the same post-op (256 x 96 x 14 x 14
bfloat16 activations: 1.25 ms against 2.05 ms for BatchNorm and ReLU6).

Only where it is exact to the float tolerance and measured faster: bfloat16, no gradient (the
fold has no backward here), CPU with oneDNN, 4-D channels-last input. Everywhere else the
caller gets the plain operations. ``benchmarks/autohas_cost.py`` measures the step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_POINTWISE = getattr(torch.ops.mkldnn, "_convolution_pointwise", None) if torch.backends.mkldnn.is_available() else None
BF16_CONVOLUTION = _POINTWISE is not None and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
"""Whether oneDNN runs bfloat16 convolutions on this CPU (AVX512 or AVX-NE-CONVERT; an AMD EPYC
without AVX512 raises "bf16 path needs the cpu support ..."): both fast paths need it."""


MIN_OUTPUT_ELEMENTS = 1 << 20
"""Smaller outputs stay unfolded: the fold's dozen small operations cost more than the
passes they save (256 x 192 x 4 x 4 outputs: 0.66 ms folded, 0.54 ms unfolded; 256 x 144 x
7 x 7: 0.94 against 1.24 ms; 2 threads, bfloat16)."""


def can_fold(x: Tensor, cout: int) -> bool:
    """Whether :func:`folded_pointwise_bn_relu6` applies to input ``x`` and ``cout`` output
    channels: bfloat16 only (in float32 the ``mbconv`` reward forward was slower folded,
    78.6 against 70.4 ms), outputs of at least :data:`MIN_OUTPUT_ELEMENTS`."""
    return (
        x.numel() // max(x.shape[1], 1) * cout >= MIN_OUTPUT_ELEMENTS
        and _one_dnn_inference(x, _compute_dtype(x))
        and x.shape[1] > 1
    )


def folded_pointwise_bn_relu6(x: Tensor, weight: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> Tensor:
    """``relu6(batch_norm(conv2d(x, weight), batch statistics, gamma, beta))`` for a 1x1
    ``weight`` of shape ``(cout, cin, 1, 1)``, computed as described in the module docstring.
    Runs in the autocast precision when CPU autocast is on (as ``F.conv2d`` would); the
    statistics and the folded weight are float32 (autocast would run their matrix products
    in bfloat16: 0.6 ms slower per fold of a 256 x 16 x 14 x 14 input, and less exact)."""
    assert _POINTWISE is not None
    dtype = _compute_dtype(x)
    cout, cin = weight.shape[:2]
    with torch.autocast("cpu", enabled=False):
        mean_in, covariance = _moments(x)
        w = weight.reshape(cout, cin).float()
        scale, bias = _bn_affine(w @ mean_in, ((w @ covariance) * w).sum(1).clamp_min(0.0), gamma, beta, eps)
        folded = (w * scale[:, None]).reshape(cout, cin, 1, 1).to(dtype).contiguous(memory_format=torch.channels_last)
    return _POINTWISE(x.to(dtype), folded, bias.to(dtype), [0, 0], [1, 1], [1, 1], 1, "hardtanh", [0.0, 6.0], "")


def can_fuse(y: Tensor) -> bool:
    """Whether :func:`batch_bn_relu6` applies to the activations ``y`` (the conditions of
    :func:`can_fold`, any size: 256 x 192 x 4 x 4 still took 0.29 against 0.33 ms)."""
    return _one_dnn_inference(y, y.dtype)


def batch_bn_relu6(y: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> Tensor:
    """``relu6(batch_norm(y, batch statistics, gamma, beta))`` in two passes over ``y``: its
    float32 statistics, then ``relu6(a * y + b)`` as a per-channel 1x1 convolution (weight
    a = gamma / sqrt(var + eps), bias b = beta - a * mean) with the ReLU6 post-op."""
    assert _POINTWISE is not None
    c = y.shape[1]
    with torch.autocast("cpu", enabled=False):
        mean, var = torch.batch_norm_update_stats(y, torch.zeros(c), torch.zeros(c), 1.0)  # float32 buffers: float32 results
        scale, bias = _bn_affine(mean, var, gamma, beta, eps)
        weight = scale.to(y.dtype).reshape(c, 1, 1, 1).contiguous(memory_format=torch.channels_last)
    return _POINTWISE(y, weight, bias.to(y.dtype), [0, 0], [1, 1], [1, 1], c, "hardtanh", [0.0, 6.0], "")


def _one_dnn_inference(x: Tensor, dtype: torch.dtype) -> bool:
    """What both fast paths need: oneDNN, bfloat16 compute, no gradient, a 4-D channels-last
    CPU tensor."""
    return (
        BF16_CONVOLUTION
        and dtype is torch.bfloat16
        and not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
    )


def _bn_affine(mean: Tensor, var: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """BatchNorm on statistics (mean, var) as y * scale + bias, in float32."""
    scale = gamma.float() * torch.rsqrt(var + eps)
    return scale, beta.float() - scale * mean


def _moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and (biased) covariance of a channels-last ``x`` in float32, from one
    matrix product of its pixels with a column of ones appended (the sums come with it)."""
    cin = x.shape[1]
    rows = torch.ones(x.numel() // cin, cin + 1)
    rows[:, :cin] = x.permute(0, 2, 3, 1).reshape(-1, cin)  # channels-last: (N*H*W, cin)
    moments = rows.T @ rows / rows.shape[0]
    mean = moments[:cin, cin]
    return mean, moments[:cin, :cin] - torch.outer(mean, mean)


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype


def reference_pointwise_bn_relu6(x: Tensor, weight: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> Tensor:
    """The three operations :func:`folded_pointwise_bn_relu6` replaces (for tests)."""
    y = F.conv2d(x, weight.contiguous(memory_format=torch.channels_last))
    return F.relu6(F.batch_norm(y, None, None, gamma, beta, True, 0.0, eps))
