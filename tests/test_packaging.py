"""The wheel installs alone: built from the tree, installed into a fresh virtual environment with only
its runtime dependencies (numpy, autograd), every module of dnc_lit imports. No network: the build uses
the setuptools already installed, and the install takes numpy and autograd from uv's local cache."""
import os, shutil, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    (whl,) = out.glob("dnc_lit-*.whl")
    return whl


def test_wheel_contents_and_metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    mods = sorted(p.name for p in (ROOT / "dnc_lit").glob("*.py"))
    for m in mods: assert f"dnc_lit/{m}" in names, f"{m} missing from the wheel"
    assert not any(n.startswith(("nbs/", "tests/", "book/")) for n in names)
    for w in ("copy", "repeat_copy", "copy_series", "traversal", "inference", "babi"):
        assert f"dnc_lit/weights/{w}.npz" in names, f"trained weights {w}.npz not shipped"
    assert any(n.endswith("entry_points.txt") and b"dnc-lit = dnc_lit.cli:main" in z.read(n)
               for z in [zipfile.ZipFile(wheel)] for n in z.namelist()), "console script dnc-lit missing"
    reqs = [l.split(":", 1)[1].strip() for l in meta.splitlines() if l.startswith("Requires-Dist:")]
    runtime = sorted(r.split(">")[0].split("<")[0].split("=")[0].split(";")[0].strip().lower()
                     for r in reqs if "extra ==" not in r)
    assert runtime == ["autograd", "numpy"], f"runtime dependencies must be numpy and autograd only, got {runtime}"
    assert "License-Expression: MIT" in meta


def test_wheel_installs_alone_and_imports(wheel, tmp_path):
    uv = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
    if uv is None: pytest.skip("uv is not installed (make venv installs it)")
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NATIVE_TLS": "1"}
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env)
    py = venv / "bin" / "python"
    r = subprocess.run([uv, "pip", "install", "-q", "--offline", "--python", str(py), str(wheel)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, f"offline install of the wheel failed (is uv's cache populated by `make venv`?):\n{r.stderr}"
    mods = sorted(p.stem for p in (ROOT / "dnc_lit").glob("*.py") if p.stem != "__init__")
    code = ("import importlib, importlib.util, dnc_lit\n"
            f"for m in {mods!r}: importlib.import_module('dnc_lit.' + m)\n"
            "extra = [m for m in ('matplotlib', 'tqdm', 'nbdev', 'pytest', 'distributed', 'sklearn') if importlib.util.find_spec(m)]\n"
            "assert not extra, extra\n"
            "print(dnc_lit.__version__)")
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip(), "no version printed"
    # the command line and the shipped weights work without the extras
    cli = venv / "bin" / "dnc-lit"
    r = subprocess.run([str(cli), "evaluate", "--lengths", "3", "--num-sequences", "50", "--json",
                        str(venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
                            / "dnc_lit" / "weights" / "copy.npz")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import json
    assert json.loads(r.stdout)["3"]["mean_bit_errors"] < 0.05, r.stdout   # the shipped copy weights still copy
