"""The README's quickstart runs as written, and the book's preface runs the very same code."""
import json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quickstart():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README.md has no python block"
    return blocks[0]


def test_readme_quickstart_runs(capsys):
    exec(compile(_quickstart(), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "(2, 5, 7) (5, 2, 16) (5, 2, 16, 16)" in out, out


def test_preface_runs_the_readme_quickstart():
    cells = json.loads((ROOT / "nbs" / "00_preface.ipynb").read_text())["cells"]
    code = ["".join(c["source"]).strip() for c in cells if c["cell_type"] == "code"]
    assert _quickstart().strip() in code, "the preface's quickstart cell must be the README's quickstart, verbatim"
