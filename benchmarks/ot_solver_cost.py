"""Cost of an exact minibatch OT assignment alone, by the C solvers a training step could call:
scipy's `linear_sum_assignment` and POT's network simplex `ot.emd` (torchcfm's exact solver; the
`bench` extra), on 256 x 256 squared-distance matrices: 8 clustered Gaussians (radius 4, sd 0.1) vs
N(0, I), and two N(0, I) samples. Median over draws; both give the same optimal cost (checked).

    python benchmarks/ot_solver_cost.py [--n 256] [--draws 20]
"""

import argparse
import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--n", type=int, default=256)
parser.add_argument("--draws", type=int, default=20)
args = parser.parse_args()
try:
    import ot
except ImportError:
    ot = None
    print("POT not installed (pip install -e '.[bench]'): timing scipy only")

rng = np.random.default_rng(0)
centres = 4 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], axis=1)
for kind in ("8 Gaussians vs N(0, I)", "N(0, I) vs N(0, I)"):
    t_lsa, t_emd = [], []
    for _ in range(args.draws):
        if kind.startswith("8"):
            a = centres[rng.integers(0, 8, args.n)] + 0.1 * rng.normal(size=(args.n, 2))
        else:
            a = rng.normal(size=(args.n, 2))
        C = cdist(a, rng.normal(size=(args.n, 2)), "sqeuclidean")
        t = time.perf_counter()
        r, c = linear_sum_assignment(C)
        t_lsa.append(time.perf_counter() - t)
        if ot is not None:
            w = np.full(args.n, 1.0 / args.n)
            t = time.perf_counter()
            plan = ot.emd(w, w, C)
            t_emd.append(time.perf_counter() - t)
            assert abs(args.n * (plan * C).sum() - C[r, c].sum()) <= 1e-6 * C[r, c].sum()
    line = f"{kind:24s} scipy linear_sum_assignment {1e3 * np.median(t_lsa):6.2f} ms"
    if t_emd:
        line += f" | POT ot.emd {1e3 * np.median(t_emd):6.2f} ms"
    print(line, flush=True)
