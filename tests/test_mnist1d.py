"""The bundled MNIST-1D dataset: generated offline, deterministic, held out on its own test split."""
import random
import re
import socket
import sys
import urllib.request
from pathlib import Path

import mnist1d.data
import numpy as np
import pytest

from catlearn import data
from catlearn.cli import main
from catlearn.core.errors import CatError
from catlearn.grammar.module import load
from catlearn.training import train

MODELS = Path(__file__).parent.parent / "models"
MODEL = str(MODELS / "mnist1d_cnn.cat")


def _no_network(*args, **kwargs):
    raise AssertionError("mnist1d reached for the network")


def _offline(patch: pytest.MonkeyPatch) -> None:
    patch.setattr(mnist1d.data, "get_dataset", _no_network)
    patch.setattr(urllib.request, "urlopen", _no_network)
    patch.setattr(socket.socket, "connect", _no_network)


@pytest.fixture(scope="module")
def arrays():
    with pytest.MonkeyPatch.context() as patch:
        _offline(patch)
        return data.mnist1d()


def test_it_has_the_documented_shapes_and_split(arrays):
    x_train, y_train, x_test, y_test = arrays
    assert x_train.shape == (4000, 40) and x_test.shape == (1000, 40)
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert y_train.dtype.kind == y_test.dtype.kind == "i"
    assert set(y_train) == set(y_test) == set(range(10))
    assert np.isfinite(x_train).all() and np.isfinite(x_test).all()


def test_generation_is_deterministic_and_keeps_the_global_random_state(arrays, monkeypatch):
    _offline(monkeypatch)
    random.seed(5)
    np.random.seed(5)
    expected = random.random(), np.random.rand()
    random.seed(5)
    np.random.seed(5)
    again = data.mnist1d()
    assert (random.random(), np.random.rand()) == expected
    assert all(np.array_equal(a, b) for a, b in zip(arrays, again))


def test_load_holds_out_the_test_split_whatever_split_and_seed(arrays, monkeypatch):
    x_train, y_train, x_test, y_test = arrays
    monkeypatch.setitem(data.SPLITS, "mnist1d", lambda: arrays)
    for split, seed in ((0.2, 0), (0.5, 3)):
        d = data.load("mnist1d", split, seed)
        assert (d.name, d.classes) == ("mnist1d", 10)
        np.testing.assert_allclose(d.mean, x_train.mean(0))
        np.testing.assert_allclose(d.x_train * d.scale + d.mean, x_train, atol=1e-12)
        np.testing.assert_allclose(d.x_val * d.scale + d.mean, x_test, atol=1e-12)
        assert np.array_equal(d.y_train, y_train) and np.array_equal(d.y_val, y_test)
    x, y = data.read("mnist1d")
    assert np.array_equal(x, np.concatenate([x_train, x_test])) and np.array_equal(y, np.concatenate([y_train, y_test]))


def test_without_the_package_it_is_a_caterror(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(CatError) as e:
        data.load("mnist1d")
    assert "pip install mnist1d" in e.value.hint


def test_training_the_bundled_cnn_lowers_the_loss(arrays, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(data.SPLITS, "mnist1d", lambda: arrays)
    assert main(["train", MODEL, "--epochs", "2", "--threads", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "on mnist1d: 4000 examples, 1000 held out" in out
    epochs = [(float(loss), float(acc)) for loss, acc in re.findall(r"loss ([\d.]+)  held-out accuracy ([\d.]+)", out)]
    assert len(epochs) == 2
    assert epochs[1][0] < epochs[0][0]
    assert epochs[1][1] > 0.3  # chance is 0.1


def test_training_the_s4d_classifier_lowers_the_loss(arrays, tmp_path):
    x_train, y_train, _, _ = arrays
    learner = load(MODELS / "mnist1d_s4d.cat").learners["mnist1d_s4d"]
    assert (str(learner.diagram.type), learner.settings["batch"]) == ("R[40] -> R[10]", 100)
    small = data.given("mnist1d", x_train[:300], y_train[:300], x_train[300:400], y_train[300:400])
    _, history = train(learner, small, tmp_path, epochs=3, progress=False, log=lambda line: None)
    assert history.loss[2] < history.loss[1] < history.loss[0] < 2.5  # chance is log 10 = 2.30
