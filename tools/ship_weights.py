"""Ship a training checkpoint as package weights: parameters only, with its record.

    .venv/bin/python tools/ship_weights.py SRC.npz DST.npz [--log RUN.jsonl]

SRC is a checkpoint written by `dnc-lit train` (or `dnc_lit.train.train`); it holds the
parameters, the optimiser state and metadata. DST gets the parameters and the model
configuration unchanged, no optimiser state, and metadata that a chapter or
`dnc-lit evaluate` / `dnc-lit ask` can read:

- task, kind, network, seed, step, task_args, optimiser, max_grad_norm, log_every,
  measure: as saved;
- for bAbI: data, version, lexicon (the words in the order of the one-hot vectors, which
  `dnc-lit ask` needs), validation, substituted and length_groups, as saved (and
  widened_from, below);
- command (the first command) and commands (the first command, then every resume, each
  with the step it resumed from);
- sequences: the sequences trained on, step x batch size (every step draws one batch of
  the run's batch size, replayed lessons included);
- widened_from (bAbI runs of bench/babi_widen.py): the task-1 run whose weights the run
  started from, with its command, steps, stories and CPU time, as saved;
- seconds and cpu_seconds: the run's wall-clock and CPU time up to the checkpoint;
- curriculum (the settings) and curriculum_state without its random-generator state:
  the current lesson, the lessons passed with the step of each, and every evaluation;
- history: one record per logged interval (step, lesson, loss, errors or
  question_errors, accuracy where the curriculum evaluated, seconds, cpu_seconds), from
  the checkpoint's own history;
- shipped: the name of SRC, its step and this tool.

With --log, the JSON-lines log of the run is read too: its records up to the
checkpoint's step must agree with the checkpoint's history (a record written twice,
before and after a resume, counts as its last version), and steps the history lacks are
taken from the log. A mismatch is an error, so a log of another run is never shipped by
mistake.

The generator states (`rng`, `eval_rng`) and the interval meter are dropped: they only
serve to resume, and shipped weights are not resumed. Nothing else is changed.
"""
import argparse, json, sys
from pathlib import Path
from dnc_lit.checkpoint import load_checkpoint, save_checkpoint

KEEP = ("task", "kind", "network", "seed", "step", "task_args", "optimiser",
        "max_grad_norm", "per_bit", "log_every", "measure", "curriculum", "seconds",
        "cpu_seconds")
BABI = ("data", "version", "lexicon", "validation", "substituted", "length_groups",
        "widened_from")
RECORD = ("step", "lesson", "loss", "errors", "question_errors", "accuracy", "passed",
          "seconds", "cpu_seconds")


def read_log(path):
    "The records of a JSON-lines log by step (a step logged twice: its last record)."
    records = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip(): continue
        try: r = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}, line {n}: not JSON ({e})") from None
        records[r["step"]] = r
    return records


def history(meta, log=None):
    "The run's per-interval records, checked against the log's up to the checkpoint."
    saved = {r["step"]: r for r in meta.get("history", [])}
    if log is not None:
        for step, r in log.items():
            if step > meta["step"]: continue
            if step in saved and saved[step] != r:
                raise SystemExit(f"the log's record of step {step} differs from the "
                                 "checkpoint's: is it the log of this run?")
            saved.setdefault(step, r)
    return [{k: r[k] for k in RECORD if k in r} for _, r in sorted(saved.items())]


def commands(meta):
    "The first command, then each resume with the step it continued from."
    first = [{"step": 0, "command": meta.get("command")}]
    return first + [{"step": r["step"], "command": r["command"]}
                    for r in meta.get("resumed", [])]


def shipped_metadata(ck, src, log=None):
    "The metadata of the shipped file (see the module docstring)."
    meta = ck.metadata or {}
    needed = ("task", "kind", "step", "seed", "task_args")
    missing = [k for k in needed if k not in meta]
    if missing:
        raise SystemExit(f"{src}: not a training checkpoint (no {', '.join(missing)})")
    out = {k: meta[k] for k in KEEP + BABI if k in meta}
    out["command"], out["commands"] = meta.get("command"), commands(meta)
    out["sequences"] = meta["step"] * meta["task_args"]["batch_size"]
    if "curriculum_state" in meta:
        out["curriculum_state"] = {k: v for k, v in meta["curriculum_state"].items()
                                   if k != "eval_rng"}
    out["history"] = history(meta, log)
    out["shipped"] = {"from": Path(src).name, "step": meta["step"],
                      "tool": "tools/ship_weights.py"}
    return out


def ship(src, dst, log=None):
    "Write DST from the checkpoint SRC (and the log, if given). Returns the metadata."
    ck = load_checkpoint(src)
    meta = shipped_metadata(ck, src, None if log is None else read_log(log))
    save_checkpoint(dst, ck.params, None, ck.config, meta)
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="the training checkpoint (.npz)")
    ap.add_argument("dst", help="the file to write, e.g. dnc_lit/weights/traversal.npz")
    ap.add_argument("--log", help="the run's JSON-lines log, to check and complete the "
                                  "history")
    a = ap.parse_args(argv)
    meta = ship(a.src, a.dst, a.log)
    size = Path(a.dst).stat().st_size
    print(f"{a.dst}: {meta['task']}, step {meta['step']:,}, {meta['sequences']:,} "
          f"sequences, {meta.get('cpu_seconds', 0) / 60:.0f} CPU-minutes, "
          f"{len(meta['history'])} history records, {size / 1e6:.2f} MB",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
