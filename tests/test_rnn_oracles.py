"""The bundled recurrent networks, scanned over sequences, against torch.nn's
RNN, GRU and LSTM (batch_first) with the same weights: outputs, and gradients
with respect to the inputs and every parameter, in both gradient modes and
with checkpointed backpropagation through time."""
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from torch.func import functional_call, grad, vmap

import catlearn
from catlearn.backends.torch import compile_module, scan
from catlearn.core.errors import CatError
from catlearn.semantics.stateful import with_checkpoints

MODELS = Path(__file__).parent.parent / "models"
D, H = 3, 5  # input and hidden sizes

# per network: its file, its sequence model, torch's module, and our parameter of each of torch's
NETWORKS = {
    "elman": ("elman_rnn.cat", "scan(elman({d}, {h}))",
              lambda: torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True),
              {"elman.dense.W": "weight_ih_l0", "elman.dense.b": "bias_ih_l0",
               "elman.dense_1.W": "weight_hh_l0", "elman.dense_1.b": "bias_hh_l0"}),
    "gru": ("gru.cat", "gru_seq({d}, {h})", lambda: torch.nn.GRU(D, H, batch_first=True),
            {"gru_seq.gru.W_ih": "weight_ih_l0", "gru_seq.gru.b_ih": "bias_ih_l0",
             "gru_seq.gru.W_hh": "weight_hh_l0", "gru_seq.gru.b_hh": "bias_hh_l0"}),
    "lstm": ("lstm.cat", "lstm_seq({d}, {h})", lambda: torch.nn.LSTM(D, H, batch_first=True),
             {"lstm_seq.lstm.W_ih": "weight_ih_l0", "lstm_seq.lstm.b_ih": "bias_ih_l0",
              "lstm_seq.lstm.W_hh": "weight_hh_l0", "lstm_seq.lstm.b_hh": "bias_hh_l0"}),
}

# (T, batch shape): T = 1; a batch as large as T, as the hidden size, as the input size; one sequence
# unbatched; two batch axes (torch runs them flattened into one)
CASES = [(1, (1,)), (1, (H,)), (7, (7,)), (5, (5,)), (7, (D,)), (6, (2,)), (4, ()), (5, (2, 3))]


@lru_cache(maxsize=None)
def sequence_model(network: str, steps: int):
    path, body, _, _ = NETWORKS[network]
    source = f'use "{path}"\nmodel m : R[{steps}, {D}] -> R[{steps}, {H}] = {body.format(d=D, h=H)}\n'
    return catlearn.loads(source, search_path=[str(MODELS)])["m"]


def assert_near(ours: torch.Tensor, theirs: torch.Tensor, what: str) -> None:
    """Equal to 1e-5 of the oracle's largest entry."""
    error = (ours - theirs).abs().max().item()
    scale = theirs.abs().max().item()
    assert ours.shape == theirs.shape and error <= 1e-5 * scale, f"{what}: error {error:.3g} at scale {scale:.3g}"


def compare(network: str, gradient: str, every: int, steps: int, batch: tuple, seed: int) -> None:
    torch.manual_seed(seed)
    reference = NETWORKS[network][2]()
    names = NETWORKS[network][3]
    ours = compile_module(with_checkpoints(sequence_model(network, steps), every), gradient)
    ours.load_state_dict({key: getattr(reference, name).detach().clone() for key, name in names.items()})
    x = torch.randn(*batch, steps, D)
    cotangent = torch.randn(*batch, steps, H)
    results = []
    for run in (ours, lambda v: reference(v.reshape(-1, steps, D))[0].reshape(*batch, steps, H)):
        v = x.clone().requires_grad_(True)
        y = run(v)
        (y * cotangent).sum().backward()
        results.append((y.detach(), v.grad))
    (y, dx), (y_ref, dx_ref) = results
    case = f"{network} {gradient} checkpoint={every} T={steps} batch={batch}"
    assert_near(y, y_ref, f"{case}: outputs")
    assert_near(dx, dx_ref, f"{case}: input gradient")
    for key, name in names.items():
        assert_near(ours.get_parameter(key).grad, getattr(reference, name).grad, f"{case}: gradient of {key}")


@pytest.mark.parametrize("every", [0, 2, 3])
@pytest.mark.parametrize("gradient", ["autograd", "rd"])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_scanned_network_matches_torch_nn(network, gradient, every):
    for seed, (steps, batch) in enumerate(CASES):
        compare(network, gradient, every, steps, batch, seed)


@pytest.mark.parametrize("path, name, network", [("gru.cat", "gru_20_3_5", "gru"),
                                                 ("lstm.cat", "lstm_20_3_5", "lstm")])
def test_bundled_instances_match_torch_nn(path, name, network):
    torch.manual_seed(0)
    reference = NETWORKS[network][2]()
    ours = compile_module(catlearn.load(MODELS / path)[name])
    ours.load_state_dict({key: getattr(reference, n).detach().clone() for key, n in NETWORKS[network][3].items()})
    x = torch.randn(4, 20, D)
    with torch.no_grad():
        assert_near(ours(x), reference(x)[0], name)


@pytest.mark.parametrize("every", [0, 100])
@pytest.mark.parametrize("gradient", ["autograd", "rd"])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_a_sequence_of_several_hoisted_blocks_matches_torch_nn(network, gradient, every):
    """T = 2·BLOCK + 3: the input projection runs BLOCK steps at a time, the
    last block shorter, and within checkpoints' segments of 100 steps, blocks
    of 64 and 36 (catlearn/semantics/stateful/hoist.py)."""
    compare(network, gradient, every, 2 * scan.BLOCK + 3, (3,), 11)


@pytest.mark.parametrize("gradient", ["autograd", "rd"])
def test_per_example_gradients_by_torch_func_match_torch_nn(gradient):
    """``vmap(grad(loss))`` over a batch as large as the hidden size: under
    torch.func's transforms autograd mode differentiates the loop itself."""
    torch.manual_seed(3)
    reference = NETWORKS["gru"][2]()
    names = NETWORKS["gru"][3]
    ours = compile_module(sequence_model("gru", 6), gradient)
    ours.load_state_dict({key: getattr(reference, name).detach().clone() for key, name in names.items()})
    params = {key: value.detach() for key, value in ours.named_parameters()}
    x = torch.randn(H, 6, D)

    def loss(p, example):
        return functional_call(ours, p, (example,)).pow(2).sum()
    per_example = vmap(grad(loss), in_dims=(None, 0))(params, x)
    for i in range(x.shape[0]):
        reference.zero_grad()
        reference(x[i:i + 1])[0].pow(2).sum().backward()
        for key, name in names.items():
            assert_near(per_example[key][i], getattr(reference, name).grad, f"example {i}: gradient of {key}")


def test_a_second_derivative_needs_rd_mode_which_matches_torch_nn():
    """Autograd mode's BPTT is differentiable once: asked for a graph of its
    gradient it raises a CatError (it once gave a wrong second derivative
    silently); rd mode's second derivatives equal torch.nn.GRU's."""
    torch.manual_seed(4)
    reference = NETWORKS["gru"][2]().double()
    names = NETWORKS["gru"][3]
    x = torch.randn(2, 5, D, dtype=torch.float64)
    results = []
    for run in ("autograd", "rd", "torch"):
        if run == "torch":
            module, f = reference, lambda v: reference(v)[0]
            weights = [getattr(reference, name) for name in names.values()]
        else:
            module = compile_module(sequence_model("gru", 5), run, dtype=torch.float64)
            module.load_state_dict({key: getattr(reference, name).detach().clone() for key, name in names.items()})
            f, weights = module, [module.get_parameter(key) for key in names]
        v = x.clone().requires_grad_(True)
        loss = f(v).pow(2).sum()
        if run == "autograd":
            with pytest.raises(CatError, match="`rd` gradient mode"):
                torch.autograd.grad(loss, v, create_graph=True)
            continue
        (dx,) = torch.autograd.grad(loss, v, create_graph=True)
        results.append(torch.autograd.grad(dx.pow(2).sum(), [v, *weights]))
    for ours, theirs, what in zip(*results, ["input", *names]):
        assert_near(ours, theirs, f"second derivative, {what}")
