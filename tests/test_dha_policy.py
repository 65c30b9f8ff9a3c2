"""DHA's differentiable augmentation policy (Sec. 3.1, Eq. 2) and its 14 operations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import kornia
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from scipy.stats import chisquare

import hasearch.dha.policy as policy_module
from hasearch.dha.ops import OPERATION_TABLE, OPERATIONS, apply_operation
from hasearch.dha.policy import AugmentationPolicy
from hasearch.errors import UserError

K = len(OPERATIONS)
GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY")
ENHANCE = ("Color", "Contrast", "Brightness", "Sharpness")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(n: int, channels: int, size: tuple[int, int] = (16, 20), seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, *size, generator=_gen(seed))


def _levels_image(n: int, channels: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """8-bit levels with a skewed histogram and the float image (level + 0.25) / 255."""
    levels = (torch.rand(n, channels, 24, 24, generator=_gen(seed)) ** 2 * 200 + 20).round()
    return levels, (levels + 0.25) / 255


def _signs(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=_gen(seed)).float() * 2 - 1


# --- operations ------------------------------------------------------------------------


def test_table_covers_the_operations_in_order() -> None:
    assert tuple(OPERATION_TABLE) == OPERATIONS and K == 14


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", OPERATIONS)
def test_operation_keeps_shape_dtype_range_and_input(name: str, channels: int) -> None:
    x = _images(6, channels)
    before = x.clone()
    magnitude = torch.tensor([0.0, 0.2, 0.5, 0.8, 1.0, 1.0])
    out = apply_operation(name, x, magnitude, _signs(6))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert torch.equal(x, before)
    assert out.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", GEOMETRIC + ENHANCE + ("Posterize", "Solarize", "Identity"))
def test_magnitude_zero_is_identity(name: str, channels: int) -> None:
    x = _images(5, channels)
    out = apply_operation(name, x, torch.zeros(5), _signs(5))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_color_is_identity_on_gray_images() -> None:
    x = _images(4, 1)
    torch.testing.assert_close(apply_operation("Color", x, torch.ones(4), _signs(4)), x)


def test_rotate_matches_kornia_and_the_sign_mirrors_it() -> None:
    x = _images(4, 3, size=(17, 17))
    x = (x + x.flip(-1)) / 2  # left-right symmetric
    one = torch.ones(4)
    plus = apply_operation("Rotate", x, one, one)
    minus = apply_operation("Rotate", x, one, -one)
    torch.testing.assert_close(
        plus, kornia.geometry.transform.rotate(x, torch.full((4,), 30.0)), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        minus, kornia.geometry.transform.rotate(x, torch.full((4,), -30.0)), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(plus.flip(-1), minus, atol=1e-5, rtol=0)  # mirror of +30 = -30
    assert (plus - x).abs().max() > 0.1


@pytest.mark.parametrize("size", [(16, 16), (14, 22)])
def test_shear_and_translate_match_kornia(size: tuple[int, int]) -> None:
    x = _images(8, 3, size=size)
    m, s, zero = torch.rand(8, generator=_gen(1)), _signs(8, 1), torch.zeros(8)
    height, width = size
    transform = kornia.geometry.transform
    expected = {
        "ShearX": transform.shear(x, torch.stack([s * 0.3 * m, zero], 1), align_corners=True),
        "ShearY": transform.shear(x, torch.stack([zero, s * 0.3 * m], 1), align_corners=True),
        "TranslateX": transform.translate(x, torch.stack([s * 0.45 * m * width, zero], 1)),
        "TranslateY": transform.translate(x, torch.stack([zero, s * 0.45 * m * height], 1)),
    }
    for name, reference in expected.items():
        torch.testing.assert_close(apply_operation(name, x, m, s), reference, atol=1e-5, rtol=0)


def test_posterize_at_full_magnitude_keeps_four_bits() -> None:
    levels, x = _levels_image(4, 3)
    out = apply_operation("Posterize", x, torch.ones(4), torch.ones(4))
    for image in out:
        assert image.unique().numel() <= 16
    torch.testing.assert_close(out * 255, torch.div(levels, 16, rounding_mode="floor") * 16)
    m = torch.tensor([0.1, 0.3, 0.6, 0.9])
    bits = 8 - torch.round(4 * m).long()
    torch.testing.assert_close(
        apply_operation("Posterize", x, m, torch.ones(4)), kornia.enhance.posterize(x, bits)
    )


def test_solarize() -> None:
    x = _images(4, 3)
    one = torch.ones(4)
    torch.testing.assert_close(apply_operation("Solarize", x, one, one), 1 - x)
    m = torch.tensor([0.1, 0.4, 0.6, 0.9])
    expected = kornia.enhance.solarize(x, (1 - m) * 256 / 255)
    torch.testing.assert_close(apply_operation("Solarize", x, m, one), expected)


def test_brightness_is_multiplicative() -> None:
    x = _images(2, 3)
    out = apply_operation("Brightness", x, torch.ones(2), torch.tensor([-1.0, 1.0]))
    torch.testing.assert_close(out[0], 0.1 * x[0])
    torch.testing.assert_close(out[1], (1.9 * x[1]).clamp(0, 1))


def test_equalize_matches_pil_and_kornia() -> None:
    levels, x = _levels_image(4, 3)
    out = apply_operation("Equalize", x, torch.zeros(4), torch.ones(4))
    torch.testing.assert_close(out, kornia.enhance.equalize(x))
    for image, level in zip(out, levels, strict=True):
        pil = Image.fromarray(level.permute(1, 2, 0).numpy().astype(np.uint8))
        reference = np.array(ImageOps.equalize(pil), dtype=np.float32).transpose(2, 0, 1)
        np.testing.assert_allclose(image.numpy() * 255, reference, atol=1e-3)
    flat = torch.full((1, 1, 8, 8), 0.5)  # a constant plane has step 0: left as it is
    torch.testing.assert_close(
        apply_operation("Equalize", flat, torch.zeros(1), torch.ones(1)), flat
    )


def test_sharpness_and_contrast_match_kornia() -> None:
    x = _images(6, 3)
    m, s = torch.rand(6, generator=_gen(2)), _signs(6, 2)
    factor = 1 + s * 0.9 * m
    torch.testing.assert_close(
        apply_operation("Sharpness", x, m, s), kornia.enhance.sharpness(x, factor)
    )
    torch.testing.assert_close(
        apply_operation("Contrast", x, m, s),
        kornia.enhance.adjust_contrast_with_mean_subtraction(x, factor),
    )


def test_auto_contrast_stretches_each_plane() -> None:
    x = _images(3, 3) * 0.5 + 0.2
    x[1, 2] = 0.3  # a constant plane stays as it is
    out = apply_operation("AutoContrast", x, torch.zeros(3), torch.ones(3))
    lo, hi = out.amin(dim=(2, 3)), out.amax(dim=(2, 3))
    assert torch.allclose(out[1, 2], x[1, 2])
    keep = torch.ones(3, 3, dtype=torch.bool)
    keep[1, 2] = False
    assert torch.allclose(lo[keep], torch.zeros(8)) and torch.allclose(hi[keep], torch.ones(8))


def test_apply_operation_rejects_bad_input() -> None:
    x = _images(2, 3)
    with pytest.raises(ValueError, match="unknown"):
        apply_operation("Invert", x, torch.zeros(2), torch.ones(2))
    with pytest.raises(ValueError, match="shape"):
        apply_operation("Rotate", x, torch.zeros(3), torch.ones(2))
    with pytest.raises(ValueError, match="float batch"):
        apply_operation("Rotate", _images(2, 2), torch.zeros(2), torch.ones(2))


# --- sampling and the policy loss (Eq. 2) ----------------------------------------------


def test_gumbel_max_sampling_matches_the_probabilities() -> None:
    policy = AugmentationPolicy()
    with torch.no_grad():
        policy.logits.copy_(torch.randn(K, K, generator=_gen(3)) * 1.5)
    pairs, weights = policy.sample(10_000, _gen(4))
    p = policy.probabilities().detach().double()
    torch.testing.assert_close(weights.detach(), policy.probabilities().detach()[pairs])
    observed = torch.bincount(pairs, minlength=K * K).double().numpy()
    expected = (p / p.sum() * pairs.numel()).numpy()
    small = expected < 5  # merge the cells with an expected count below 5 into one
    f_obs = np.append(observed[~small], observed[small].sum())
    f_exp = np.append(expected[~small], expected[small].sum())
    assert f_exp[-1] >= 5 and small.sum() < K * K / 2
    assert chisquare(f_obs, f_exp).pvalue > 0.001


def test_weights_carry_the_gradient_and_policy_loss_is_the_mean() -> None:
    policy = AugmentationPolicy()
    _, weights = policy.sample(32, _gen())
    losses = torch.rand(32, generator=_gen(1), requires_grad=True)
    loss = AugmentationPolicy.policy_loss(weights, losses)
    torch.testing.assert_close(loss, -(weights * losses).mean())
    loss.backward()
    assert policy.logits.grad is not None and policy.logits.grad.abs().sum() > 0
    assert losses.grad is None  # the training loss is detached in Eq. 2


def _step(
    policy: AugmentationPolicy, pairs: torch.Tensor, losses: torch.Tensor, optimiser: str
) -> None:
    opt: torch.optim.Optimizer
    if optimiser == "sgd":
        opt = torch.optim.SGD(policy.parameters(), lr=200.0)
    else:
        opt = torch.optim.Adam(policy.parameters(), lr=0.05)
    weights = policy.probabilities()[pairs]
    AugmentationPolicy.policy_loss(weights, losses).backward()
    opt.step()


@pytest.mark.parametrize("optimiser", ["sgd", "adam"])
def test_policy_loss_raises_the_pair_with_the_higher_loss(optimiser: str) -> None:
    policy = AugmentationPolicy()
    pairs, _ = policy.sample(256, _gen(5))
    hard = int(pairs[0])
    losses = torch.where(pairs == hard, 5.0, 1.0)
    once = [int(q) for q in pairs.unique() if int((pairs == q).sum()) == 1 and int(q) != hard]
    before = policy.probabilities().detach().clone()
    _step(policy, pairs, losses, optimiser)
    after = policy.probabilities().detach()
    assert after[hard] > before[hard]
    assert once and all(after[q] < before[q] for q in once)  # lowest-loss pairs fall


@pytest.mark.parametrize("optimiser", ["sgd", "adam"])
def test_policy_loss_with_every_pair_seen_equally(optimiser: str) -> None:
    policy = AugmentationPolicy()
    pairs = torch.arange(K * K).repeat(2)
    losses = torch.where(pairs == 17, 5.0, 1.0)
    before = policy.probabilities().detach().clone()
    _step(policy, pairs, losses, optimiser)
    after = policy.probabilities().detach()
    others = torch.arange(K * K) != 17
    assert after[17] > before[17] and (after[others] < before[others]).all()


# --- augmenting batches ----------------------------------------------------------------


def test_augment_is_grouped_by_operation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []

    def spy(
        name: str, x: torch.Tensor, magnitude: torch.Tensor, sign: torch.Tensor
    ) -> torch.Tensor:
        calls.append((name, x.shape[0]))
        return apply_operation(name, x, magnitude, sign)

    monkeypatch.setattr(policy_module, "apply_operation", spy)
    policy = AugmentationPolicy()
    pairs, _ = policy.sample(256, _gen())
    policy.augment(_images(256, 3, size=(8, 8)), pairs, _gen(1))
    assert len(calls) <= 2 * K
    assert len({name for name, _ in calls}) == len(calls) / 2  # each op once per stage
    ops = torch.stack([pairs // K, pairs % K])
    assert sum(size for _, size in calls) == int((ops != OPERATIONS.index("Identity")).sum())


def test_grouped_augmentation_equals_a_per_sample_loop() -> None:
    policy = AugmentationPolicy()
    x = _images(24, 3)
    pairs, _ = policy.sample(24, _gen(6))
    magnitudes, signs = policy.draw_magnitudes(24, _gen(7))
    out = policy.apply_pairs(x, pairs, magnitudes, signs)
    for i in range(24):
        y = x[i : i + 1]
        for stage, op in enumerate((int(pairs[i]) // K, int(pairs[i]) % K)):
            y = apply_operation(
                OPERATIONS[op], y, magnitudes[stage, i : i + 1], signs[stage, i : i + 1]
            )
        torch.testing.assert_close(out[i : i + 1], y, atol=1e-5, rtol=0)


def test_augment_is_deterministic_given_the_generator_and_keeps_input() -> None:
    policy = AugmentationPolicy()
    x = _images(64, 1, size=(12, 12))
    before = x.clone()
    pairs, _ = policy.sample(64, _gen())
    a, b = policy.augment(x, pairs, _gen(9)), policy.augment(x, pairs, _gen(9))
    assert torch.equal(a, b) and not torch.equal(a, policy.augment(x, pairs, _gen(10)))
    assert torch.equal(x, before)
    magnitudes, signs = policy.draw_magnitudes(1000, _gen())
    assert (
        magnitudes.min() >= 0
        and magnitudes.max() <= 0.8
        and set(signs.unique().tolist()) == {-1.0, 1.0}
    )


def test_augment_normalised_round_trips_and_keeps_the_weights_graph() -> None:
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    raw = _images(16, 3)
    x = (raw - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    identity = AugmentationPolicy(operations=("Identity",))
    out, pairs, weights = identity.augment_normalised(x, mean, std, _gen())
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    assert pairs.shape == (16,) and weights.shape == (16,)
    policy = AugmentationPolicy()
    out, pairs, weights = policy.augment_normalised(x, mean, std, _gen())
    again, pairs_again, _ = policy.augment_normalised(x, mean, std, _gen())
    assert torch.equal(out, again) and torch.equal(pairs, pairs_again)
    assert weights.requires_grad and not out.requires_grad and out.shape == x.shape
    with pytest.raises(ValueError, match="3 values"):
        policy.augment_normalised(x, mean[:1], std[:1], _gen())


def test_entropy_and_top_pairs() -> None:
    policy = AugmentationPolicy()
    assert policy.entropy() == pytest.approx(1.0)
    with torch.no_grad():
        policy.logits[OPERATIONS.index("Rotate"), OPERATIONS.index("Solarize")] = 10.0
    assert policy.entropy() < 0.5
    top = policy.top_pairs(3)
    assert len(top) == 3 and top[0][:2] == ("Rotate", "Solarize") and top[0][2] > 0.9
    assert top[0][2] >= top[1][2] >= top[2][2]


# --- serialisation ---------------------------------------------------------------------


def test_to_dict_round_trip(tmp_path: Path) -> None:
    policy = AugmentationPolicy(max_level=0.6)
    with torch.no_grad():
        policy.logits.copy_(torch.randn(K, K, generator=_gen()))
    d = json.loads(json.dumps(policy.to_dict()))
    back = AugmentationPolicy.from_dict(d)
    assert back.operations == policy.operations and back.max_level == 0.6
    torch.testing.assert_close(back.logits, policy.logits)
    policy.save(tmp_path / "policy.json")
    loaded = AugmentationPolicy.load(tmp_path / "policy.json")
    torch.testing.assert_close(loaded.probabilities(), policy.probabilities())


def _good() -> dict[str, Any]:
    return AugmentationPolicy().to_dict()


def _with(**changes: Any) -> dict[str, Any]:
    d = _good()
    d.update(changes)
    return d


BAD_DICTS: dict[str, Any] = {
    "not a mapping": [1, 2],
    "missing logits": {k: v for k, v in _good().items() if k != "logits"},
    "unknown op": _with(operations=["Invert", *OPERATIONS[1:]]),
    "repeated op": _with(operations=["Rotate", *OPERATIONS[1:]]),
    "wrong shape": _with(logits=[[0.0] * K] * (K - 1)),
    "ragged": _with(logits=[[0.0] * K] * (K - 1) + [[0.0]]),
    "not finite": _with(logits=[[math.nan] * K] * K),
    "infinite": _with(logits=[[0.0] * K] * (K - 1) + [[math.inf] + [0.0] * (K - 1)]),
    "strings": _with(logits=[["0"] * K] * K),
    "max_level too big": _with(max_level=8),
    "max_level not a number": _with(max_level="0.8"),
}


@pytest.mark.parametrize("case", list(BAD_DICTS))
def test_bad_dicts_raise_user_error(case: str) -> None:
    with pytest.raises(UserError) as info:
        AugmentationPolicy.from_dict(BAD_DICTS[case])
    assert "\n" not in str(info.value)


def test_load_reports_bad_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        AugmentationPolicy.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="JSON"):
        AugmentationPolicy.load(tmp_path / "bad.json")
    (tmp_path / "short.json").write_text(json.dumps(_with(logits=[[0.0]])))
    with pytest.raises(UserError, match=r"short\.json.*logits"):
        AugmentationPolicy.load(tmp_path / "short.json")
