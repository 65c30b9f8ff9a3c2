"""NES (seed 003): ordered architecture hyperparameters by natural-evolution-strategy
gradients on a weight-sharing network under a resource target, and the uniform-rescale
baselines it is compared with.

* :mod:`~hasearch.nes.coordinates`: H, the searched parameters as real coordinates;
* :mod:`~hasearch.nes.estimator`: the NES gradient, update and schedules (Eq. 5-9);
* :mod:`~hasearch.nes.target`: resource targets, the final projection, uniform rescaling;
* :mod:`~hasearch.nes.strategy`: the search (Alg. 1); :mod:`~hasearch.nes.history`: its record;
* :mod:`~hasearch.nes.uniform`: the uniform-rescale baselines as strategies.
"""

from hasearch.nes.strategy import NES, NESOptions
from hasearch.nes.uniform import UniformRescale

__all__ = ["NES", "NESOptions", "UniformRescale"]
