"""`catlearn verify`: laws pass on the bundled models, and a wrong derivative
is caught and localised to the box that has it."""
import dataclasses
from pathlib import Path

from catlearn.cli import main
from catlearn.core.primitives import REGISTRY

ROOT = Path(__file__).parent.parent


def test_bundled_models_satisfy_the_laws(capsys):
    models = [str(ROOT / "models" / f) for f in ("digits_mlp.cat", "elman_rnn.cat", "attention.cat")]
    assert main(["verify", "--checks", "5", *models]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.count("pass") == 10
    assert "skipped: stateful (feedback)" in out


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
    assert summary == ["verified 1 model; skipped 4, not verified:",
                       f"  {models[0]}: model elman (symbolic sizes: verify an instance)",
                       f"  {models[0]}: model elman_8_16 (stateful (feedback): laws of the delayed trace)",
                       f"  {models[1]}: circuit parity (not real-valued)",
                       f"  {models[1]}: circuit parity_sum (not real-valued)"]
    assert main(["verify", "--strict", "--checks", "2", *models]) == 1
    assert "verified 1 model; skipped 4, not verified (an error with --strict):" in capsys.readouterr().out
    assert main(["verify", "--strict", "--checks", "2", models[2], str(ROOT / "models" / "digits_mlp.cat")]) == 0
    assert capsys.readouterr().out.endswith("\n\nverified 2 models\n")
