"""An experiment, not part of the library: start joint training on the 20 bAbI tasks
from a network that has already learned task 1 (`bench/babi_permute.py`).

A task-1 network reads and writes the 22 words of task 1's lexicon; the joint tasks have
159. Widening keeps every weight the trained network has: the controller's input rows
and the output columns of its 22 words go to those words' places in the larger lexicon,
and the rest of the controller and the memory interface are copied as they are. Only the
rows and columns of the 137 new words are drawn fresh (the initialisation of a new run
with the same seed). The run then trains on all 20 tasks pooled, as `dnc-lit train babi`
does, in chunks of --validate-every steps, each followed by a validation in the format
of bench/babi_train.py (OUT.valid.jsonl):

    python bench/babi_widen.py --out experiments/babi_widened/babi_widened.npz \\
        --steps 200000 --log experiments/babi_widened/babi_widened.jsonl \\
        --start-from experiments/babi_permute_q1/babi_permute_q1.npz \\
        --data /work/shared/data/babi/tasks_1-20_v1-2.tar.gz \\
        --batch-size 8 --optimiser adam --lr 3e-4

resumes when OUT exists (then without --start-from and --data). The checkpoint is a bAbI
checkpoint like those of `dnc-lit train babi`, so `dnc-lit evaluate`, the validation
wrapper and the record tool read it; its metadata keeps where its first weights came
from (`widened_from`: the source checkpoint, its command, step, stories seen and CPU
seconds), so that the cost of the whole recipe can be stated.
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")
import argparse, dataclasses, shlex, sys
from pathlib import Path
import numpy as onp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from dnc_lit import babi
from dnc_lit.checkpoint import load_checkpoint, save_checkpoint
from dnc_lit.train import (train, config_from_json, config_to_json, NETWORKS,
                           network_name)
from dnc_lit.baseline import LSTMConfig          # registers the LSTM baseline
from dnc_lit.cli import _babi_data, _babi_meta, BABI_VALIDATION
from babi_train import validate

assert LSTMConfig


def widened(params, old_words, new_params, new_words):
    """`params` of a network over the lexicon `old_words`, placed in `new_params` (a
    fresh network of the same shape over `new_words`): the first layer's input rows and
    the output columns (W_y, W_r) of each old word move to that word's new place; all
    other rows and every other array are copied; the new words keep their fresh
    values."""
    where = [new_words.index(w) for w in old_words]     # ValueError if a word is gone
    X, Y = len(old_words), len(new_words)
    out = {k: onp.array(v) for k, v in new_params.items()}
    for k, v in params.items():
        if k == "lstm1_W":                              # rows: [x; reads; h] or [x; h]
            assert v.shape[0] - X == out[k].shape[0] - Y, k
            out[k][where] = v[:X]
            out[k][Y:] = v[X:]
        elif k in ("W_y", "W_r"):                       # columns: the output words
            out[k][:, where] = v
        else:
            assert v.shape == out[k].shape, (k, v.shape, out[k].shape)
            out[k][...] = v
    return out


def start(a, command):
    "The step-0 checkpoint OUT: the network of --start-from, widened to all 20 tasks."
    src, out = load_checkpoint(a.start_from), Path(a.out)
    data, train_s, _, lexicon = _babi_data(a.data, "en-10k", a.seed)
    old = config_from_json(src.config)
    config = dataclasses.replace(old, input_size=len(lexicon), output_size=len(lexicon))
    fresh = NETWORKS[network_name(config)].init_params(config, a.seed)
    params = widened(src.params, list(src.metadata["lexicon"]), fresh,
                     list(lexicon.words))
    m = src.metadata
    meta = {"task": "babi", "length_groups": a.length_groups, "command": command,
            **_babi_meta(data, lexicon, {"fraction": BABI_VALIDATION, "seed": a.seed}),
            "widened_from": {
                "checkpoint": a.start_from, "command": m["command"],
                "resumed": m.get("resumed", []), "step": m["step"],
                "stories_seen": m["step"] * m["task_args"]["batch_size"],
                "cpu_seconds": round(m["cpu_seconds"], 1),
                "lexicon_size": len(m["lexicon"])}}
    out.parent.mkdir(parents=True, exist_ok=True)
    sampler = babi.babi_sampler(train_s, lexicon, a.length_groups)
    train(config, sampler, 0, {"batch_size": a.batch_size}, optimiser=a.optimiser,
          lr=a.lr, seed=a.seed, checkpoint=str(out), metadata=meta, progress=False,
          objective=babi.BABI_OBJECTIVE)
    ck = load_checkpoint(out)                 # step 0, fresh weights: put ours in
    save_checkpoint(out, params, ck.opt_state, config_to_json(config), ck.metadata)
    print(f"{out}: step 0, {a.start_from}'s weights widened from {len(m['lexicon'])} "
          f"to {len(lexicon)} words", file=sys.stderr)


def parser():
    "The command line of this script."
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--start-from", help="a task-1 checkpoint of bench/babi_permute.py "
                    "(new runs)")
    ap.add_argument("--data", help="the bAbI archive (new runs; resumes use the run's)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--optimiser", choices=("adam", "rmsprop"), default="adam")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--length-groups", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--validate-every", type=int, default=1000)
    ap.add_argument("--validate-stories", type=int, default=25)
    return ap


def main(argv=None):
    ap = parser()
    a = ap.parse_args(argv)
    out = Path(a.out)
    command = "python bench/babi_widen.py " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    resumed = out.exists()
    if not resumed:
        if a.start_from is None or a.data is None:
            ap.error("a new run needs --start-from CHECKPOINT and --data PATH")
        start(a, command)
    elif a.start_from is not None:
        ap.error(f"{out} exists: it resumes from its own weights, not --start-from")
    ck = load_checkpoint(out)
    meta = {k: v for k, v in ck.metadata.items() if k not in ("history", "step")}
    if resumed:
        meta["resumed"] = ck.metadata.get("resumed", []) + [
            {"step": ck.metadata["step"], "command": command}]
    v = meta["validation"]
    data, train_s, _, lexicon = _babi_data(meta["data"], meta["version"], v["seed"],
                                           v["fraction"])
    assert list(lexicon.words) == meta["lexicon"], "not the data the run was trained on"
    sampler = babi.babi_sampler(train_s, lexicon, meta["length_groups"])
    step, cache = ck.metadata["step"], {}
    while step < a.steps:
        stop = min(a.steps, (step // a.validate_every + 1) * a.validate_every)
        train(config_from_json(ck.config), sampler, stop, resume=load_checkpoint(out),
              checkpoint=str(out), checkpoint_every=500, log=a.log, progress="lines",
              metadata=meta, objective=babi.BABI_OBJECTIVE)
        step = load_checkpoint(out).metadata["step"]
        if step < stop: break                           # interrupted
        validate(str(out), a.validate_stories, cache)
    return 0


if __name__ == "__main__":
    try: sys.exit(main())
    except KeyboardInterrupt:                   # the checkpoint is saved by then
        print("\ninterrupted", file=sys.stderr); sys.exit(130)
