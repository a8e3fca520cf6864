"""Every chapter runs as a test: one pytest item per notebook, with nbdev's own engine and skip flags
(cells flagged `#| notest` or `#| slow` are skipped here; the book skips cells tagged `skip-execution`)."""
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))


@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_notebook_runs(nb):
    from nbdev.config import get_config
    from nbdev import test as nbtest  # not `from nbdev.test import test_nb`: pytest would collect it
    cfg = get_config(ROOT)
    flags = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags)
    ok, _ = nbtest.test_nb(nb, skip_flags=flags, basepath=ROOT, cell_timeout=900)
    assert ok, f"{nb.name} failed: its traceback is printed above. Run `.venv/bin/nbdev-test {nb.relative_to(ROOT)}`."


def test_every_chapter_is_in_the_book():
    "A notebook that is not in book/_toc.yml would silently never be published."
    toc = (ROOT / "book" / "_toc.yml").read_text()
    missing = [p.name for p in NBS if f"nbs/{p.stem}" not in toc]
    assert not missing, f"add these notebooks to book/_toc.yml: {missing}"


def test_notebooks_have_a_title_first():
    "Each chapter opens with one markdown H1 (the page title) and has no other H1."
    import json
    for p in NBS:
        cells = json.loads(p.read_text())["cells"]
        first = "".join(cells[0]["source"])
        assert cells[0]["cell_type"] == "markdown" and first.startswith("# "), f"{p.name}: first cell must be '# Title'"
        h1 = [c for c in cells if c["cell_type"] == "markdown"
              for line in "".join(c["source"]).splitlines() if line.startswith("# ")]
        assert len(h1) == 1, f"{p.name}: {len(h1)} H1 headings, expected 1"


def test_notebooks_committed_clean_and_tagged():
    """Notebooks carry no outputs (the book executes them), and nbdev's directive cells that are not
    for readers (`#| default_exp`, `#| hide`) are tagged `remove-cell` so the book hides them."""
    import json
    for p in NBS:
        for i, c in enumerate(json.loads(p.read_text())["cells"]):
            if c["cell_type"] != "code": continue
            assert not c.get("outputs"), f"{p.name} cell {i} has outputs: clear them before committing"
            src = "".join(c["source"]).lstrip()
            if src.startswith(("#| default_exp", "#|default_exp", "#| hide", "#|hide")):
                assert "remove-cell" in c["metadata"].get("tags", []), \
                    f"{p.name} cell {i} ({src.splitlines()[0]}) needs the tag remove-cell"
