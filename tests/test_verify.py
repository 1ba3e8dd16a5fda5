"""`catlearn verify`: laws pass on the bundled models, stateful ones included
(the laws of the delayed trace, on sequences), and a wrong derivative is
caught and localised to the box that has it."""
import dataclasses
import importlib
from pathlib import Path

from catlearn.cli import main
from catlearn.core.primitives import REGISTRY
from catlearn.testing.laws import LAWS, STATEFUL_LAWS

ROOT = Path(__file__).parent.parent


def _rows(out: str, law: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip().startswith(law)]


def _results(out: str, laws: list) -> list[str]:
    """pass, FAIL or skipped, for each row of `laws` in `out`."""
    return ["skipped" if "skipped:" in row else row.split()[-1] for law, _, _ in laws for row in _rows(out, law)]


def test_bundled_models_satisfy_the_laws(capsys):
    models = [str(ROOT / "models" / f) for f in ("digits_mlp.cat", "elman_rnn.cat", "attention.cat")]
    assert main(["verify", "--checks", "5", *models]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.count("pass") == 2 * len(LAWS) + len(STATEFUL_LAWS)
    assert "stateful" not in out


def test_a_stateful_model_is_checked_on_sequences(capsys):
    """`elman_8_16` (a feedback) gets every law of the delayed trace, at every point, none skipped."""
    assert main(["verify", "--checks", "4", str(ROOT / "models" / "elman_rnn.cat")]) == 0
    out = capsys.readouterr().out
    model = out.split("model elman_8_16 : R[8] -> R[16]\n")[1].split("\n\n")[0]
    assert _results(model, STATEFUL_LAWS) == ["pass"] * len(STATEFUL_LAWS)
    assert all(f" {4:6d} " in _rows(model, law)[0] for law, _, _ in STATEFUL_LAWS)
    assert "skipped" not in model and out.endswith("\n\nverified 1 model; skipped 1, not verified:\n"
                                                   f"  {ROOT / 'models' / 'elman_rnn.cat'}: model elman "
                                                   "(symbolic sizes: verify an instance)\n")


def test_a_scan_model_gets_the_laws_and_its_step_those_of_the_delayed_trace(capsys):
    assert main(["verify", "--checks", "2", str(ROOT / "models" / "gru.cat")]) == 0
    out = capsys.readouterr().out.split("model gru_20_3_5 : R[20, 3] -> R[20, 5]\n")[1]
    model, step = out.split("    on the scan's step, R[3] -> R[5]:\n")
    assert _results(model, LAWS) == ["pass", "skipped", "pass", "pass", "pass"]
    assert "skipped: not through a scan: see its step" in model  # the forward derivative of a scan
    assert _results(step, STATEFUL_LAWS) == ["pass"] * len(STATEFUL_LAWS)


def test_a_wrong_derivative_in_a_loop_fails_and_is_localised(monkeypatch, capsys):
    wrong = dataclasses.replace(REGISTRY["tanh"], rd=lambda g, i, y, dy: [g.mul(dy, g.sub(1.0, y))])
    monkeypatch.setitem(REGISTRY, "tanh", wrong)
    assert main(["verify", "--checks", "3", str(ROOT / "models" / "elman_rnn.cat")]) == 1
    out = capsys.readouterr().out
    (row,) = _rows(out, "BPTT agrees with finite differences")
    assert row.endswith("FAIL")
    example = out.split("smallest failing diagram:")[1]
    assert "tanh(x0)" in example and "matvec" not in example.split("BPTT = R[f")[0]


def test_a_wrong_checkpointed_bptt_fails(monkeypatch, capsys):
    """BPTT that recomputes every segment from the first checkpoint is caught by the checkpoint law alone."""
    scan = importlib.import_module("catlearn.backends.torch.scan")
    backward = scan.Scan.backward

    def from_the_first(self, tensors, cotangents, kept):
        return backward(self, tensors, cotangents, kept[:1] * len(kept) if self.checkpoint > 1 else kept)

    monkeypatch.setattr(scan.Scan, "backward", from_the_first)
    assert main(["verify", "--checks", "3", str(ROOT / "models" / "elman_rnn.cat")]) == 1
    out = capsys.readouterr().out
    assert _results(out, STATEFUL_LAWS) == ["pass"] * (len(STATEFUL_LAWS) - 1) + ["FAIL"]
    assert STATEFUL_LAWS[-1][1].__name__ == "checkpoints"


def test_a_wrong_derivative_fails_and_is_localised(monkeypatch, capsys, tmp_path):
    wrong = dataclasses.replace(REGISTRY["tanh"], rd=lambda g, i, y, dy: [g.mul(dy, g.sub(1.0, y))])
    monkeypatch.setitem(REGISTRY, "tanh", wrong)
    path = tmp_path / "m.cat"
    path.write_text("use std.nn\nmodel f : R[4] -> R[2] = dense(4, 3) ; tanh ; dense(3, 2)\n")
    assert main(["verify", "--checks", "5", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and out.endswith("\n\nverified 1 model (1 failed)\n")
    example = out.split("smallest failing diagram:")[1]
    assert "tanh(x0)" in example and "matvec" not in example.split("R[f] agrees")[0]


def test_the_summary_names_what_was_not_verified_and_strict_fails_on_it(capsys):
    models = [str(ROOT / "models" / f) for f in ("elman_rnn.cat", "parity.cat", "iris_logistic.cat")]
    assert main(["verify", "--checks", "2", *models]) == 0
    summary = capsys.readouterr().out.split("\n\n")[-1].splitlines()
    assert summary == ["verified 2 models; skipped 3, not verified:",
                       f"  {models[0]}: model elman (symbolic sizes: verify an instance)",
                       f"  {models[1]}: circuit parity (not real-valued)",
                       f"  {models[1]}: circuit parity_sum (not real-valued)"]
    assert main(["verify", "--strict", "--checks", "2", *models]) == 1
    assert "verified 2 models; skipped 3, not verified (an error with --strict):" in capsys.readouterr().out
    assert main(["verify", "--strict", "--checks", "2", models[2], str(ROOT / "models" / "digits_mlp.cat")]) == 0
    assert capsys.readouterr().out.endswith("\n\nverified 2 models\n")
