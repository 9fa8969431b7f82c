"""Stochastic interpolants: paths, couplings, velocity/score losses, ODE/SDE samplers, likelihoods, multimarginal.

An interpolant $x_t=\\alpha(t)x_0+\\beta(t)x_1+\\gamma(t)z$ bridges two distributions; its velocity, score
and denoiser are minimisers of quadratic losses, and the learned fields transport samples with an ODE
or SDE (diffrax) and give likelihoods through the instantaneous change of variables.
"""

from ._coupling import COUPLINGS as COUPLINGS
from ._coupling import AbstractCoupling as AbstractCoupling
from ._coupling import ExactOT as ExactOT
from ._coupling import IndependentCoupling as IndependentCoupling
from ._coupling import SinkhornOT as SinkhornOT
from ._coupling import linear_assignment as linear_assignment
from ._coupling import ot_pairs as ot_pairs
from ._coupling import schrodinger_bridge as schrodinger_bridge
from ._fields import ConditionedField as ConditionedField
from ._fields import ImageField as ImageField
from ._fields import TimeField as TimeField
from ._fields import condition as condition
from ._interpolant import GAMMAS as GAMMAS
from ._interpolant import interpolant_names as interpolant_names
from ._interpolant import Interpolant as Interpolant
from ._interpolant import brownian_bridge as brownian_bridge
from ._interpolant import encoder_decoder as encoder_decoder
from ._interpolant import linear as linear
from ._interpolant import mirror as mirror
from ._interpolant import one_sided as one_sided
from ._interpolant import trig as trig
from ._likelihood import bits_per_dim as bits_per_dim
from ._likelihood import dequantize as dequantize
from ._losses import denoiser_loss as denoiser_loss
from ._losses import score_from_denoiser as score_from_denoiser
from ._losses import score_loss as score_loss
from ._losses import velocity_from_parts as velocity_from_parts
from ._losses import velocity_loss as velocity_loss
from ._metrics import mmd as mmd
from ._metrics import nll as nll
from ._metrics import straightness as straightness
from ._metrics import wasserstein2 as wasserstein2
from ._metrics import wasserstein2_euler as wasserstein2_euler
from ._multimarginal import AbstractSimplexPath as AbstractSimplexPath
from ._multimarginal import BezierSimplexPath as BezierSimplexPath
from ._multimarginal import Multimarginal as Multimarginal
from ._multimarginal import SimplexEdge as SimplexEdge
from ._multimarginal import interpolate_simplex as interpolate_simplex
from ._multimarginal import multimarginal_loss as multimarginal_loss
from ._multimarginal import transport as transport
from ._multimarginal import transport_cost as transport_cost
from ._sample import log_likelihood as log_likelihood
from ._sample import sample as sample
from ._schedules import AbstractGamma as AbstractGamma
from ._schedules import AbstractSchedule as AbstractSchedule
from ._schedules import Constant as Constant
from ._schedules import Cosine as Cosine
from ._schedules import HalfCosineSquared as HalfCosineSquared
from ._schedules import Linear as Linear
from ._schedules import QuadraticGamma as QuadraticGamma
from ._schedules import Sine as Sine
from ._schedules import SineSquaredGamma as SineSquaredGamma
from ._schedules import SqrtGamma as SqrtGamma
from ._schedules import ZeroGamma as ZeroGamma
