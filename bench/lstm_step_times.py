"""CPU time of a training step of the LSTM baseline and of the DNC on traversal batches
(chapter "The LSTM baseline", section "What a step costs"). Not a test.

    python bench/lstm_step_times.py [--steps 10] [--out nbs/data/lstm_step_times.json]

Each network: the traversal objective, Adam, batches of 16 from the curriculum's third
lesson (the paper's first: 3-10 nodes, out-degree 2-4, paths of one edge, labels
0-999), one untimed step, then --steps timed steps; the median CPU seconds per step are
kept. The networks take turns, one step each on the same batch, so that whatever else
the machine does falls on all of them alike. The networks: the book's traversal DNC
(LSTM 128, memory 64 x 32, 2 read heads, float32 as in its run) and the baselines with
as many parameters (1, 2 and 3 layers) in float32 and float64, and the two-layer one
through autograd (the reference unroll) for comparison. One BLAS thread (set before
numpy is imported).
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")
import argparse, datetime, json, platform, shlex, statistics, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import numpy as onp
from dnc_lit.model import DNCConfig, parameter_count as dnc_count
from dnc_lit.baseline import LSTMConfig, parameter_count, matched_hidden_size
from dnc_lit.curriculum import CURRICULUM_TASKS
from dnc_lit.optim import get_optimiser
from dnc_lit.train import NETWORKS, network_name, build_model, train_step


def networks():
    "(name, config) of every network timed."
    dnc = DNCConfig(input_size=92, output_size=90, hidden_size=128, memory_size=64,
                    word_size=32, num_reads=2, dtype="float32")
    out = [("DNC 1 x 128, memory 64 x 32, R 2", dnc)]
    for L in (1, 2, 3):
        H = matched_hidden_size(dnc_count(dnc), 92, 90, L)
        for dtype in ("float32", "float64"):
            out.append((f"LSTM {L} x {H} ({dtype})",
                        LSTMConfig(92, 90, H, L, dtype=dtype)))
        if L == 2:   # the same baseline differentiated by autograd, step by step
            out.append((f"LSTM {L} x {H} (float64, autograd)",
                        LSTMConfig(92, 90, H, L, impl="reference")))
    return out


def time_steps(configs, steps, seed=0):
    """Median CPU seconds of a training step of each config on lesson-3 traversal
    batches (the same batches for all), and the batches' lengths. The networks take
    turns, one step each, so that whatever else the machine does falls on all alike."""
    spec = CURRICULUM_TASKS["traversal"]
    rng, opt = onp.random.default_rng(seed), get_optimiser("adam", lr=1e-3)
    runs = []
    for config in configs:
        params = NETWORKS[network_name(config)].init_params(config, seed)
        runs.append([build_model(config), params, opt.init(params), []])
    lengths = []
    for k in range(steps + 1):
        batch = spec.sampler(rng, batch_size=16, **spec.lessons[2])
        lengths.append(int(batch.inputs.shape[1]))
        for run in runs:
            model, params, state, times = run
            t0 = time.process_time()
            run[1], run[2], _ = train_step(model, params, state, batch, opt, 50.0,
                                           False, spec.objective)
            if k: times.append(time.process_time() - t0)
    return [statistics.median(run[3]) for run in runs], lengths


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", default="nbs/data/lstm_step_times.json")
    a = p.parse_args()
    load = list(os.getloadavg())
    nets = networks()
    cpus, lengths = time_steps([c for _, c in nets], a.steps)
    results = []
    for (name, config), cpu in zip(nets, cpus):
        count = (dnc_count(config) if isinstance(config, DNCConfig)
                 else parameter_count(config))
        results.append({"name": name, "network": network_name(config),
                        "config": dict(vars(config)), "parameters": count,
                        "cpu_seconds": round(cpu, 5)})
        print(f"{name:<34} {count:>9,} {cpu:.4f} CPU s / step", flush=True)
    record = {
        "what": "CPU seconds of one training step (forward, traversal loss, backward, "
                "Adam) on traversal batches of 16 from the curriculum's third lesson, "
                "one BLAS thread, after one untimed step",
        "command": "python " + " ".join(map(shlex.quote, ["bench/lstm_step_times.py",
                                                          *sys.argv[1:]])),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "recorded": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "load_average_start": load, "steps": a.steps, "sequence_lengths": lengths,
        "results": results}
    Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__": main()
