"""DHA (seed 001): one-stage joint search of the data-augmentation policy, hyperparameters
(hypergradients) and architecture (ISTA-NAS) that returns a trained network.

* :mod:`~hasearch.dha.ops`, :mod:`~hasearch.dha.policy`: the 14 operations and the
  differentiable policy over their 196 ordered pairs (Sec. 3.1, Eq. 2);
* :mod:`~hasearch.dha.hypergrad`: lr and weight decay by one-step hypergradients (Eq. 3-4);
* :mod:`~hasearch.dha.ista`, :mod:`~hasearch.dha.ista_cells`: ISTA-NAS sparse codes on the
  ``darts`` cell space (Eq. 5-7); :mod:`~hasearch.dha.architecture`: the protocol and the
  Gumbel relaxation of the MBConv choices;
* :mod:`~hasearch.dha.engine`: one iteration of Alg. 1; :mod:`~hasearch.dha.components`:
  which parts a stage searches; :mod:`~hasearch.dha.strategy`: :class:`DHA` (one-stage,
  sequential, ablations), checkpoints, the result.
"""

from hasearch.dha.policy import AugmentationPolicy
from hasearch.dha.strategy import DHA, DHAOptions

__all__ = ["DHA", "AugmentationPolicy", "DHAOptions"]
