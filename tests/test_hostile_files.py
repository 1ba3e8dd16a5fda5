"""Hostile data and checkpoint files, and the files catlearn writes: every bad
input is a CatError naming the file and the problem (exit code 1, never 3, an
internal error), found before anything is trained or written, so that nothing
already written is lost."""
import io
import os
import signal
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import catlearn
from catlearn.cli import main
from catlearn.training import CHECKPOINT, DEFAULT_THREADS, History, claim, loss_figure, threads_for

ROOT = Path(__file__).parent.parent
IRIS = str(ROOT / "models" / "iris_logistic.cat")
ADAM = """use std.nn
model f : R[4] -> R[3] = dense(4, 3)
learner l = train f
  loss cross_entropy
  optimizer {optimizer}
  epochs 1
  batch 16
  data iris
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny Adam learner on iris, its checkpoint after ten epochs, and iris's arrays."""
    from sklearn.datasets import load_iris

    folder = tmp_path_factory.mktemp("trained")
    model = folder / "adam.cat"
    model.write_text(ADAM.format(optimizer="adam(lr=0.05)"))
    assert main(["train", str(model), "--epochs", "10", "--out", str(folder / "run"), "--no-progress"]) == 0
    x, y = load_iris(return_X_y=True)
    return SimpleNamespace(model=str(model), checkpoint=folder / "run" / CHECKPOINT, x=x, y=y)


def fails(argv, capsys, *fragments) -> str:
    """Run the CLI: exit code 1 and every fragment in its error, which is returned."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    for fragment in fragments:
        assert fragment in err, err
    assert "internal error" not in err and "= hint: " in err, err
    return err


# -- checkpoints ---------------------------------------------------------------------------------------------
def contents(path: Path) -> tuple[dict, dict]:
    """A checkpoint's metadata and tensors."""
    with safe_open(str(path), "pt") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}


def crafted(trained, folder: Path, change) -> Path:
    """The trained checkpoint rewritten by `change(tensors, metadata)`, as FOLDER/checkpoint.safetensors."""
    meta, tensors = contents(trained.checkpoint)
    change(tensors, meta)
    folder.mkdir()
    save_file(tensors, folder / CHECKPOINT, metadata=meta)
    return folder / CHECKPOINT


def setting(**values):
    return lambda tensors, meta: meta.update(values)


def tensor(key, value=None):
    return lambda tensors, meta: tensors.pop(key) if value is None else tensors.update({key: value})


STATE = "the checkpoint's optimiser state"
CHECKPOINTS = {  # case: (change, what the error says (in train, in eval and predict), whether eval and predict,
    #                  which need no optimiser, see it)
    "epoch not a number": (setting(epoch="one"), "epoch is not a number of finished epochs", True),
    "epoch 10^5000": (setting(epoch="1" + "0" * 5000), "epoch is not a number of finished epochs", True),
    "epoch negative": (setting(epoch="-1"), "epoch is not a number of finished epochs", True),
    "history not JSON": (setting(history="{loss: [1"), "history is not JSON", True),
    "history nested too deeply": (setting(history="[" * 100_000), "history is not JSON", True),
    "history a JSON list": (setting(history="[1, 2]"), "history is not a record of losses and accuracies", True),
    "history with extra keys": (setting(history='{"loss": [1.0], "accuracy": [0.5], "lr": [0.1]}', epoch="1"),
                                "history is not a record of losses and accuracies", True),
    "history empty at epoch 10": (setting(history='{"loss": [], "accuracy": []}'),
                                  "history of `loss` does not match its epoch, 10", True),
    "history of NaN": (setting(history='{"loss": [NaN], "accuracy": [0.5]}', epoch="1"),
                       "history of `loss` does not match its epoch, 1", True),
    "not catlearn's": (lambda tensors, meta: meta.pop("format"), "the file is not a catlearn checkpoint", True),
    "slot of the wrong shape": (tensor("optim/dense.W/exp_avg", torch.zeros(4, 3)),
                                f"{STATE} `exp_avg` of `dense.W` has the wrong shape", False),
    "step missing": (tensor("optim/dense.W/step"), f"{STATE} of `dense.W` has no `step`", False),
    "step -1": (tensor("optim/dense.W/step", torch.tensor(-1.0)), "`optim/dense.W/step` is not a whole number ≥ 0",
                False),
    "step 2.5": (tensor("optim/dense.b/step", torch.tensor(2.5)), "found: 2.5", False),
    "step of two numbers": (tensor("optim/dense.b/step", torch.tensor([1.0, 2.0])),
                            ("state `step` of `dense.b` has the wrong shape", "found: [1.0, 2.0]"), True),
    "slot of no parameter": (tensor("optim/dense.V/exp_avg", torch.zeros(3)), "a tensor `optim/dense.V/exp_avg`",
                             True),
    "mean missing": (tensor("data/mean"), "has no `data/mean`", True),
    "mean of the wrong shape": (tensor("data/mean", torch.zeros(5)), "`data/mean` has the wrong shape", True),
    "scale zero": (tensor("data/scale", torch.zeros(4)), "`data/scale` holds a number ≤ 0", True),
    "parameter NaN": (tensor("param/dense.b", torch.tensor([0.0, float("nan"), 0.0])),
                      "`param/dense.b` holds NaN or infinite numbers", True),
    "parameter int": (tensor("param/dense.W", torch.ones(3, 4, dtype=torch.int64)),
                      "`param/dense.W` holds int64 numbers", True),
    "parameter bool": (tensor("param/dense.W", torch.ones(3, 4, dtype=torch.bool)),
                       "`param/dense.W` holds bool numbers", True),
    "parameter complex": (tensor("param/dense.b", torch.ones(3, dtype=torch.complex64)),
                          "`param/dense.b` holds complex64 numbers", True),
    "slot int": (tensor("optim/dense.W/exp_avg", torch.ones(3, 4, dtype=torch.int32)),
                 "`optim/dense.W/exp_avg` holds int32 numbers", False),
}


@pytest.mark.parametrize("case", CHECKPOINTS)
def test_a_bad_checkpoint_is_a_clear_error_that_changes_nothing(trained, tmp_path, capsys, case):
    change, message, seen_without_optimiser = CHECKPOINTS[case]
    in_train, elsewhere = (message, message) if isinstance(message, str) else message
    checkpoint = crafted(trained, tmp_path / "run", change)
    before = checkpoint.read_bytes()
    fails(["train", trained.model, "--resume", "--epochs", "1", "--out", str(checkpoint.parent), "--no-progress"],
          capsys, f"{checkpoint}: error: ", in_train)
    assert checkpoint.read_bytes() == before and sorted(os.listdir(checkpoint.parent)) == [CHECKPOINT]
    if seen_without_optimiser:
        fails(["eval", trained.model, "--checkpoint", str(checkpoint)], capsys, f"{checkpoint}: error: ", elsewhere)
        np.savez(tmp_path / "x.npz", x=trained.x)
        fails(["predict", trained.model, "--checkpoint", str(checkpoint), "--input", str(tmp_path / "x.npz")],
              capsys, f"{checkpoint}: error: ", elsewhere)


def test_resuming_with_another_optimiser_is_a_clear_error(trained, tmp_path, capsys):
    sgd = tmp_path / "sgd.cat"
    sgd.write_text(ADAM.format(optimizer="momentum(lr=0.1)"))
    checkpoint = crafted(trained, tmp_path / "run", lambda tensors, meta: None)
    fails(["train", str(sgd), "--resume", "--out", str(checkpoint.parent), "--no-progress"], capsys,
          f"{checkpoint}: error: ", "keeps optimiser state `", "which the learner's optimiser does not",
          "expected: momentum_buffer", "the learner's optimizer changed")


def test_a_truncated_checkpoint_is_corrupt(trained, tmp_path, capsys):
    checkpoint = tmp_path / "cut.safetensors"
    checkpoint.write_bytes(trained.checkpoint.read_bytes()[:300])
    fails(["eval", trained.model, "--checkpoint", str(checkpoint)], capsys, f"{checkpoint}: error: ",
          "corrupt or not a safetensors file")


# -- data files ----------------------------------------------------------------------------------------------
def rows(x, y) -> str:
    return "".join(",".join(f"{v:g}" for v in row) + "\n" for row in np.column_stack([x, y]))


def npz(**arrays):
    return lambda path: np.savez(path, **arrays)


def text(content: str | bytes):
    return lambda path: path.write_bytes(content if isinstance(content, bytes) else content.encode())


def npy_in_zip(header_shape, rows: int):
    """An NPZ archive whose `x` header claims `header_shape` but holds `rows` rows of 4 (and a good `y`)."""
    def write(path):
        member = io.BytesIO()
        np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": header_shape})
        member.write(np.zeros((rows, 4)).tobytes())
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x.npy", member.getvalue())
            y = io.BytesIO()
            np.save(y, np.zeros(rows, dtype=int))
            z.writestr("y.npy", y.getvalue())
    return write


def data_cases(x, y):
    nan, inf = x.copy(), y.astype(float)
    nan[3, 1] = np.nan
    inf[2] = np.inf
    body = rows(x, y)
    return {  # case: (file name, how it is written, what the error says)
        **{f"{n} rows": ("few.csv", text(rows(x[::30][:n], y[::30][:n])), "held out") for n in range(2, 6)},
        "fractional labels": ("halves.csv", text(rows(x, np.where(y == 1, 1.5, y))), "are not classes of `logistic`"),
        "labels of 0.9": ("nines.csv", text(rows(x, np.where(y == 0, 0.9, y))), "are not classes of `logistic`"),
        "a NaN cell": ("nan.csv", text(body.replace("5.1,3.5", "5.1,nan", 1)), "line 1, column 2 is nan"),
        "an inf label": ("inf.csv", text(body.replace(",0\n", ",inf\n", 1)), "line 1, column 5 is inf"),
        "an empty cell": ("empty.csv", text("a,b,c,d,label\n" + body.replace("4.9,3", "4.9,", 1)),
                          "line 3, column 2 is not a number"),
        "a ragged row": ("ragged.csv", text(body.replace("4.9,3,", "4.9,", 1)), "line 2 has 4 cells, line 1 5"),
        "a text cell": ("word.csv", text(body.replace("4.7", "four", 1)), "line 3, column 1 is not a number"),
        "a header alone": ("header.csv", text("a,b,c,d,label\n"), "the file holds no examples"),
        "an empty file": ("nothing.csv", text(""), "the file holds no examples"),
        "one column": ("one.csv", text("1\n2\n3\n"), "the rows have 1 column"),
        "not UTF-8": ("latin.csv", text("caf\xe9,1\n".encode("latin-1") * 10), "the file is not UTF-8 text"),
        "a corrupt NPZ": ("junk.npz", text(b"PK\x03\x04" + b"\x00" * 50), "the file is not an NPZ archive"),
        "a truncated NPZ": ("cut.npz", lambda p: (np.savez(p, x=x, y=y), p.write_bytes(p.read_bytes()[:2000])),
                            "the file is not an NPZ archive"),
        "a bare .npy": ("bare.npz", lambda p: np.save(open(p, "wb"), x), "a single NumPy array (.npy)"),
        "a pickle": ("pickled.npz", text(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01."),
                     "the file is not an NPZ archive"),
        "object labels": ("objects.npz", npz(x=x, y=np.array(list(y), dtype=object)), "`y` holds Python objects"),
        "text labels": ("names.npz", npz(x=x, y=np.array(["setosa"] * len(y))), "`y` holds text, not numbers"),
        "complex examples": ("complex.npz", npz(x=x + 1j, y=y), "`x` holds complex numbers"),
        "one-hot labels": ("onehot.npz", npz(x=x, y=np.eye(3)[y]), "(of a one-hot row, its argmax), not 3"),
        "1-D examples": ("flat.npz", npz(x=x[:, 0], y=y), "do not fit `logistic`"),
        "empty arrays": ("void.npz", npz(x=np.zeros((0, 4)), y=np.zeros(0)), "the file holds no examples"),
        "NaN in x": ("nan.npz", npz(x=nan, y=y), "`x[3, 1]` is nan"),
        "inf in y": ("inf.npz", npz(x=x, y=inf), "`y[2]` is inf"),
        "fewer labels": ("short.npz", npz(x=x, y=y[:140]), "`x` holds 150 examples but `y` 140 labels"),
        "no labels": ("unlabelled.npz", npz(x=x), "the file holds no array `y`"),
        "a header of 10^12 rows": ("huge.npz", npy_in_zip((10 ** 12, 4), 10), "`x` is too large"),
        "a header of more rows than held": ("lies.npz", npy_in_zip((1000, 4), 10), "the array `x` is corrupt"),
    }


def test_bad_data_files_are_clear_errors_before_anything_is_written(trained, tmp_path, capsys):
    for case, (name, write, message) in data_cases(trained.x, trained.y).items():
        path = tmp_path / case.replace(" ", "_") / name
        path.parent.mkdir()
        write(path)
        out = path.parent / "run"
        err = fails(["train", IRIS, "--data", str(path), "--out", str(out), "--no-progress"], capsys, message)
        assert str(path) in err, (case, err)
        assert not out.exists(), case


def test_few_examples_say_what_split_would_hold_one_out(trained, tmp_path, capsys):
    few = tmp_path / "few.csv"
    few.write_text(rows(trained.x[::50], trained.y[::50]))  # one example of each class
    fails(["train", IRIS, "--data", str(few), "--out", str(tmp_path / "run")], capsys,
          f"{few}: error: 3 examples leave 0 held out and 3 to train on",
          "with a split of 0.2, a class of fewer than 3 has none held out")


def test_quoted_numbers_read_as_numbers(trained, tmp_path, capsys):
    quoted, plain = tmp_path / "quoted.csv", tmp_path / "plain.csv"
    plain.write_text(rows(trained.x, trained.y))
    quoted.write_text('"a","b","c","d","label"\n' + "".join(
        ",".join(f'"{cell}"' for cell in line.split(",")) + "\n" for line in plain.read_text().splitlines()))
    for data in (quoted, plain):
        assert main(["train", IRIS, "--data", str(data), "--epochs", "2", "--out", str(tmp_path / data.stem),
                     "--no-progress"]) == 0
    (meta, tensors), (plain_meta, plain_tensors) = (contents(tmp_path / n / CHECKPOINT) for n in ("quoted", "plain"))
    assert meta == plain_meta and tensors.keys() == plain_tensors.keys()
    assert all(torch.equal(tensors[k], plain_tensors[k]) for k in tensors)


# -- predicting on unlabelled data ---------------------------------------------------------------------------
def test_predict_reads_features_alone(trained, tmp_path, capsys):
    checkpoint = str(trained.checkpoint)
    header = "sepal length,sepal width,petal length,petal width"
    files = {"features.csv": "".join(",".join(f"{v:g}" for v in r) + "\n" for r in trained.x),
             "labelled.csv": rows(trained.x, trained.y)}
    files["header.csv"] = header + "\n" + files["features.csv"]
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    np.savez(tmp_path / "features.npz", x=trained.x)
    predictions = {}
    for name in [*files, "features.npz"]:
        out = tmp_path / f"{name}.txt"
        assert main(["predict", trained.model, "--checkpoint", checkpoint, "--input", str(tmp_path / name),
                     "-o", str(out)]) == 0, capsys.readouterr().err
        predictions[name] = out.read_text()
    assert len(set(predictions.values())) == 1  # the same labels however the examples come
    labels = np.array(predictions["features.csv"].split(), dtype=int)
    assert len(labels) == 150 and np.mean(labels == trained.y) > 0.8
    (tmp_path / "three.csv").write_text("1,2,3\n4,5,6\n")
    fails(["predict", trained.model, "--checkpoint", checkpoint, "--input", str(tmp_path / "three.csv")], capsys,
          f"{tmp_path / 'three.csv'}: error: the rows have 3 columns",
          "expected: a row of 4 features (the model's), then a label or none")


# -- what catlearn writes ------------------------------------------------------------------------------------
KILL_AT_SECOND_CHECKPOINT = """
import os, signal, sys
from catlearn.cli import main
replace, written = os.replace, []
def killed(src, dst):
    if str(dst).endswith("checkpoint.safetensors"):
        written.append(dst)
        if len(written) == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # after the temporary file is written, before it is renamed
    replace(src, dst)
os.replace = killed
sys.exit(main(sys.argv[1:]))
"""


def test_a_run_killed_while_writing_a_checkpoint_leaves_a_temporary_file_the_next_run_removes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", IRIS, "--epochs", "3", "--out", str(out), "--no-progress"]
    killed = subprocess.run([sys.executable, "-c", KILL_AT_SECOND_CHECKPOINT, *argv], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    stale = list(out.glob(".checkpoint.*.tmp"))
    assert len(stale) == 1 and stale[0].stat().st_size > 0
    assert main(argv + ["--resume"]) == 0
    assert "resuming after epoch 1 of 3" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == [CHECKPOINT, "loss.png", "model.svg"]


def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    with claim(out):
        (out / ".checkpoint.safetensors.abc.tmp").write_bytes(b"being written")
        fails(["train", IRIS, "--epochs", "1", "--out", str(out), "--no-progress"], capsys,
              f"{out}: error: another `catlearn train` is writing to this folder")
        assert sorted(os.listdir(out)) == [".checkpoint.safetensors.abc.tmp"]  # the other run's file is left alone


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_have_the_mode_the_umask_gives(tmp_path, capsys, umask):
    np.savez(tmp_path / "x.npz", x=np.zeros((3, 4)))
    unformatted = tmp_path / "fmt.cat"
    unformatted.write_text("use std.nn\nmodel   f : R[4] -> R[3] = dense(4, 3)\n")
    unformatted.chmod(0o640)
    before = os.umask(umask)
    try:
        assert main(["train", IRIS, "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
        assert main(["predict", IRIS, "--checkpoint", str(tmp_path / "run" / CHECKPOINT), "--input",
                     str(tmp_path / "x.npz"), "-o", str(tmp_path / "labels.txt")]) == 0
        assert main(["draw", IRIS, "-o", str(tmp_path / "drawn.svg")]) == 0
        assert main(["fmt", str(unformatted)]) == 0
    finally:
        os.umask(before)
    written = [tmp_path / "run" / name for name in (CHECKPOINT, "loss.png", "model.svg")]
    for path in written + [tmp_path / "labels.txt", tmp_path / "drawn.svg"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    assert stat.S_IMODE(unformatted.stat().st_mode) == 0o640  # fmt keeps the mode of the file it replaces
    assert "model f" in unformatted.read_text()


def test_a_file_that_cannot_be_written_is_a_clear_error(trained, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", x=trained.x)
    missing = tmp_path / "no such folder" / "labels.txt"
    fails(["predict", trained.model, "--checkpoint", str(trained.checkpoint), "--input", str(tmp_path / "x.npz"),
           "-o", str(missing)], capsys, f"{missing}: error: cannot write the file", "No such file or directory")
    (tmp_path / "a file").write_text("")
    fails(["train", IRIS, "--out", str(tmp_path / "a file"), "--no-progress"], capsys,
          f"{tmp_path / 'a file'}: error: cannot make the output folder")


@pytest.mark.parametrize("argv, message", [
    (["train", IRIS, "--epochs", "0"], "--epochs must be at least 1, not 0"),
    (["train", IRIS, "--seed", "-1"], "--seed must be at least 0, not -1"),
    (["train", IRIS, "--threads", "0"], "--threads must be at least 1, not 0"),
    (["eval", IRIS, "--checkpoint", "c", "--threads", "-2"], "--threads must be at least 1, not -2"),
])
def test_bad_numbers_on_the_command_line_are_usage_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_loss_plot_ticks_whole_epochs():
    import matplotlib.pyplot as plt

    fig = loss_figure(History(loss=[1.0, 0.6, 0.5], accuracy=[0.5, 0.7, 0.8]), "three epochs")
    fig.canvas.draw()
    axis = fig.axes[0]
    low, high = axis.get_xlim()
    ticks = [t for t in axis.get_xticks() if low <= t <= high]
    plt.close(fig)
    assert ticks == [1.0, 2.0, 3.0]


def test_threads_one_for_a_small_model_and_torchs_default_for_a_large_one(tmp_path, capsys):
    mlp = catlearn.load(str(ROOT / "models" / "digits_mlp.cat"))["mlp"]  # 38,410 weights
    assert threads_for(mlp, 32) == 1 and threads_for(mlp, 1000) == DEFAULT_THREADS
    assert main(["train", IRIS, "--epochs", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "1 CPU thread\n" in capsys.readouterr().out
    assert main(["train", IRIS, "--epochs", "1", "--out", str(tmp_path), "--no-progress", "--threads", "2"]) == 0
    assert "2 CPU threads\n" in capsys.readouterr().out and torch.get_num_threads() == 2
