"""Attribution methods for recurrent skeleton classifiers, one module each, one interface, and the
metrics that say which of them a user can trust (issue 18; docs/design.md, "The package's layers").

Every method is an :class:`~.base.Attribution`: ``method(model, x, length, target) -> (N, T, J)``
(importance >= 0, zero after each length)::

    local                       Patil et al. Eq. 1-5 (the paper's; skelvis.saliency)
    through_time                |gradient| of the last frame's class logit (skelvis.saliency)
    gradient_x_input            input x gradient (captum InputXGradient)
    integrated_gradients        from the first frame held still (captum IntegratedGradients)
    integrated_gradients_zeros  from the all-zero input
    smoothgrad                  SmoothGrad of the through-time |gradient| (captum NoiseTunnel)
    occlusion                   logit lost when a joint is frozen to its parent for a window (captum FeatureAblation)
    limb_occlusion              logit lost when a whole limb is held at a pose outside a window (first frame)
    lrp                         class-level LRP through the LSTM/GRU (skelvis.relevance)
    random                      a seeded uniform map, the floor

Metrics (per sequence, then a bootstrap interval of the mean): :mod:`.ground_truth` (class-joint
mass, pointing game, shortcut mass, and which map separates a model that uses the planted cue
from a control that does not), :mod:`.deletion` (deletion and insertion AUC with the
bone-preserving freeze of :mod:`.perturbation`), :mod:`.faithfulness_correlation`,
:mod:`.randomisation` (cascading model-parameter randomisation), :mod:`.sensitivity`
(max-sensitivity under sensor noise, and the rank correlation of two training seeds' maps);
:mod:`.benchmark` runs them all and writes the table.
"""
from __future__ import annotations

from .base import Attribution, joint_importance
from .gradient_x_input import GradientXInput
from .integrated_gradients import IntegratedGradients, IntegratedGradientsZeros
from .limb_occlusion import LimbOcclusion
from .local import Local
from .lrp import ClassLRP
from .occlusion import Occlusion
from .random_map import RandomMap
from .smoothgrad import SmoothGrad
from .through_time import ThroughTime

__all__ = [
    "METHODS",
    "Attribution",
    "ClassLRP",
    "GradientXInput",
    "IntegratedGradients",
    "IntegratedGradientsZeros",
    "LimbOcclusion",
    "Local",
    "Occlusion",
    "RandomMap",
    "SmoothGrad",
    "ThroughTime",
    "joint_importance",
]

#: name -> method class, in the order of the benchmark's table
METHODS: dict[str, type[Attribution]] = {c.name: c for c in (
    Local, ThroughTime, GradientXInput, IntegratedGradients, IntegratedGradientsZeros, SmoothGrad, Occlusion,
    LimbOcclusion, ClassLRP, RandomMap)}
