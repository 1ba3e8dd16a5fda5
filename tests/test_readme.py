"""The README shows what the code does: each `$ catlearn …` transcript prints
what it shows (a `$ cat FILE` in it gives the file), and its Python snippets run."""
import re
import shlex
from pathlib import Path

from catlearn.cli import main

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, re.M | re.S)
TRANSCRIPTS = [text for lang, text in BLOCKS if not lang and text.startswith("$ ")]


def commands(text: str) -> list[tuple[str, str]]:
    """The (command, shown output) pairs of a transcript."""
    return [(chunk.split("\n", 1)[0], chunk.split("\n", 1)[1] if "\n" in chunk else "")
            for chunk in re.split(r"^\$ ", text, flags=re.M)[1:]]


def test_the_transcripts_print_what_they_show(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").symlink_to(ROOT / "models")
    shown = [pair for text in TRANSCRIPTS for pair in commands(text)]
    assert {"catlearn check models/digits_mlp.cat", "cat bad.cat", "catlearn check bad.cat"} <= {c for c, _ in shown}
    for command, output in shown:
        program, *args = shlex.split(command)
        assert program in ("cat", "catlearn"), f"a transcript runs `{program}`, which this test does not know"
        if program == "cat":
            Path(args[0]).write_text(output)
            continue
        main(args)
        captured = capsys.readouterr()
        assert captured.out + captured.err == output, command


def test_the_python_snippets_run(monkeypatch, capsys):
    """In order, in one namespace (a later snippet uses an earlier one's `mlp`)."""
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    snippets = [text for lang, text in BLOCKS if lang == "python"]
    for text in snippets:
        exec(compile(text, "README.md", "exec"), namespace)
    assert "def forward(" in namespace["net"].code
    accuracy = namespace["history"].accuracy
    shown = re.search(r"after (\d+) epochs: ([\d.]+)%", "".join(snippets))
    assert len(accuracy) == int(shown.group(1)) and abs(100 * accuracy[-1] - float(shown.group(2))) < 1.0
    assert capsys.readouterr().out.splitlines()[0] == "R[64] -> R[10] ['dense.W', 'dense.b', 'dense_1.W', 'dense_1.b']"
