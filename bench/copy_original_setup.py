"""The copy task in the original NumPy project's setup (reference notes, section 3.2), trained with dnc_lit's fast path
on one thread until solved. Records iterations, CPU and wall-clock time to a JSON file. A measurement, not a test.

Setup (as the original project): LSTM controller of 32 units, N = 64, W = 8, R = 2; batch 1; each sample is 4 copy
episodes of 4 random 4-bit vectors one after another (T = 4 x 11 = 44, the memory carried across episodes), the
project's channel layout (`layout="numpy"`), every step scored (`mask_input_phase=False`), the loss the mean
per-bit sigmoid cross-entropy (`per_bit=True`); RMSProp lr 1e-3, decay 0.9, eps 1e-8 outside the square root,
mean square starting at 1 (autograd's `rmsprop`); no gradient clipping of any kind.

Solved: every `--eval-every` iterations the first 100 of 1,000 fixed fresh samples (seed 12345, forward only) are
scored; if they have no bit error, all 1,000 are; the run stops when their mean bit errors per sample (all 44 x 5
output bits of a sample) is below 0.01, i.e. fewer than 10 wrong bits in the 1,000 samples. Evaluation time is counted
in the wall clock and also reported separately.

Usage: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/copy_original_setup.py --seed 0 --out nbs/data/copy_original_setup.json
"""
import os
for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"): os.environ.setdefault(k, "1")
import argparse, json, sys, time, platform, datetime
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as onp
from autograd import value_and_grad
from dnc_lit.model import DNCConfig, init_params
from dnc_lit.fast import fast_unroll
from dnc_lit.tasks import copy_task, bit_errors, Batch
from dnc_lit.train import masked_sigmoid_cross_entropy
from dnc_lit.optim import get_optimiser

BITS, LEN, EPISODES = 4, 4, 4


def sample(rng, batch_size=1):
    "A batch of samples of the original project: EPISODES copy episodes concatenated in time (T = EPISODES (2 LEN + 3))."
    eps = [copy_task(rng, batch_size, BITS, LEN, LEN, layout="numpy", mask_input_phase=False) for _ in range(EPISODES)]
    return Batch(*(onp.concatenate([getattr(e, f) for e in eps], axis=1) for f in ("inputs", "targets", "mask")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-iters", type=int, default=100_000)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--out", default="nbs/data/copy_original_setup.json")
    a = ap.parse_args()
    cfg = DNCConfig(input_size=BITS + 2, output_size=BITS + 1, hidden_size=32, memory_size=64, word_size=8, num_reads=2,
                    controller_grad_clip=None, impl="fast")
    params = init_params(cfg, a.seed)
    opt = get_optimiser("rmsprop", lr=1e-3, decay=0.9, eps=1e-8, eps_inside_sqrt=False)
    ost = opt.init(params)
    rng, eval_batch = onp.random.default_rng(a.seed), sample(onp.random.default_rng(12345), 1000)
    loss = lambda p, b: masked_sigmoid_cross_entropy(fast_unroll(p, b.inputs, cfg)[0], b.targets, b.mask, per_bit=True)
    vg = value_and_grad(loss)
    rec = dict(what="copy task in the original NumPy project's setup, dnc_lit fast path, one thread",
               started=f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", seed=a.seed,
               machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {onp.__version__}",
               threads={k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
               load_average_start=os.getloadavg()[0], config=dict(hidden=32, N=64, W=8, R=2, batch=1, bits=BITS,
               length=LEN, episodes=EPISODES, T=EPISODES * (2 * LEN + 3), optimiser="rmsprop lr 1e-3 decay 0.9 eps 1e-8"),
               solved_when="mean bit errors per sample < 0.01 on 1,000 fresh samples (seed 12345)", evals=[], solved=False)
    w0, c0, eval_wall, losses = time.perf_counter(), time.process_time(), 0.0, []
    for it in range(1, a.max_iters + 1):
        l, g = vg(params, sample(rng))
        params, ost = opt.update(params, g, ost)
        losses.append(float(l))
        if it % a.eval_every == 0:
            e0 = time.perf_counter()
            score = lambda n: onp.concatenate([bit_errors(fast_unroll(params, eval_batch.inputs[i:i + 100], cfg)[0],
                                                          eval_batch.targets[i:i + 100], eval_batch.mask[i:i + 100])
                                               for i in range(0, n, 100)])
            errs, n_eval = float(onp.mean(score(100))), 100
            if errs == 0: errs, n_eval = float(onp.mean(score(1000))), 1000
            eval_wall += time.perf_counter() - e0
            ev = dict(iteration=it, mean_bit_errors=errs, samples=n_eval, train_loss_last=float(onp.mean(losses[-a.eval_every:])),
                      wall_seconds=round(time.perf_counter() - w0, 1), cpu_seconds=round(time.process_time() - c0, 1),
                      eval_wall_seconds=round(eval_wall, 1), load_average=os.getloadavg()[0])
            rec["evals"].append(ev)
            print(json.dumps(ev), flush=True)
            rec.update(iterations=it, wall_seconds=ev["wall_seconds"], cpu_seconds=ev["cpu_seconds"],
                       eval_wall_seconds=ev["eval_wall_seconds"], load_average_end=ev["load_average"])
            if n_eval == 1000 and errs < 0.01: rec["solved"] = True
            with open(a.out, "w") as f: json.dump(rec, f, indent=1)
            if rec["solved"]: break


if __name__ == "__main__":
    main()
