"""Data-parallel training: `catlearn train --nproc 2` and torchrun start two
real gloo processes on localhost, which take the same steps as one process."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import load_file

from catlearn.cli import main
from catlearn.distributed import World, shard
from catlearn.training import CHECKPOINT

from .test_train_cli import DIGITS, history

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)


def test_two_processes_take_the_steps_of_one(tmp_path):
    args = [DIGITS, "--epochs", "2", "--no-progress", "--device", "cpu"]
    assert main(["train", *args, "--out", str(tmp_path / "one")]) == 0
    launched = run([sys.executable, "-m", "catlearn", "train", *args, "--nproc", "2", "--out", str(tmp_path / "two")])
    assert launched.returncode == 0, launched.stderr
    assert "on 2 processes (gloo)" in launched.stdout
    assert launched.stdout.count("epoch   2/2") == 1  # only the first process reports
    torchrun = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                    "-m", "catlearn", "train", *args, "--out", str(tmp_path / "torchrun")])
    assert torchrun.returncode == 0, torchrun.stderr
    assert "on 2 processes (gloo)" in torchrun.stdout

    one, two = (load_file(str(tmp_path / name / CHECKPOINT)) for name in ("one", "two"))
    assert sorted(one) == sorted(two)
    for key in one:
        if key.startswith(("param/", "optim/")) and not key.endswith("/step"):
            # 88 Adam steps apart only in the order of the gradient sums (measured: ≤ 1e-7)
            assert np.allclose(one[key], two[key], rtol=1e-5, atol=1e-6), key
    assert np.allclose(history(tmp_path / "one" / CHECKPOINT)["loss"], history(tmp_path / "two" / CHECKPOINT)["loss"],
                       rtol=1e-5)
    by_torchrun = load_file(str(tmp_path / "torchrun" / CHECKPOINT))
    assert all(np.array_equal(two[key], by_torchrun[key]) for key in two)  # the same launch, the same numbers


@given(st.integers(1, 8), st.integers(1, 40))
def test_the_processes_shares_of_a_batch_partition_it(size, per_process):
    rows = np.random.default_rng(size).permutation(1000)[:size * per_process]
    shares = [shard(rows, World(rank, size)) for rank in range(size)]
    assert all(len(s) == per_process for s in shares)
    assert sorted(np.concatenate(shares)) == sorted(rows)


def test_a_batch_that_does_not_split_is_refused_before_launching(capsys):
    assert main(["train", DIGITS, "--nproc", "3", "--no-progress"]) == 2
    assert "a batch of 32 does not split evenly over 3 processes" in capsys.readouterr().err


def test_nan_in_a_distributed_run_is_reported_once_with_its_line(tmp_path):
    model = tmp_path / "bad.cat"
    model.write_text("use std.nn\n"
                     "model f : R[4] -> R[3] =\n"
                     "  x => log(dense(4, 3)(x))\n"
                     "learner l = train f\n  loss cross_entropy\n  data iris\n")
    result = run([sys.executable, "-m", "catlearn", "train", str(model), "--nproc", "2", "--epochs", "2",
                  "--device", "cpu", "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.returncode == 1
    assert result.stderr.count("`log` produced it first") == 1 and f"{model}:3:8" in result.stderr
    assert not Path(tmp_path / "run" / CHECKPOINT).exists()
