"""The reward forward's folded 1x1 convolution + BatchNorm (batch statistics) + ReLU6."""

from __future__ import annotations

import pytest
import torch

import hasearch.supernet.mbconv as mbconv_supernet
from hasearch.autohas.engine import scored_logits
from hasearch.catalog import resolve_space
from hasearch.supernet import folded, supernet_for

pytestmark = pytest.mark.skipif(folded._POINTWISE is None, reason="torch built without oneDNN")
needs_bf16 = pytest.mark.skipif(not folded.BF16_CONVOLUTION, reason="this CPU has no oneDNN bfloat16 convolution")


def _layer(cin: int = 8, cout: int = 48) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    x = (torch.randn(256, cin, 12, 12) * 2 + 0.5).contiguous(memory_format=torch.channels_last)
    return x, torch.randn(cout, cin, 1, 1) / cin**0.5, torch.rand(cout) + 0.5, torch.randn(cout)


def test_the_fold_equals_convolution_batchnorm_relu6_in_float32() -> None:
    x, w, gamma, beta = _layer()
    expected = folded.reference_pointwise_bn_relu6(x, w, gamma, beta, 1e-5)
    got = folded.folded_pointwise_bn_relu6(x, w, gamma, beta, 1e-5)
    assert got.shape == expected.shape and got.is_contiguous(memory_format=torch.channels_last)
    assert 0.0 < float(expected.mean()) and float(expected.max()) == 6.0  # both clamps are exercised
    assert torch.allclose(got, expected, atol=1e-4)


@needs_bf16
def test_the_fold_in_bfloat16_is_as_close_to_float32_as_the_three_operations_are() -> None:
    x, w, gamma, beta = _layer()
    exact = folded.reference_pointwise_bn_relu6(x, w, gamma, beta, 1e-5)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert folded.can_fold(x, 48)
        got = folded.folded_pointwise_bn_relu6(x, w, gamma, beta, 1e-5)
        unfolded = folded.reference_pointwise_bn_relu6(x, w, gamma, beta, 1e-5)
    assert got.dtype == torch.bfloat16
    error, unfolded_error = (got.float() - exact).abs(), (unfolded.float() - exact).abs()
    assert float(error.max()) <= 2 * float(unfolded_error.max()) + 1e-3
    assert float(error.mean()) <= 2 * float(unfolded_error.mean()) + 1e-4


@needs_bf16
def test_the_fold_applies_only_without_gradient_in_bfloat16_to_channels_last_input() -> None:
    x = _layer()[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not folded.can_fold(x, 48)  # a gradient would be needed
        with torch.no_grad():
            assert not folded.can_fold(x[:4], 48)  # too small to pay
        with torch.no_grad():
            assert folded.can_fold(x, 48)
            assert not folded.can_fold(x.contiguous(), 48)
    with torch.no_grad():
        assert not folded.can_fold(x, 48)  # float32: measured slower folded


@needs_bf16
def test_a_reward_forward_on_one_channel_images_folds_and_keeps_its_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    definition = resolve_space("mbconv")
    torch.manual_seed(0)
    net = supernet_for(definition.family, definition.space, (1, 28, 28), 10).to(memory_format=torch.channels_last)
    arch = net.arch_of(definition.baseline)
    x = torch.rand(128, 1, 28, 28).contiguous(memory_format=torch.channels_last)  # as the AutoHAS reward batch
    calls: list[int] = []
    original = folded.folded_pointwise_bn_relu6

    def counted(*args: torch.Tensor | float) -> torch.Tensor:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(mbconv_supernet, "folded_pointwise_bn_relu6", counted)
    with_fold = scored_logits(net, x, arch, dtype=torch.bfloat16)
    assert len(calls) >= 2  # the expansions of the early, large stages
    calls.clear()
    monkeypatch.setattr(folded, "MIN_OUTPUT_ELEMENTS", 0)
    scored_logits(net, x, arch, dtype=torch.bfloat16)
    assert len(calls) == 1 + sum(e != 1 for stage in arch.blocks for _, e in stage)  # head + every expansion
    monkeypatch.setattr(mbconv_supernet, "can_fold", lambda x, cout: False)
    monkeypatch.setattr(mbconv_supernet, "can_fuse", lambda y: False)
    without = scored_logits(net, x, arch, dtype=torch.bfloat16)  # the plain operations
    exact = scored_logits(net, x, arch, dtype=None)
    assert float((with_fold - exact).abs().max()) <= 2 * float((without - exact).abs().max()) + 1e-3
    assert float((with_fold.argmax(1) == exact.argmax(1)).float().mean()) >= 0.95


def _activations(c: int = 48) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(1)
    y = (torch.randn(256, c, 10, 10) * 1.5 + 2.0).contiguous(memory_format=torch.channels_last)  # mean far from 0
    return y, torch.rand(c) * 2 + 0.5, torch.randn(c)


@needs_bf16
def test_the_fused_batchnorm_relu6_is_as_close_to_float32_as_the_two_operations_are() -> None:
    y, gamma, beta = _activations()
    exact = torch.nn.functional.relu6(torch.nn.functional.batch_norm(y, None, None, gamma, beta, True, 0.0, 1e-5))
    assert 0.0 < float(exact.mean()) and float(exact.max()) == 6.0  # both clamps are exercised
    low = y.bfloat16()
    with torch.no_grad():
        assert folded.can_fuse(low)
        got = folded.batch_bn_relu6(low, gamma, beta, 1e-5)
        plain = torch.nn.functional.relu6(torch.nn.functional.batch_norm(low, None, None, gamma, beta, True, 0.0, 1e-5))
    assert got.dtype == torch.bfloat16 and got.is_contiguous(memory_format=torch.channels_last)
    error, plain_error = (got.float() - exact).abs(), (plain.float() - exact).abs()
    assert float(error.max()) <= 2 * float(plain_error.max()) + 1e-3
    assert float(error.mean()) <= 2 * float(plain_error.mean()) + 1e-4


def test_the_fused_batchnorm_uses_float32_statistics() -> None:
    """batch_norm_update_stats without running buffers returns bfloat16 statistics (a variance
    about 1% off); the fused path passes float32 buffers and must get float32 statistics."""
    y, _, _ = _activations(8)
    mean, var = torch.batch_norm_update_stats(y.bfloat16(), torch.zeros(8), torch.zeros(8), 1.0)
    reference = y.bfloat16().float()
    assert mean.dtype == var.dtype == torch.float32
    assert torch.allclose(mean, reference.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
    assert torch.allclose(var, reference.var((0, 2, 3), unbiased=False), rtol=1e-4)  # float32 sums in another order: 3e-5 at 1 thread


@needs_bf16
def test_the_fused_batchnorm_applies_only_without_gradient_to_bfloat16_channels_last_activations() -> None:
    y = _activations()[0]
    assert not folded.can_fuse(y.bfloat16())  # a gradient would be needed
    with torch.no_grad():
        assert folded.can_fuse(y.bfloat16()) and folded.can_fuse(y[:2, :, :1, :1].bfloat16())
        assert not folded.can_fuse(y)  # float32
        assert not folded.can_fuse(y.bfloat16().contiguous())
