"""`task: inr` — fit an image with a Fourier-KAN (FKAN) and a SIREN of equal parameter count.

Both networks map pixel coordinates in $[-1, 1]^2$ to intensities and are trained for the same number of
full-batch steps through `jaxrep.train.fit`; the summary reports PSNR and SSIM of each reconstruction
and `figures/reconstruction.png` shows them next to the target.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from dataclasses import dataclass, field
from typing import Literal

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ..config import TrainConfig
from ..data import image_coordinates, load_image, psnr, ssim
from ..nn import SIREN, FourierKAN, get_activation
from ._common import save_figure, train


@dataclass(frozen=True)
class ImageConfig:
    name: Literal["grace_hopper", "test_pattern"] = "grace_hopper"
    size: int = 64
    grayscale: bool = True


@dataclass(frozen=True)
class FourierKANConfig:
    num_frequencies: int = 32
    width_size: int = 64
    depth: int = 3
    activation: str = "gelu"
    learning_rate: float = 2e-3


@dataclass(frozen=True)
class SirenConfig:
    depth: int = 3
    omega0: float = 30.0
    learning_rate: float = 2e-4
    width_size: int = 0  # 0: chosen so that the parameter count matches the FourierKAN

    def __post_init__(self):
        if self.depth < 1 or self.width_size < 0:
            raise ValueError(f"siren.depth must be >= 1 and siren.width_size >= 0, got {self.depth}, {self.width_size}")


@dataclass(frozen=True)
class Config:
    task: str = "inr"
    image: ImageConfig = field(default_factory=ImageConfig)
    fourier_kan: FourierKANConfig = field(default_factory=FourierKANConfig)
    siren: SirenConfig = field(default_factory=SirenConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=1000, steps_per_call=100, log_every=20, checkpoint_every=1000)
    )


def count_parameters(model) -> int:
    import equinox as eqx

    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))


def _siren_width(target: int, in_size: int, out_size: int, depth: int) -> int:
    # params(w) = (in+1) w + (depth-1)(w+1) w + (w+1) out; solve the quadratic for w.
    a, b, c = depth - 1, (in_size + 1) + (depth - 1) + out_size, out_size - target
    if a == 0:
        return max(1, round(-c / b))
    return max(1, round((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)))


def loss_fn(model, batch, key):
    x, y = batch
    mse = jnp.mean((jax.vmap(model)(x) - y) ** 2)
    return mse, {"psnr": -10 * jnp.log10(mse)}


def run(cfg: Config, run_dir: pathlib.Path, *, resume: bool, progress: bool) -> dict:
    run_dir = pathlib.Path(run_dir)
    image = load_image(cfg.image.name, cfg.image.size, cfg.image.grayscale)
    coords, values = image_coordinates(image)
    k_fkan, k_siren, k_train = jr.split(jr.PRNGKey(cfg.train.seed), 3)
    out = values.shape[-1]
    fk = cfg.fourier_kan
    fkan = FourierKAN(2, out, fk.num_frequencies, fk.width_size, fk.depth, get_activation(fk.activation), key=k_fkan)
    n_fkan = count_parameters(fkan)
    width = cfg.siren.width_size or _siren_width(n_fkan, 2, out, cfg.siren.depth)
    siren = SIREN(2, out, width, cfg.siren.depth, cfg.siren.omega0, key=k_siren)
    data = lambda key, step: (coords, values)
    results, rows = {}, {}
    for name, model, lr in [("fourier_kan", fkan, fk.learning_rate), ("siren", siren, cfg.siren.learning_rate)]:
        train_cfg = dataclasses.replace(cfg.train, learning_rate=lr)
        model, _ = train(model, loss_fn, data, train_cfg, run_dir / name, key=k_train, resume=resume,
                         progress=progress, desc=f"inr {name}")
        pred = jnp.clip(jax.jit(jax.vmap(model))(coords).reshape(image.shape), 0, 1)
        results[name] = {"psnr": float(psnr(pred, image)), "ssim": float(ssim(pred, image)),
                         "num_parameters": count_parameters(model), "image": pred}
        _merge_metrics(rows, run_dir / name / "metrics.jsonl", "" if name == "fourier_kan" else "siren_")
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(rows[s]) + "\n" for s in sorted(rows)))
    from ..plot import image_reconstruction

    panels = {"target": image}
    for name, r in results.items():
        panels[f"{name} ({r['num_parameters']} params)\nPSNR {r['psnr']:.2f} dB, SSIM {r['ssim']:.3f}"] = r["image"]
    save_figure(image_reconstruction(panels, title=f"{cfg.image.name} {cfg.image.size}px, "
                                     f"{cfg.train.steps} steps"), run_dir, "reconstruction")
    summary = {name: {k: v for k, v in r.items() if k != "image"} for name, r in results.items()}
    summary["fourier_kan_beats_siren_psnr"] = results["fourier_kan"]["psnr"] > results["siren"]["psnr"]
    return summary


def _merge_metrics(rows: dict, path: pathlib.Path, prefix: str) -> None:
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        step = r.pop("step", 0)
        dest = rows.setdefault(step, {"step": step})
        for k, v in r.items():
            if k in ("loss", "psnr"):
                dest[prefix + k] = v
