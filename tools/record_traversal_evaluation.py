"""Record the per-lesson accuracy of the shipped traversal network, which chapter
"Traversal" reads (running it there would take minutes of every book build):

    .venv/bin/python tools/record_traversal_evaluation.py

runs `dnc-lit evaluate dnc_lit/weights/traversal.npz --num-sequences 1000 --seed 12345
--json` with one BLAS thread and writes its JSON, with the command, the shipped step, the
machine and the date, to nbs/data/traversal_evaluation.json. Run it again whenever the
weights are shipped again; the chapter refuses a record of another step.
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"
import contextlib, datetime, io, json, platform, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.cli import main as dnc_lit_main

WEIGHTS = "dnc_lit/weights/traversal.npz"
ARGS = ["evaluate", WEIGHTS, "--num-sequences", "1000", "--seed", "12345", "--json"]


def main():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = dnc_lit_main([ARGS[0], str(ROOT / WEIGHTS), *ARGS[2:]])
    if code: return code
    record = {"command": "dnc-lit " + " ".join(ARGS),
              "step": load_checkpoint(ROOT / WEIGHTS).metadata["step"],
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                         f"{platform.python_version()}, one BLAS thread",
              "recorded": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
                          " UTC",
              "lessons": json.loads(out.getvalue())}
    path = ROOT / "nbs" / "data" / "traversal_evaluation.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}: step {record['step']}, "
          + ", ".join(f"{k}: {100 * v['accuracy']:.1f} %"
                      for k, v in record["lessons"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
