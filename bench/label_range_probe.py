"""What makes the first traversal lesson hard at small scale: the label space.

Trains the same small DNC on the paper's first traversal lesson (3–10 nodes, out-degree
2–4, one hop) twice, once with node labels drawn from 0–9 (one varying digit) and once
from 0–999 (the paper's three digits), with the same seed, optimiser and number of
sequences, and records the fraction of fresh training sequences answered exactly (modal
outputs) per logging interval. Not a test: about 5–10 CPU-minutes per arm.

    python bench/label_range_probe.py [--steps 2500] [--seeds 0] \
        [--out nbs/data/label_range_probe.json]

The chapter "Curriculum learning" reads the JSON this writes.
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")
import argparse, datetime, json, platform, shlex, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import numpy as np
from dnc_lit.model import DNCConfig
from dnc_lit.train import train
from dnc_lit.graphs import traversal_task, INPUT_SIZE, OUTPUT_SIZE
from dnc_lit.curriculum import GRAPH_OBJECTIVE, TRAVERSAL_LESSONS

MODEL = dict(hidden_size=128, memory_size=64, word_size=32, num_reads=2, dtype="float32")
ARMS = {"labels 0-9": (0, 9), "labels 0-999": (0, 999)}


def lesson_one(label_range):
    "The paper's first traversal lesson with the node labels drawn from `label_range`."
    first = [les for les in TRAVERSAL_LESSONS if les["label_range"] == [0, 999]][0]
    return {**first, "label_range": list(label_range), "batch_size": 16}


def run(label_range, steps, seed, log_every):
    config = DNCConfig(input_size=INPUT_SIZE, output_size=OUTPUT_SIZE, **MODEL)
    r = train(config, traversal_task, steps, lesson_one(label_range), optimiser="adam",
              lr=1e-3, seed=seed, objective=GRAPH_OBJECTIVE, log_every=log_every,
              progress=False)
    return [{"step": h["step"], "sequences": h["step"] * 16,
             "solved": round(1 - h["errors"], 4), "loss": round(h["loss"], 4),
             "cpu_seconds": h["cpu_seconds"]} for h in r.history]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--out", default=str(ROOT / "nbs/data/label_range_probe.json"))
    a = p.parse_args()
    out = {"command": "python bench/label_range_probe.py " + shlex.join(sys.argv[1:]),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                      f"Python {platform.python_version()}, NumPy {np.__version__}",
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
           "model": MODEL, "optimiser": "adam", "lr": 1e-3, "batch_size": 16,
           "lesson": lesson_one((0, 999)), "runs": []}
    for seed in a.seeds:
        for name, rng in ARMS.items():
            t = time.process_time()
            curve = run(rng, a.steps, seed, a.log_every)
            out["runs"].append({"arm": name, "label_range": list(rng), "seed": seed,
                                "curve": curve,
                                "cpu_seconds": round(time.process_time() - t, 1)})
            print(f"{name} seed {seed}: solved {curve[-1]['solved']:.3f} after "
                  f"{curve[-1]['sequences']} sequences", flush=True)
            Path(a.out).write_text(json.dumps(out, indent=1) + "\n")   # after each run
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
