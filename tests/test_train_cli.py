"""`catlearn train / eval / predict`: checkpoints, resuming after a killed
process, clear errors for bad checkpoints and for NaN, user data files."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import catlearn
from catlearn.backends.torch import compile_module
from catlearn.cli import main
from catlearn.core.errors import CatError
from catlearn.training import CHECKPOINT, load_checkpoint

ROOT = Path(__file__).parent.parent
IRIS = str(ROOT / "models" / "iris_logistic.cat")
DIGITS = str(ROOT / "models" / "digits_mlp.cat")


def history(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    return {"epoch": int(meta["epoch"]), **json.loads(meta["history"])}


def test_train_writes_checkpoint_curve_and_diagram(tmp_path, capsys):
    assert main(["train", IRIS, "--epochs", "3", "--out", str(tmp_path), "--no-progress"]) == 0
    for name in (CHECKPOINT, "loss.png", "model.svg"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")
    saved = history(tmp_path / CHECKPOINT)
    assert saved["epoch"] == 3 and len(saved["loss"]) == 3
    assert "final held-out accuracy" in capsys.readouterr().out
    again = tmp_path / "again"
    assert main(["train", IRIS, "--epochs", "3", "--out", str(again), "--no-progress"]) == 0
    assert history(again / CHECKPOINT)["loss"] == saved["loss"]  # the same seed gives the same numbers
    assert main(["eval", IRIS, "--checkpoint", str(tmp_path / CHECKPOINT)]) == 0
    assert "held-out accuracy" in capsys.readouterr().out


def test_a_killed_run_resumes_without_losing_a_finished_epoch(tmp_path):
    out = tmp_path / "run"
    epochs = 12
    cmd = [sys.executable, "-m", "catlearn", "train", DIGITS, "--epochs", str(epochs), "--out", str(out),
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / CHECKPOINT).exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # killed in the middle of training, no clean-up
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = history(out / CHECKPOINT)
    assert 1 <= finished["epoch"] < epochs
    result = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"resuming after epoch {finished['epoch']}" in result.stdout
    done = history(out / CHECKPOINT)
    assert done["epoch"] == epochs and done["loss"][:finished["epoch"]] == finished["loss"]
    whole = tmp_path / "whole"  # and the resumed run equals an uninterrupted one
    assert main(["train", DIGITS, "--epochs", str(epochs), "--out", str(whole), "--no-progress"]) == 0
    assert np.allclose(history(whole / CHECKPOINT)["loss"], done["loss"], rtol=1e-6)


def test_bad_checkpoints_get_clear_errors(tmp_path):
    assert main(["train", IRIS, "--epochs", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    good = tmp_path / CHECKPOINT
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(good.read_bytes()[:100])
    model = compile_module(catlearn.load(IRIS).learners["iris"].diagram)
    with pytest.raises(CatError, match="corrupt"):
        load_checkpoint(corrupt, model)
    other = catlearn.loads("use std.nn\nmodel logistic : R[4] -> R[5] = dense(4, 5)")["logistic"]
    with pytest.raises(CatError, match="`dense.W` has the wrong shape") as e:
        load_checkpoint(good, compile_module(other))
    assert e.value.expected == "(5, 4)" and e.value.found == "(3, 4)"
    renamed = catlearn.loads("use std.nn\nmodel logistic : R[4] -> R[3] = linear(4, 3)")["logistic"]
    with pytest.raises(CatError, match="has no parameter `linear.W`"):
        load_checkpoint(good, compile_module(renamed))
    fewer = catlearn.loads("use std.linalg\ndef dense(n, m) : R[n] -> R[m] =\n  param W : R[m, n] ~ glorot\n"
                           "  x => matvec(W, x)\nmodel logistic : R[4] -> R[3] = dense(4, 3)")["logistic"]
    with pytest.raises(CatError, match="has a parameter `dense.b` the model does not have"):
        load_checkpoint(good, compile_module(fewer))
    assert main(["eval", IRIS, "--checkpoint", str(corrupt)]) == 1


def test_nan_names_the_box_and_line(tmp_path, capsys):
    model = tmp_path / "bad.cat"
    model.write_text("use std.nn\n"
                     "model f : R[4] -> R[3] =\n"
                     "  x => log(dense(4, 3)(x))\n"
                     "learner l = train f\n  loss cross_entropy\n  data iris\n")
    assert main(["train", str(model), "--epochs", "2", "--out", str(tmp_path / "run"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "`log` produced it first" in err and f"{model}:3:8" in err


def test_user_data_files_and_predictions(tmp_path, capsys):
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    csv = tmp_path / "flowers.csv"
    np.savetxt(csv, np.column_stack([x, y]), delimiter=",", header="a,b,c,d,label")
    npz = tmp_path / "flowers.npz"
    np.savez(npz, x=x, y=y)
    for data in (csv, npz):
        out = tmp_path / data.suffix[1:]
        assert main(["train", IRIS, "--data", str(data), "--epochs", "30", "--out", str(out), "--no-progress"]) == 0
    predictions = tmp_path / "labels.txt"
    assert main(["predict", IRIS, "--checkpoint", str(tmp_path / "csv" / CHECKPOINT), "--input", str(csv),
                 "-o", str(predictions)]) == 0
    labels = np.array([int(v) for v in predictions.read_text().split()])
    assert len(labels) == 150 and np.mean(labels == y) > 0.9
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,x\n3,4,5\n")
    assert main(["train", IRIS, "--data", str(bad), "--out", str(tmp_path / "bad"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: error: line 1, column 3 is not a number" in err and "found: `x`" in err


def test_training_without_graphviz_saves_the_diagram_as_dot_text(tmp_path, monkeypatch, capsys):
    import graphviz

    def no_dot(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", no_dot)
    assert main(["train", IRIS, "--epochs", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "model.dot").read_text().startswith("digraph") and not (tmp_path / "model.svg").exists()
    assert "install graphviz" in capsys.readouterr().out


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_that_is_not_there(tmp_path, capsys):
    assert main(["train", IRIS, "--device", "cuda", "--out", str(tmp_path), "--no-progress"]) == 1
    assert "torch sees no CUDA device" in capsys.readouterr().err
    assert main(["train", IRIS, "--device", "tpu", "--out", str(tmp_path), "--no-progress"]) == 1
    assert "expected: auto, cpu or cuda" in capsys.readouterr().err


def test_data_that_does_not_fit_the_model_is_a_clear_error(tmp_path, capsys):
    """Examples of the wrong width, labels that are no class of the model (or no
    0/1, or too few numbers for mse), a model of two inputs: each a CatError at the
    learner's line, before any training, in train, eval and predict."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), rng.integers(0, 3, size=60)

    def data(name, **arrays):
        np.savez(tmp_path / f"{name}.npz", **{"x": x, "y": y, **arrays})
        return str(tmp_path / f"{name}.npz")
    source = tmp_path / "more.cat"
    source.write_text("use std.nn\n\nmodel score : R[4] -> R[1] = dense(4, 1)\nmodel pair : R[4] * R[4] -> R[3] = "
                      "(a, b) => dense(4, 3)(add(a, b))\nmodel two : R[4] -> R[2] = dense(4, 2)\n\n"
                      "learner binary = train score\n  loss binary_cross_entropy\n"
                      "learner both = train pair\n  loss cross_entropy\n"
                      "learner regress = train two\n  loss mse\n")
    cases = [(IRIS, "iris", data("five", y=y + 2), "not classes of `logistic`", "output of R[5]",
              "iris_logistic.cat:9:1"),
             (IRIS, "iris", data("negative", y=y - 1), "not classes", "number the classes 0, 1, 2", ":9:1"),
             (IRIS, "iris", data("halves", y=y / 2), "not classes", "number the classes", ":9:1"),
             (IRIS, "iris", data("wide", x=np.hstack([x, x])), "do not fit `logistic`", "shape (8,)", ":9:1"),
             (str(source), "binary", data("three"), "not 0 or 1", "labels from 0 to 2", "more.cat:7:1"),
             (str(source), "both", data("plain"), "takes 2 inputs", "pair : R[4] * R[4] -> R[3]", "more.cat:9:1"),
             (str(source), "regress", data("plain"), "do not match `two`'s output", "2 number(s)", "more.cat:11:1")]
    for path, learner, npz, message, detail, place in cases:
        out = tmp_path / "runs" / Path(npz).stem
        assert main(["train", path, "--learner", learner, "--data", npz, "--out", str(out), "--no-progress"]) == 1
        err = capsys.readouterr().err
        assert message in err and detail in err and place in err, err
        assert not out.exists()  # nothing trained, nothing written
    assert main(["train", IRIS, "--epochs", "1", "--out", str(tmp_path / "good"), "--no-progress"]) == 0
    checkpoint = str(tmp_path / "good" / CHECKPOINT)
    capsys.readouterr()
    assert main(["eval", IRIS, "--checkpoint", checkpoint, "--data", data("five", y=y + 2)]) == 1
    assert "not classes of `logistic`" in capsys.readouterr().err
    assert main(["predict", IRIS, "--checkpoint", checkpoint, "--input", data("wide", x=np.hstack([x, x]))]) == 1
    assert "do not fit `logistic`" in capsys.readouterr().err
