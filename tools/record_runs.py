"""Write nbs/data/lstm_traversal.json, the record that chapter "The LSTM baseline" reads:
the baseline's traversal run and the DNC's, each as its command and the interval records
of its JSON-lines log (experiments/lstm_traversal/, experiments/traversal/), cut at the
step of its checkpoint so that the record matches what can be resumed.

    python tools/record_runs.py
"""
import datetime, json, os, platform, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dnc_lit.checkpoint import load_checkpoint


def run(name):
    "Command(s), batch size and history of the run in experiments/NAME/NAME.{npz,jsonl}."
    ck = load_checkpoint(ROOT / "experiments" / name / f"{name}.npz")
    m, step = ck.metadata, ck.metadata["step"]
    log = (ROOT / "experiments" / name / f"{name}.jsonl").read_text().splitlines()
    by_step = {}
    for line in log:                      # the last record written for a step wins
        r = json.loads(line)
        if r["step"] <= step: by_step[r["step"]] = r
    keep = ("step", "loss", "errors", "cpu_seconds", "seconds", "lesson", "accuracy")
    history = [{k: r[k] for k in keep if k in r} for _, r in sorted(by_step.items())]
    commands = [m["command"]] + [r["command"] for r in m.get("resumed", [])]
    return {"command": commands[0], "resumed": commands[1:],
            "batch_size": m["task_args"]["batch_size"], "network": m.get("network", "dnc"),
            "config": ck.config, "step": step, "history": history}


def main():
    record = run("lstm_traversal")
    record["dnc"] = run("traversal")
    record["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores, Python "
                         f"{platform.python_version()}; both runs one BLAS thread, "
                         "sharing the machine with each other and other jobs")
    record["recorded"] = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    record["made_by"] = "python tools/record_runs.py"
    out = ROOT / "nbs" / "data" / "lstm_traversal.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    h, d = record["history"][-1], record["dnc"]["history"][-1]
    print(f"wrote {out}: baseline step {h['step']}, lesson {h.get('lesson')}, "
          f"{h['cpu_seconds'] / 60:.0f} CPU-min; DNC step {d['step']}, lesson "
          f"{d.get('lesson')}, {d['cpu_seconds'] / 60:.0f} CPU-min")


if __name__ == "__main__":
    main()
