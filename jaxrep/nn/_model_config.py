"""`ModelConfig`: the description of a `jaxrep.nn` backbone that `build_model` instantiates.

It lives with the networks (not in `jaxrep.config`) so that families using `build_model` (e.g.
`jaxrep.pinn`) need no config layer; `jaxrep.config` re-exports it for YAML files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from .._validate import check_positive


@dataclass(frozen=True)
class ModelConfig:
    """A `jaxrep.nn` backbone, built by `jaxrep.nn.build_model`.

    `kind` picks the family; the other fields are read by the kinds that use them
    (`width_size`/`depth`/`activation` by mlp and siren, `basis`/`grid_size`/`order`/`layers` by KANs).
    `fourier_features > 0` puts a random Fourier-feature embedding with that many frequencies
    (standard deviation `fourier_scale`) in front of the backbone; `periods` (a period or `None` per
    input) an exactly periodic embedding with `n_harmonics` harmonics before it. `modified_mlp` is
    Wang-Teng-Perdikaris' gated MLP (`depth` = L >= 1 gated layers, i.e. L + 1 hidden dense layers besides
    the two encoders), `pirate` a PirateNet of `n_blocks` adaptive residual blocks; both take random
    weight factorisation `rwf = [mean, std]`.
    """

    kind: Literal["mlp", "siren", "kan", "fourier_kan", "modified_mlp", "pirate"] = "mlp"
    width_size: int = 64
    depth: int = 3
    activation: str = "tanh"
    omega0: float = 30.0
    basis: str = "bspline"
    grid_size: int = 5
    order: int = 3
    hidden: tuple[int, ...] = (16, 16)
    fourier_features: int = 0
    fourier_scale: float = 1.0
    periods: Optional[tuple[Optional[float], ...]] = None
    n_harmonics: int = 1
    rwf: Optional[tuple[float, float]] = None
    n_blocks: int = 3

    def __post_init__(self):
        if self.width_size < 1 or self.depth < 0:
            raise ValueError(
                f"model.width_size must be >= 1 and model.depth >= 0, got {self.width_size}, {self.depth}"
            )
        if self.fourier_features < 0:
            raise ValueError(f"model.fourier_features must be >= 0, got {self.fourier_features}")
        check_positive(self.fourier_scale, "model.fourier_scale")
        if self.n_harmonics < 1:
            raise ValueError(f"model.n_harmonics must be >= 1, got {self.n_harmonics}")
        if self.n_blocks < 1:
            raise ValueError(f"model.n_blocks must be >= 1, got {self.n_blocks}")
        if self.rwf is not None:
            import math

            ok = len(self.rwf) == 2 and all(math.isfinite(v) for v in self.rwf) and self.rwf[1] >= 0
            if not ok:
                raise ValueError(f"model.rwf must be [mean, std] (finite, std >= 0), got {list(self.rwf)}")
        if self.periods is not None:
            for i, L in enumerate(self.periods):
                if L is not None and not (isinstance(L, (int, float)) and 0 < L < float("inf")):
                    raise ValueError(f"model.periods[{i}] must be null or a finite period > 0, got {L!r}")
        if self.kind == "modified_mlp" and self.depth < 1:
            raise ValueError(f"model.depth must be >= 1 for kind modified_mlp, got {self.depth}")
