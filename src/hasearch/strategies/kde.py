"""BOHB's model (Falkner et al. 2018, Sec. 3.1 and Alg. 2): a pair of KDEs per budget.

For each budget b with N_b >= N_min + 2 observations (N_min = d + 1), the configurations
are split by loss into the best n_l = max(N_min, q N_b) ("good", q = 15%) and the worst
n_g = max(N_min, N_b - n_l) ("bad"), as in the paper (the two sets may overlap when N_b
is small). Each set is modelled by a statsmodels ``KDEMultivariate`` with normal-reference
bandwidths clipped at ``min_bandwidth``; continuous and integer parameters live in
ConfigSpace's [0, 1] vector space (log scale handled there) as type 'c', ordinals as 'c'
over their normalised index, categoricals as 'u'. New configurations come from the model
of the largest budget that has one: with probability ``random_fraction`` (or with no
model) from the prior, else the best of ``num_samples`` candidates drawn around random
good points (bandwidth x ``bandwidth_factor``) by l(x)/g(x).

Unlike the reference implementation (HpBandSter) this keeps every observation on every
budget (the reference drops results on budgets below the largest modelled one) and
imputes every inactive column (the reference's imputation loop can stop after column 0).

Opt-in departure from the paper (``adaptive_floor``, off by default): with the fixed 1e-3
floor the good KDE collapses once its points cluster, and BOHB then only creeps around
them (docs/benchmarks.md, BOHB ablation). ``adaptive_floor=s`` also bounds every
continuous bandwidth of a KDE on n points below by s / min(100, n + 1), the prior-width
"magic clip" of hyperopt's TPE (Bergstra et al. 2011) scaled by s.
"""

from __future__ import annotations

import math

import ConfigSpace as CS
import numpy as np
from scipy.stats import truncnorm
from statsmodels.nonparametric.kernel_density import KDEMultivariate

from hasearch.checks import require_number
from hasearch.space import Kind, SearchSpace
from hasearch.strategies.searchers import Searcher

_FLOOR = 1e-32


def _check_model_settings(top_n_percent: float, num_samples: int, random_fraction: float, bandwidth_factor: float, min_bandwidth: float) -> None:
    """BOHB's settings in their meaningful ranges (HpBandSter accepts any value and fails later, or never learns)."""
    require_number("top_n_percent", top_n_percent, "a number in (0, 100)", lambda v: 0 < v < 100)
    require_number("num_samples", num_samples, "an integer in [1, 100000]", lambda v: 1 <= v <= 100_000, integer=True)
    require_number("random_fraction", random_fraction, "a number in [0, 1]", lambda v: 0 <= v <= 1)
    require_number("bandwidth_factor", bandwidth_factor, "a positive finite number", lambda v: 0 < v < math.inf)
    require_number("min_bandwidth", min_bandwidth, "a positive finite number", lambda v: 0 < v < math.inf)


class KDESearcher(Searcher):
    """The BOHB searcher.

    Args:
        space: The search space.
        seed: Seed of all sampling.
        top_n_percent: q of the good/bad split, in percent.
        num_samples: Candidates scored by l(x)/g(x) per suggestion.
        random_fraction: Share of suggestions drawn from the prior.
        bandwidth_factor: Widening of the good KDE's bandwidth when sampling candidates.
        min_bandwidth: Lower bound of every KDE bandwidth.
        min_points_in_model: N_min; values below d + 1 are raised to d + 1.
        adaptive_floor: If given, scale s of a second bandwidth floor s / min(100, n + 1)
            that shrinks with the n points of each KDE (not in Falkner et al.; see above).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        top_n_percent: float = 15.0,
        num_samples: int = 64,
        random_fraction: float = 1 / 3,
        bandwidth_factor: float = 3.0,
        min_bandwidth: float = 1e-3,
        min_points_in_model: int | None = None,
        adaptive_floor: float | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        if adaptive_floor is not None:
            require_number("adaptive_floor", adaptive_floor, "None or a positive finite number", lambda v: 0 < v < math.inf)
        if min_points_in_model is not None:
            require_number("min_points_in_model", min_points_in_model, "None or an integer >= 1", lambda v: v >= 1, integer=True)
        _check_model_settings(top_n_percent, num_samples, random_fraction, bandwidth_factor, min_bandwidth)
        self.adaptive_floor = adaptive_floor
        self.hps = list(space.configspace.values())
        d = len(self.hps)
        self.min_points = max(d + 1, int(min_points_in_model or 0))
        self.top_n_percent = top_n_percent
        self.num_samples = num_samples
        self.random_fraction = random_fraction
        self.bandwidth_factor = bandwidth_factor
        self.min_bandwidth = min_bandwidth
        self.var_types = "".join("u" if isinstance(h, CS.CategoricalHyperparameter) else "c" for h in self.hps)
        self.cardinality = np.array([_cardinality(h) for h in self.hps])
        self._categorical = np.array([t == "u" for t in self.var_types])
        # Aitchison-Aitken's lambda is valid in [0, (c-1)/c]; larger values make the
        # kernel of the observed category smaller than that of the others.
        self._max_bandwidth = np.where(
            self._categorical, (np.maximum(self.cardinality, 2) - 1) / np.maximum(self.cardinality, 2), np.inf
        )
        self.observations: dict[float, list[tuple[np.ndarray, float]]] = {}
        self._models: dict[float, tuple[KDEMultivariate, KDEMultivariate]] = {}

    # ------------------------------------------------------------- observing
    def observe(self, config: CS.Configuration, budget: float, loss: float) -> None:
        self.observations.setdefault(budget, []).append((self._to_vector(config), loss))
        self._models.pop(budget, None)  # refit lazily on the next suggestion

    def _to_vector(self, config: CS.Configuration) -> np.ndarray:
        vector = np.asarray(config.get_array(), dtype=float).copy()
        ordinal = [i for i, h in enumerate(self.hps) if isinstance(h, CS.OrdinalHyperparameter)]
        for i in ordinal:
            vector[i] = vector[i] / max(1, self.cardinality[i] - 1)
        return vector

    def model_budget(self) -> float | None:
        """The largest budget with enough observations for a model (Alg. 2)."""
        ready = [b for b, obs in self.observations.items() if len(obs) >= self.min_points + 2]
        return max(ready) if ready else None

    def _model(self, budget: float) -> tuple[KDEMultivariate, KDEMultivariate]:
        if budget not in self._models:
            self._models[budget] = self._fit(self.observations[budget])
        return self._models[budget]

    def _fit(self, observations: list[tuple[np.ndarray, float]]) -> tuple[KDEMultivariate, KDEMultivariate]:
        vectors = np.array([v for v, _ in observations])
        losses = np.array([loss for _, loss in observations])
        order = np.argsort(losses, kind="stable")
        n = len(observations)
        n_good = max(self.min_points, int(self.top_n_percent * n) // 100)
        n_bad = max(self.min_points, n - n_good)
        good = self._impute(vectors[order[:n_good]])
        bad = self._impute(vectors[order[-n_bad:]])
        kdes = []
        for data in (good, bad):
            kde = KDEMultivariate(data=data, var_type=self.var_types, bw="normal_reference", rng=self.rng)
            kde.bw = np.clip(kde.bw, self._min_bandwidths(len(data)), self._max_bandwidth)
            kdes.append(kde)
        return kdes[0], kdes[1]

    def _min_bandwidths(self, n_points: int) -> np.ndarray:
        """Per-dimension floor: ``min_bandwidth``, raised for continuous dimensions by the adaptive floor."""
        floor = np.full(len(self.hps), self.min_bandwidth)
        if self.adaptive_floor is not None:
            shrinking = self.adaptive_floor / min(100, n_points + 1)
            floor[~self._categorical] = max(self.min_bandwidth, shrinking)
        return floor

    def _impute(self, data: np.ndarray) -> np.ndarray:
        """Replace inactive (NaN) entries: a random active value of the same column, else random."""
        data = data.copy()
        for col in range(data.shape[1]):
            missing = np.isnan(data[:, col])
            if not missing.any():
                continue
            active = data[~missing, col]
            if active.size:
                data[missing, col] = self.rng.choice(active, size=int(missing.sum()))
            else:
                data[missing, col] = self._random_column(col, int(missing.sum()))
        return data

    def _random_column(self, col: int, size: int) -> np.ndarray:
        if self.var_types[col] == "u":
            return self.rng.integers(0, self.cardinality[col], size=size).astype(float)
        return self.rng.random(size)

    # ------------------------------------------------------------- suggesting
    def suggest(self) -> CS.Configuration:
        budget = self.model_budget()
        if budget is None or self.rng.random() < self.random_fraction:
            return self.space.sample(self.rng)
        good, bad = self._model(budget)
        candidates = self._candidates(good)
        score = np.maximum(self.pdf(good, candidates), _FLOOR) / np.maximum(self.pdf(bad, candidates), _FLOOR)
        for index in np.argsort(-score, kind="stable"):  # the best candidate under the space's limit, if any
            config = self._to_configuration(candidates[index])
            if self.space.feasible(config):
                return config
        return self.space.sample(self.rng)

    def pdf(self, kde: KDEMultivariate, points: np.ndarray) -> np.ndarray:
        """``kde``'s density at ``points`` (M, d), vectorised over points.

        The same product kernel as ``KDEMultivariate.pdf`` (Gaussian for 'c',
        Aitchison-Aitken for 'u'), but with each categorical's true number of levels:
        statsmodels counts the levels present in the training data, which divides by zero
        when all good points share a category.
        """
        diff = points[:, None, :] - kde.data[None, :, :]
        bw = kde.bw
        kernel = np.exp(-0.5 * (diff / bw) ** 2) / math.sqrt(2 * math.pi)
        cat = self._categorical
        if cat.any():
            others = bw[cat] / np.maximum(self.cardinality[cat] - 1, 1)
            kernel[..., cat] = np.where(diff[..., cat] == 0, 1.0 - bw[cat], others)
        return kernel.prod(axis=-1).mean(axis=1) / np.prod(bw[~cat])

    def _candidates(self, good: KDEMultivariate) -> np.ndarray:
        """``num_samples`` points around random good points (Alg. 2, line 6)."""
        data = good.data
        centres = data[self.rng.integers(0, len(data), size=self.num_samples)]
        out = centres.copy()
        for col, kind in enumerate(self.var_types):
            bw = good.bw[col]
            if kind == "u":
                resample = self.rng.random(self.num_samples) < bw
                out[resample, col] = self.rng.integers(0, self.cardinality[col], size=int(resample.sum()))
            else:
                sd = bw * self.bandwidth_factor
                a, b = (0.0 - centres[:, col]) / sd, (1.0 - centres[:, col]) / sd
                out[:, col] = truncnorm.rvs(a, b, loc=centres[:, col], scale=sd, random_state=self.rng)
        return out

    def _to_configuration(self, vector: np.ndarray) -> CS.Configuration:
        values = {}
        for value, hp in zip(vector, self.hps, strict=True):
            spec = self.space[hp.name]
            if spec.kind in (Kind.CATEGORICAL, Kind.ORDINAL):
                index = round(value * (len(spec.choices) - 1)) if spec.kind is Kind.ORDINAL else int(value)
                values[hp.name] = spec.choices[min(max(index, 0), len(spec.choices) - 1)]
            else:
                values[hp.name] = hp.to_value(np.array([min(max(value, 0.0), 1.0)]))[0]
        return self.space.configuration(values)  # deactivates inactive parameters


def _cardinality(hp: CS.hyperparameters.Hyperparameter) -> int:
    if isinstance(hp, CS.CategoricalHyperparameter):
        return len(hp.choices)
    if isinstance(hp, CS.OrdinalHyperparameter):
        return len(hp.sequence)
    return 0

