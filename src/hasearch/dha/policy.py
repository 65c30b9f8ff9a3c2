"""The differentiable data-augmentation policy of DHA (Sec. 3.1, Eq. 2).

The policy ``tau`` is a distribution over the ``K x K`` ordered pairs of operations of
:mod:`hasearch.dha.ops` (K = 14: 196 transformations, uniform at the start). Each training
sample ``x_k`` is augmented by a pair ``T_k`` drawn from it (first operation, then second),
and ``tau`` is trained on

    L_DA(tau) = -mean_k p_k(tau) * L_tr(f(T_k(x_k)))                       (Eq. 2)

which raises the probability of transformations that give a high training loss (adversarial
augmentation; the uniform magnitudes keep it from drifting to ever heavier ones, Sec. 3.1).

Departures from the paper and its reference code (kaichen-z/DHA):

- **mean instead of sum** over the batch in Eq. 2, so the policy's learning rate does not
  depend on the batch size;
- **Gumbel-max sampling**: a pair is ``argmax(log p + Gumbel noise)`` (an exact sample of
  ``p``); its probability ``p_k`` is the importance weight that carries the gradient, as in
  Eq. 2, instead of the Gumbel-softmax relaxation the paper names;
- **signs**: signed operations (rotate, shear, translate, the four enhance ops) get a random
  direction per sample, as in AutoAugment / PIL implementations;
- **magnitudes**: uniform in ``[0, max_level]`` (level / 10; ``max_level = 0.8`` as the
  reference clips at level 8 of 10), mapped to each operation's range as tabled in
  :mod:`hasearch.dha.ops`;
- augmentation runs on whole batches in the main process (the reference mutates dataset op
  weights that DataLoader workers never see), grouped by operation: at most 2 x K vectorised
  calls per batch.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hasearch.dha.ops import OPERATIONS, apply_operation
from hasearch.errors import UserError
from hasearch.store.run_dir import writing_file

IDENTITY = "Identity"


def _check_max_level(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise UserError(f"augmentation policy: max_level must be a number in (0, 1], got {value!r}")
    return float(value)


def _check_operations(names: object) -> tuple[str, ...]:
    if not isinstance(names, (list, tuple)) or not names:
        raise UserError("augmentation policy: operations must be a non-empty list of names")
    for name in names:
        if name not in OPERATIONS:
            raise UserError(
                f"augmentation policy: unknown operation {name!r}; known: {', '.join(OPERATIONS)}"
            )
    if len(set(names)) != len(names):
        raise UserError("augmentation policy: operations must not repeat a name")
    return tuple(names)


class AugmentationPolicy(nn.Module):
    """A learnable distribution over ordered pairs of augmentation operations (Sec. 3.1).

    Args:
        max_level: magnitudes are drawn uniformly from ``[0, max_level]`` (level / 10).
        operations: the operation names, a subset of :data:`hasearch.dha.ops.OPERATIONS`.
    """

    def __init__(self, *, max_level: float = 0.8, operations: Sequence[str] = OPERATIONS) -> None:
        super().__init__()
        self.max_level = _check_max_level(max_level)
        self.operations = _check_operations(tuple(operations))
        k = len(self.operations)
        self.logits = nn.Parameter(torch.zeros(k, k))  # uniform over the K*K pairs at start

    @property
    def num_pairs(self) -> int:
        """K * K, the number of transformations."""
        return self.logits.numel()

    def probabilities(self) -> Tensor:
        """``(K * K,)`` probability of each ordered pair; pair ``i * K + j`` = op i then op j."""
        return torch.softmax(self.logits.flatten(), dim=0)

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Draw ``n`` pairs by the Gumbel-max trick and return them with their probabilities.

        Returns:
            ``pairs`` ``(n,)`` long on the logits' device, and ``weights`` ``(n,)`` =
            ``p(pairs)``, differentiable w.r.t. the logits (the ``p_k(tau)`` of Eq. 2).
        """
        uniform = torch.rand(n, self.num_pairs, generator=generator, device=generator.device)
        tiny = torch.finfo(uniform.dtype).tiny
        gumbel = -torch.log(-torch.log(uniform.clamp_min(tiny)))
        log_p = torch.log_softmax(self.logits.detach().flatten(), dim=0)
        pairs = torch.argmax(log_p + gumbel.to(log_p.device), dim=1)
        weights = self.probabilities()[pairs]
        return pairs, weights

    def draw_magnitudes(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``(2, n)`` magnitudes uniform in ``[0, max_level]`` and ``(2, n)`` signs of +-1.

        Row 0 is for the first operation of each sample's pair, row 1 for the second.
        """
        magnitudes = torch.rand(2, n, generator=generator, device=generator.device) * self.max_level
        signs = torch.randint(0, 2, (2, n), generator=generator, device=generator.device) * 2 - 1
        return magnitudes, signs.to(magnitudes.dtype)

    def augment(self, x01: Tensor, pairs: Tensor, generator: torch.Generator) -> Tensor:
        """Augment each image of ``x01`` (in [0, 1]) by its pair, magnitudes from ``generator``."""
        magnitudes, signs = self.draw_magnitudes(x01.shape[0], generator)
        return self.apply_pairs(x01, pairs, magnitudes, signs)

    def apply_pairs(self, x01: Tensor, pairs: Tensor, magnitudes: Tensor, signs: Tensor) -> Tensor:
        """Apply each sample's pair (first op, then second) with the given magnitudes and signs.

        Grouped by operation: one vectorised call per operation present in each of the two
        stages (Identity is skipped), so at most ``2 * K`` calls whatever the batch size.

        Args:
            x01: float batch ``(n, C, H, W)`` in [0, 1]; not modified.
            pairs: ``(n,)`` pair indices in ``[0, K * K)``.
            magnitudes, signs: ``(2, n)``, as from :meth:`draw_magnitudes`.
        """
        n, k = x01.shape[0], len(self.operations)
        if pairs.shape != (n,) or magnitudes.shape != (2, n) or signs.shape != (2, n):
            raise ValueError(f"pairs must be ({n},) and magnitudes/signs (2, {n}) for {n} images")
        pairs = pairs.to(x01.device)
        if n and (int(pairs.min()) < 0 or int(pairs.max()) >= self.num_pairs):
            raise ValueError(f"pair indices must lie in [0, {self.num_pairs})")
        stages = torch.stack([pairs // k, pairs % k])  # (2, n): first op, second op
        magnitudes, signs = magnitudes.to(x01.device), signs.to(x01.device)
        # Rows of `out` are kept sorted by the current stage's op; `rows` says which sample
        # each row holds, so the batch is permuted once per stage and once back at the end.
        out, rows = x01, torch.arange(n, device=x01.device)
        for stage in range(2):
            order = torch.argsort(stages[stage].index_select(0, rows), stable=True)
            rows = rows.index_select(0, order)
            out = self._apply_sorted(
                out.index_select(0, order),
                stages[stage].index_select(0, rows),
                magnitudes[stage].index_select(0, rows),
                signs[stage].index_select(0, rows),
            )
        inverse = torch.empty_like(rows)
        inverse[rows] = torch.arange(n, device=rows.device)
        return out.index_select(0, inverse)  # a new tensor in the batch order

    def _apply_sorted(self, x: Tensor, ops: Tensor, magnitudes: Tensor, signs: Tensor) -> Tensor:
        """One op per row, rows sorted by op: one vectorised call per op present."""
        counts = torch.bincount(ops, minlength=len(self.operations)).tolist()
        groups = zip(
            self.operations,
            x.split(counts),
            magnitudes.split(counts),
            signs.split(counts),
            strict=True,
        )
        pieces = [
            xs if name == IDENTITY or xs.shape[0] == 0 else apply_operation(name, xs, ms, ss)
            for name, xs, ms, ss in groups
        ]
        return torch.cat(pieces)

    def augment_normalised(
        self,
        x: Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Sample pairs for a per-channel normalised batch and augment it.

        ``x = (raw - mean) / std`` with raw in [0, 1]; the batch is un-normalised, clamped to
        [0, 1], augmented and re-normalised. The pairs are drawn before the magnitudes, both
        from ``generator``.

        Returns:
            ``(augmented batch, pairs, weights)``; only ``weights`` carries a graph (Eq. 2).
        """
        channels = x.shape[1]
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean and std need {channels} values, got {len(mean)} and {len(std)}")
        pairs, weights = self.sample(x.shape[0], generator)
        with torch.no_grad():
            m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            raw = (x * s + m).clamp_(0.0, 1.0)
            augmented = (self.augment(raw, pairs, generator) - m) / s
        return augmented, pairs, weights

    @staticmethod
    def policy_loss(weights: Tensor, losses: Tensor) -> Tensor:
        """Eq. 2: ``-(p_k * L_k.detach()).mean()`` over the batch.

        The mean (the paper sums) keeps the gradient scale independent of the batch size.
        Minimising it raises the probability of pairs that gave a high training loss.
        """
        return -(weights * losses.detach()).mean()

    def entropy(self) -> float:
        """Entropy of the pair distribution divided by ``log(K * K)``: 1 = uniform, 0 = one pair."""
        with torch.no_grad():
            p = self.probabilities().double()
            h = -(p * torch.log(p.clamp_min(1e-300))).sum().item()
        return h / math.log(self.num_pairs) if self.num_pairs > 1 else 0.0

    def top_pairs(self, k: int = 5) -> list[tuple[str, str, float]]:
        """The ``k`` most probable pairs as ``(first op, second op, probability)``."""
        with torch.no_grad():
            p = self.probabilities()
            values, indices = torch.topk(p, min(k, self.num_pairs))
        size = len(self.operations)
        return [
            (self.operations[i // size], self.operations[i % size], float(v))
            for v, i in zip(values.tolist(), indices.tolist(), strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description: operations, max_level and the logits as nested lists."""
        return {
            "operations": list(self.operations),
            "max_level": self.max_level,
            "logits": self.logits.detach().cpu().double().tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AugmentationPolicy:
        """Rebuild a policy from :meth:`to_dict`'s output.

        Raises:
            UserError: with one line naming the problem (missing key, unknown or repeated
                operation, max_level out of range, logits of the wrong shape or not finite).
        """
        if not isinstance(d, Mapping):
            raise UserError(f"augmentation policy: expected a mapping, got {type(d).__name__}")
        missing = [key for key in ("operations", "max_level", "logits") if key not in d]
        if missing:
            raise UserError(f"augmentation policy: missing {', '.join(missing)}")
        policy = cls(max_level=d["max_level"], operations=_check_operations(d["operations"]))
        logits = _check_logits(d["logits"], len(policy.operations))
        with torch.no_grad():
            policy.logits.copy_(logits)
        return policy

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as JSON at ``path`` (atomically: old file or new one)."""
        with writing_file(Path(path)) as tmp:  # RunNotWritable (a UserError) naming the file
            tmp.write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AugmentationPolicy:
        """Read a policy written by :meth:`save`; problems raise a one-line :class:`UserError`."""
        target = Path(path)
        try:
            data = json.loads(target.read_text())
        except FileNotFoundError:
            raise UserError(f"{str(target)!r} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            kind = type(exc).__name__
            raise UserError(f"{str(target)!r} is not a readable JSON file ({kind})") from None
        try:
            return cls.from_dict(data)
        except UserError as exc:
            raise UserError(f"{str(target)!r}: {exc}") from None


def _check_logits(value: object, k: int) -> Tensor:
    """The ``(k, k)`` logits as a tensor, or a UserError naming what is wrong."""
    if not isinstance(value, list) or len(value) != k:
        raise UserError(f"augmentation policy: logits must be a {k}x{k} list of lists")
    for row in value:
        if not isinstance(row, list) or len(row) != k:
            raise UserError(f"augmentation policy: logits must be a {k}x{k} list of lists")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise UserError("augmentation policy: logits must hold numbers only")
    logits = torch.tensor(value, dtype=torch.float64).float()
    if not torch.isfinite(logits).all():
        raise UserError("augmentation policy: logits must be finite (as float32)")
    return logits
