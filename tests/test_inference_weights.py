"""The inference weights shipped in the package (dnc_lit/weights/inference.npz, chapter
"Inference"): the file holds parameters without optimiser state and the record of its run that
the chapter reads; the recorded evaluation (nbs/data/inference_evaluation.json, written by
tools/record_traversal_evaluation.py inference) is of these weights and agrees with
`dnc-lit evaluate` run now; every lesson the network passed is answered at 90 % or more (a
lesson the chapter lists as below the threshold is a strict xfail); the network has learned
more than an untrained one of its shape; and `dnc-lit ask --relation` asks it about the family
tree."""
import json, math
from importlib.resources import files
from pathlib import Path
import numpy as onp
import pytest

from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.curriculum import CURRICULUM_TASKS, lesson_accuracy
from dnc_lit.model import DNCConfig, DNC
from helpers import (check_evaluate_agrees, check_evaluation_record, check_shipped_file,
                     check_shipped_metadata, lesson_args, load_tool, passed_lesson_params,
                     run_cli)

ROOT = Path(__file__).resolve().parents[1]
PATH = files("dnc_lit") / "weights" / "inference.npz"
RECORD = ROOT / "nbs" / "data" / "inference_evaluation.json"
SEED = 12345                    # the record's and the chapter's seed
SPEC = CURRICULUM_TASKS["inference"]

CK = load_checkpoint(PATH)
META = CK.metadata
PASSED = {p["lesson"]: p["step"] for p in META["curriculum_state"]["passed"]}
RECORDED = {int(k): v for k, v in json.loads(RECORD.read_text())["lessons"].items()}


# --- the file -------------------------------------------------------------------------

def test_shipped_file_is_parameters_only_and_small():
    check_shipped_file(PATH, CK, 3e6)
    assert "eval_rng" not in META["curriculum_state"]


def test_all_shipped_weights_stay_under_10_mb():
    total = sum(p.stat().st_size for p in Path(files("dnc_lit") / "weights").glob("*"))
    assert total < 10e6, f"dnc_lit/weights holds {total / 1e6:.1f} MB"


def test_metadata_the_chapter_reads():
    check_shipped_metadata(META, "inference")
    assert META["shipped"] == {"from": "inference.npz", "step": META["step"],
                               "tool": "tools/ship_weights.py"}


# --- the recorded evaluation ----------------------------------------------------------

def test_the_record_is_of_the_shipped_weights():
    assert check_evaluation_record(RECORD, CK, "inference", SEED) == RECORDED


def test_dnc_lit_evaluate_agrees_with_the_record():
    """`dnc-lit evaluate` run now on the first 100 sequences of every lesson (the same
    generator as the record's 1,000): each share within four standard errors of the
    record's."""
    check_evaluate_agrees(PATH, RECORDED, SEED)


# --- what it answers ------------------------------------------------------------------

@pytest.mark.parametrize("k", passed_lesson_params(PASSED, RECORDED, 0.9, "Inference"))
def test_a_passed_lesson_is_answered_at_90_percent(k):
    """The promise of a passed lesson, measured as the chapter measures it: at least 90 % of
    the 1,000 sequences of `dnc-lit evaluate --seed 12345` exactly right."""
    model = DNC.from_config(DNCConfig(**CK.config))
    a = lesson_accuracy(model, CK.params, SPEC.sampler, lesson_args(META, k), SPEC.solved, 1000,
                        onp.random.default_rng([SEED, k]))
    assert a >= 0.9, f"lesson {k}, passed at step {PASSED[k]:,}: {a:.3f}"


def test_the_network_has_learned_beyond_an_untrained_one():
    """On the lesson it answers best (by the record), the shipped network answers 200 fresh
    sequences (seed 7) right far more often than an untrained network of the same shape: by
    more than four standard errors of the difference and by at least 20 points. This holds
    before any lesson is passed, when the test above has nothing to check."""
    k = max(RECORDED, key=lambda j: RECORDED[j]["accuracy"])
    config = DNCConfig(**CK.config)
    model = DNC.from_config(config)
    shares = [lesson_accuracy(model, p, SPEC.sampler, lesson_args(META, k), SPEC.solved, 200,
                              onp.random.default_rng([7, k]))
              for p in (CK.params, model.init(0))]
    trained, untrained = shares
    se = math.sqrt(sum(max(p * (1 - p), 0.01) for p in shares) / 200)
    assert trained - untrained > max(4 * se, 0.2), (k, trained, untrained)
    assert abs(trained - RECORDED[k]["accuracy"]) <= 4 * math.sqrt(
        max(RECORDED[k]["accuracy"] * (1 - RECORDED[k]["accuracy"]), 0.01) / 200)


def test_ask_a_family_relation_on_the_command_line():
    """`dnc-lit ask --relation` on the family tree, with memory enough for it: the question
    in words, the network's answer, the true answer (George) and a verdict."""
    r = run_cli("ask", PATH, "--graph", "family", "--start", "Xanthe", "--relation",
                "mother", "mother", "brother", "--memory-size", 128)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Who is Xanthe's mother's mother's brother?"
    assert lines[1].startswith("network: ")
    assert lines[2] == "answer:  Xanthe --mother, mother, brother--> George"
    assert lines[3] in ("right", "wrong")
    assert (lines[3] == "right") == (lines[1] == "network: " + lines[2][len("answer:  "):])


# --- the tool that records the evaluation ---------------------------------------------

def test_record_tool_defaults_to_traversal_and_takes_the_task(monkeypatch):
    tool, calls = load_tool("record_traversal_evaluation"), []
    monkeypatch.setattr(tool, "record", lambda w, o: calls.append((w, o)) or 0)
    assert tool.main([]) == 0 and tool.main(["inference"]) == 0
    assert tool.main(["shortest-path", "--weights", "w.npz", "--out", "r.json"]) == 0
    assert calls == [("dnc_lit/weights/traversal.npz", "nbs/data/traversal_evaluation.json"),
                     ("dnc_lit/weights/inference.npz", "nbs/data/inference_evaluation.json"),
                     ("w.npz", "r.json")]


def test_record_tool_writes_the_record_the_chapter_reads(monkeypatch, tmp_path):
    tool = load_tool("record_traversal_evaluation")
    monkeypatch.setattr(tool, "SEQUENCES", "20")
    out = tmp_path / "record.json"
    assert tool.main(["inference", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["step"] == META["step"]
    assert rec["command"] == ("dnc-lit evaluate dnc_lit/weights/inference.npz "
                              f"--num-sequences 20 --seed {SEED} --json")
    assert {"machine", "recorded"} <= set(rec)
    assert sorted(map(int, rec["lessons"])) == sorted(RECORDED)
    assert all(v["sequences"] == 20 for v in rec["lessons"].values())
