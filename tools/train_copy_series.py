"""Train the network of the chapter "Extended Data Fig. 1": a DNC with a feed-forward
controller and N = 10 memory slots on a series of copies (`dnc_lit.tasks.copy_series_task`),
with the library's `dnc_lit.train.train` and its public arguments only.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/train_copy_series.py

writes the weights to dnc_lit/weights/copy_series.npz (a training checkpoint whose metadata
holds this command, the seed, the steps, the sequences seen and the CPU time) and the record
of the run to nbs/data/copy_series_training.json. The chapter draws its figure from the
shipped weights and reads the record; it does not run this script.
"""
import argparse, json, os, platform, shlex, sys, time
from pathlib import Path
import numpy as onp
from dnc_lit.checkpoint import load_checkpoint, save_checkpoint
from dnc_lit.model import DNCConfig, DNC
from dnc_lit.tasks import copy_series_task
from dnc_lit.train import train, evaluate

ROOT = Path(__file__).resolve().parents[1]


def config():
    "The model: feed-forward controller (64 tanh units), N = 10 slots of W = 8, one read head."
    return DNCConfig(input_size=6, output_size=5, controller="feedforward", hidden_size=64,
                     memory_size=10, word_size=8, num_reads=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=6, help="copy episodes per sequence")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", default="dnc_lit/weights/copy_series.npz")
    ap.add_argument("--record", default="nbs/data/copy_series_training.json")
    a = ap.parse_args(argv)
    command = "OMP_NUM_THREADS=1 python tools/train_copy_series.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    task_args = dict(batch_size=16, num_bits=4, num_episodes=a.episodes, min_length=1,
                     max_length=5)
    out = ROOT / a.out
    meta = {"task": "copy-series", "command": command.strip(),
            "sampler": "dnc_lit.tasks.copy_series_task"}
    res = train(config(), copy_series_task, a.steps, task_args=task_args, optimiser="adam",
                lr=a.lr, seed=a.seed, max_grad_norm=50.0, log_every=100, checkpoint=str(out),
                progress="lines", metadata=meta)
    # the figure's test: 10 episodes of 5 vectors (50 vectors through 10 slots)
    model = DNC.from_config(config())
    test_args = {**task_args, "num_episodes": 10, "min_length": 5, "max_length": 5}
    errors = evaluate(model, res.params, copy_series_task, test_args, num_sequences=500,
                      seed=2024, batch_size=250)
    ck = load_checkpoint(out)
    extra = {"sequences_seen": res.step * task_args["batch_size"],
             "test": {"task_args": test_args, "num_sequences": 500, "seed": 2024,
                      "mean_bit_errors": float(errors.mean()),
                      "perfect": float((errors == 0).mean())},
             "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                        f"Python {platform.python_version()}, NumPy {onp.__version__}"}
    save_checkpoint(out, ck.params, ck.opt_state, ck.config, {**ck.metadata, **extra})
    record = {**{k: v for k, v in ck.metadata.items() if k not in ("rng", "meter")}, **extra,
              "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (ROOT / a.record).write_text(json.dumps(record, indent=1) + "\n")
    print(f"{res.step} steps, {extra['sequences_seen']:,} sequences, "
          f"{res.cpu_seconds / 60:.1f} CPU-minutes; 10 episodes of 5: "
          f"{errors.mean():.4f} bit errors per sequence")


if __name__ == "__main__":
    main()
