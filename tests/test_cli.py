"""The command line: exit codes, JSON output, the formatter's file handling."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import catlearn
from catlearn.cli import main

ROOT = Path(__file__).parent.parent
MODELS = sorted(str(p) for p in (ROOT / "models").glob("*.cat"))


def test_check_all_models(capsys):
    assert main(["check", *MODELS]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok") == len(MODELS)
    assert "model mlp : R[64] -> R[10]" in out


def test_exit_codes(tmp_path, capsys):
    bad = tmp_path / "bad.cat"
    bad.write_text("model f : R -> R = relu\n")
    assert main(["check", str(bad)]) == 1
    assert main(["check", str(tmp_path / "missing.cat")]) == 2
    assert main(["check", str(tmp_path)]) == 2
    assert main(["nonsense"]) == 2
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "is a directory" in err


def test_json_output(tmp_path, capsys):
    bad = tmp_path / "bad.cat"
    bad.write_text("use std.nn\nmodel f : R[3] -> R[3] = rleu\n")
    assert main(["check", "--json", MODELS[0], str(bad)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    good, failed = report["files"]
    assert good["ok"] and good["definitions"]
    error, = failed["errors"]
    assert (error["line"], error["col"], error["hint"]) == (2, 26, "did you mean `relu`?")


@pytest.mark.parametrize("command", [[], ["check"], ["fmt"], ["verify"]])
def test_help_everywhere(command, capsys):
    assert main(command + ["--help"]) == 0
    assert "usage: catlearn" in capsys.readouterr().out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert catlearn.__version__ in capsys.readouterr().out


def test_console_script_runs_as_a_process():
    result = subprocess.run([sys.executable, "-m", "catlearn", "check", "-q", MODELS[0]], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_fmt_rewrites_in_place_and_check_reports(tmp_path, capsys):
    path = tmp_path / "m.cat"
    path.write_text("use std.nn\nmodel f:R[3]->R[3]=relu;tanh   -- keep me\n")
    assert main(["fmt", "--check", str(path)]) == 1
    assert main(["fmt", "--diff", str(path)]) == 1
    assert "+model f : R[3] -> R[3] = relu ; tanh  -- keep me" in capsys.readouterr().out
    assert main(["fmt", str(path)]) == 0
    assert path.read_text() == "use std.nn\n\nmodel f : R[3] -> R[3] = relu ; tanh  -- keep me\n"
    assert main(["fmt", "--check", str(path)]) == 0
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_fmt_leaves_a_file_that_does_not_parse_untouched(tmp_path):
    path = tmp_path / "m.cat"
    text = "model f : R[3] -> R[3] = (relu\n"
    path.write_text(text)
    assert main(["fmt", str(path)]) == 1
    assert path.read_text() == text


def test_bundled_models_are_formatted():
    assert main(["fmt", "--check", *MODELS]) == 0


def test_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"use std.nn\nmodel f:R->R=relu\n")))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == "use std.nn\n\nmodel f : R -> R = relu\n"


def test_internal_errors_are_reported_as_bugs(monkeypatch, capsys, tmp_path):
    import catlearn.cli as cli

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "check_bytes", boom)
    assert main(["check", MODELS[0]]) == 3
    assert "internal error" in capsys.readouterr().err


def test_fmt_keeps_file_permissions(tmp_path):
    path = tmp_path / "m.cat"
    shutil.copy(MODELS[0], path)
    path.write_text(path.read_text() + "\n\n\n")
    path.chmod(0o640)
    assert main(["fmt", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o640
