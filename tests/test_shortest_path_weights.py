"""The shortest-path weights shipped in the package (dnc_lit/weights/shortest_path.npz, chapter
"Shortest path"): the file holds parameters without optimiser state and the record of its run
that the chapter reads; the recorded evaluation (nbs/data/shortest_path_evaluation.json, written
by tools/record_traversal_evaluation.py shortest-path) is of these weights and agrees with
`dnc-lit evaluate` run now; every lesson the network passed is solved at the curriculum's 80 %
(a lesson the chapter lists as below it is a strict xfail); the network walks better than an
untrained one of its shape; and `dnc-lit ask --to` plans a journey on the London Underground."""
import json, math
from importlib.resources import files
from pathlib import Path
import numpy as onp
import pytest

from dnc_lit import graphs
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.curriculum import CURRICULUM_TASKS, lesson_accuracy
from dnc_lit.model import DNCConfig, DNC
from helpers import (check_evaluate_agrees, check_evaluation_record, check_shipped_file,
                     check_shipped_metadata, lesson_args, passed_lesson_params, run_cli)

ROOT = Path(__file__).resolve().parents[1]
PATH = files("dnc_lit") / "weights" / "shortest_path.npz"
RECORD = ROOT / "nbs" / "data" / "shortest_path_evaluation.json"
SEED = 12345                    # the record's and the chapter's seed
SPEC = CURRICULUM_TASKS["shortest_path"]

CK = load_checkpoint(PATH)
META = CK.metadata
PASSED = {p["lesson"]: p["step"] for p in META["curriculum_state"]["passed"]}
RECORDED = {int(k): v for k, v in json.loads(RECORD.read_text())["lessons"].items()}


# --- the file -------------------------------------------------------------------------

def test_shipped_file_is_parameters_only_and_small():
    check_shipped_file(PATH, CK, 2e6)
    assert "eval_rng" not in META["curriculum_state"]


def test_metadata_the_chapter_reads():
    check_shipped_metadata(META, "shortest-path")
    assert META["shipped"] == {"from": "shortest_path.npz", "step": META["step"],
                               "tool": "tools/ship_weights.py"}
    assert META["task_args"].get("beta", 0.8) == 0.8          # the paper's DAgger mixture


# --- the recorded evaluation ----------------------------------------------------------

def test_the_record_is_of_the_shipped_weights():
    assert check_evaluation_record(RECORD, CK, "shortest_path", SEED) == RECORDED


def test_dnc_lit_evaluate_agrees_with_the_record():
    """`dnc-lit evaluate` run now on the first 100 sequences of every lesson (the same
    generator as the record's 1,000): each share within four standard errors of the
    record's."""
    check_evaluate_agrees(PATH, RECORDED, SEED)


# --- what it answers ------------------------------------------------------------------

@pytest.mark.parametrize("k", passed_lesson_params(PASSED, RECORDED, 0.8, "Shortest path"))
def test_a_passed_lesson_is_solved_at_80_percent(k):
    """The promise of a passed lesson, measured as the chapter measures it: at least 80 % of
    the 1,000 walks of `dnc-lit evaluate --seed 12345` arrive within one move of the
    shortest."""
    model = DNC.from_config(DNCConfig(**CK.config))
    a = lesson_accuracy(model, CK.params, SPEC.sampler, lesson_args(META, k), SPEC.solved, 1000,
                        onp.random.default_rng([SEED, k]))
    assert a >= 0.8, f"lesson {k}, passed at step {PASSED[k]:,}: {a:.3f}"


def test_the_network_walks_better_than_an_untrained_one():
    """On the current lesson, the shipped network's walks on 300 fresh sequences (seed 7)
    arrive within one move of the shortest more often than an untrained network's of the
    same shape, by more than four standard errors of the difference."""
    k = META["curriculum_state"]["lesson"]
    model = DNC.from_config(DNCConfig(**CK.config))
    shares = [lesson_accuracy(model, p, SPEC.sampler, lesson_args(META, k), SPEC.solved, 300,
                              onp.random.default_rng([7, k]))
              for p in (CK.params, model.init(0))]
    trained, untrained = shares
    se = math.sqrt(sum(max(p * (1 - p), 0.01) for p in shares) / 300)
    assert trained - untrained > 4 * se, (k, trained, untrained)


def test_the_walk_is_legal_and_stops_at_the_destination():
    """The network's own walks (graphs.evaluate_shortest_path) on 50 sequences of the current
    lesson: every move counted is an edge of the graph, `moves` is the first arrival, and
    optimal implies within one."""
    k = META["curriculum_state"]["lesson"]
    model = DNC.from_config(DNCConfig(**CK.config))
    b = SPEC.sampler(onp.random.default_rng([11, k]), **{**lesson_args(META, k), "batch_size": 50})
    r = graphs.evaluate_shortest_path(model, CK.params, b)
    shortest = onp.array([len(q.answer) for q in b.questions])
    assert (r["within_one"] >= r["optimal"]).all()
    arrived = r["moves"] >= 0
    assert (r["moves"][arrived] >= shortest[arrived]).all()     # never shorter than shortest
    assert (r["optimal"] == (r["moves"] == shortest)).all()


def test_ask_a_journey_on_the_command_line():
    """`dnc-lit ask --to` on the Underground with memory enough for it: the question in words,
    the network's walk, a shortest route and a verdict that agrees with the walk's length."""
    r = run_cli("ask", PATH, "--graph", "london", "--start", "Aldgate", "--to", "Angel",
                "--memory-size", 256)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "How do you get from Aldgate to Angel in the fewest stops?"
    assert lines[1].startswith("network: Aldgate --")
    assert lines[2].startswith("answer:  Aldgate --") and lines[2].endswith("--> Angel")
    assert lines[3] in ("right", "wrong")
    moves, shortest = lines[1].count("-->"), lines[2].count("-->")
    assert shortest == 4
    arrived = lines[1].endswith("--> Angel")
    assert (lines[3] == "right") == (arrived and moves <= shortest + 1)
