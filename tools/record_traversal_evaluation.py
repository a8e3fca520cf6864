"""Record the per-lesson accuracy of a shipped graph network, which its chapter reads
(running it there would take minutes of every book build):

    .venv/bin/python tools/record_traversal_evaluation.py [TASK] [--weights W] [--out J]

runs `dnc-lit evaluate dnc_lit/weights/TASK.npz --num-sequences 1000 --seed 12345
--json` with one BLAS thread and writes its JSON, with the command, the shipped step, the
machine and the date, to nbs/data/TASK_evaluation.json. TASK is `traversal` (the
default: chapter "Traversal") or another graph task whose weights are shipped, such as
`inference` (chapter "Inference"); --weights and --out name other files (relative to the
repository's root). Run it again whenever the weights are shipped again; the chapters
refuse a record of another step.
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"
import argparse, contextlib, datetime, io, json, platform, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.cli import main as dnc_lit_main

SEQUENCES, SEED = "1000", "12345"


def record(weights, out):
    """Evaluate `weights` (a path relative to the root) and write the record to `out`.
    Returns the exit status of `dnc-lit evaluate`."""
    args = ["evaluate", weights, "--num-sequences", SEQUENCES, "--seed", SEED, "--json"]
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        code = dnc_lit_main([args[0], str(ROOT / weights), *args[2:]])
    if code: return code
    meta = load_checkpoint(ROOT / weights).metadata
    rec = {"command": "dnc-lit " + " ".join(args),
           "step": meta["step"],
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                      f"{platform.python_version()}, one BLAS thread",
           "recorded": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
                       " UTC",
           "lessons": json.loads(text.getvalue())}
    path = ROOT / out
    path.write_text(json.dumps(rec, indent=1) + "\n")
    print(f"wrote {path}: step {rec['step']}, "
          + ", ".join(f"{k}: {100 * v['accuracy']:.1f} %"
                      for k, v in rec["lessons"].items()))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Record the per-lesson accuracy of a "
                                 "shipped graph network for its chapter.")
    ap.add_argument("task", nargs="?", default="traversal",
                    help="the graph task whose shipped weights to evaluate (traversal)")
    ap.add_argument("--weights", help="the weights (default dnc_lit/weights/TASK.npz)")
    ap.add_argument("--out", help="the record (default nbs/data/TASK_evaluation.json)")
    a = ap.parse_args(argv)
    name = a.task.replace("-", "_")
    return record(a.weights or f"dnc_lit/weights/{name}.npz",
                  a.out or f"nbs/data/{name}_evaluation.json")


if __name__ == "__main__":
    sys.exit(main())
