"""How the bundled digits MLP's width was chosen without looking at the split
that `catlearn train models/digits_mlp.cat` reports on.

Each candidate trains (the learner's Adam, 30 epochs, batch 32) with 3
initialisation seeds on split seeds 1-4, and the one with the best mean
held-out accuracy there is chosen; split seed 0, the learner's, is printed
beside it but takes no part in the choice.

    python benchmarks/digits_width.py
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

import catlearn
from catlearn.data import load
from catlearn.training import train

CANDIDATES = {
    "128": "dense(64, 128) ; relu ; dense(128, 10)",
    "256": "dense(64, 256) ; relu ; dense(256, 10)",
    "512": "dense(64, 512) ; relu ; dense(512, 10)",
    "256, 256": "dense(64, 256) ; relu ; dense(256, 256) ; relu ; dense(256, 10)",
    "256 tanh": "dense(64, 256) ; tanh ; dense(256, 10)",
}
LEARNER = """use std.nn
model mlp : R[64] -> R[10] = {body}
learner digits = train mlp
  loss cross_entropy
  optimizer adam(lr=1e-3)
  epochs 30
  batch 32
  data digits
"""


def main() -> None:
    torch.set_num_threads(1)
    print(f"{'hidden':10} {'splits 1-4 mean':>15} {'min':>6}   split 0 (seeds 0, 1, 2)")
    with tempfile.TemporaryDirectory() as out:
        for name, body in CANDIDATES.items():
            learner = catlearn.loads(LEARNER.format(body=body)).learners["digits"]
            accuracy = {}
            for split in range(5):
                for seed in range(3):
                    _, history = train(learner, load("digits", 0.2, split), Path(out), progress=False, seed=seed,
                                       log=lambda *a: None)
                    accuracy[split, seed] = history.accuracy[-1]
            chosen_on = [v for (split, _), v in accuracy.items() if split > 0]
            print(f"{name:10} {np.mean(chosen_on):15.4f} {np.min(chosen_on):6.4f}   "
                  + "  ".join(f"{accuracy[0, seed]:.4f}" for seed in range(3)), flush=True)


if __name__ == "__main__":
    main()
