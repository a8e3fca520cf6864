"""The inference task's edge ranges (nbs/61_graph_tasks.ipynb) and the inference lessons
that use them (nbs/62_curriculum.ipynb): questions and graphs stay within the edge range,
the paper's range 0..9 draws the same batches as before it existed, the curriculum meets
4, then 16 relations before all 100, and a run recorded with the earlier lessons resumes
with its own."""
import hashlib, json

import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st

from dnc_lit import cli, graphs as G
from dnc_lit.checkpoint import load_checkpoint, save_checkpoint
from dnc_lit.curriculum import (Curriculum, PAPER_INFERENCE,
                                GRAPH_OBJECTIVE, lessons_from, paper_lesson)
from dnc_lit.model import DNCConfig
from dnc_lit.train import train

SETTINGS = settings(max_examples=40, deadline=None)


def walk_end(graph, node, edges):
    "The node reached from `node` along `edges`, by the triples alone (None: breaks off)."
    for e in edges:
        nxt = [d for s, x, d in graph.triples if s == node and x == e]
        if len(nxt) != 1: return None
        node = nxt[0]
    return node


@st.composite
def edge_ranges(draw):
    "An edge range (lo, hi) within 0..9 and an out-degree range it can label."
    lo = draw(st.integers(0, 9))
    hi = draw(st.integers(lo, 9))
    k_hi = draw(st.integers(1, min(hi - lo + 1, 4)))
    return (lo, hi), (draw(st.integers(1, k_hi)), k_hi)


# --- the sampler ---------------------------------------------------------------------

@SETTINGS
@given(st.integers(0, 2 ** 32 - 1), edge_ranges(), st.integers(2, 5),
       st.integers(3, 8))
def test_questions_and_graphs_stay_within_the_edge_range(seed, ranges, L, n_hi):
    (lo, hi), out_degree = ranges
    b = G.inference_task(onp.random.default_rng(seed), batch_size=4,
                         num_nodes=(3, n_hi), out_degree=out_degree,
                         relation_length=(2, L), label_range=(0, 99),
                         planning_steps=2, edge_range=(lo, hi))
    for q in b.questions:
        (s, r, end), = q.answer
        assert q.query == ((s, r, None),) and q.relation == G.RELATIONS[r]
        assert all(lo <= e <= hi for e in q.relation)           # the relation asked
        assert r in G.relations_within(len(q.relation), (lo, hi))
        assert 2 <= len(q.relation) <= L
        assert all(lo <= e <= hi for _, e, _ in q.graph.triples)  # the graph's edges
        assert walk_end(q.graph, s, q.relation) == end           # the answer


def test_an_edge_range_asks_every_relation_within_it_and_no_other():
    b = G.inference_task(onp.random.default_rng(0), batch_size=400, num_nodes=(3, 3),
                         out_degree=(2, 2), label_range=(0, 9), edge_range=(0, 3))
    asked = {q.query[0][1] for q in b.questions}
    assert asked == set(G.relations_within(2, (0, 3)))
    assert len(asked) == 16
    assert sorted(G.RELATIONS[r] for r in G.relations_within(2, (0, 1))) == [
        (0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize("edge_range", [(0, 1), (2, 5), (0, 9)])
def test_relation_ends_only_for_relations_within_the_range(edge_range):
    g = G.random_graph(onp.random.default_rng(3), (5, 5), (2, 2), (0, 9), edge_range)
    for L in (2, 3):
        ends, labels = G._relation_ends(g, L, edge_range)
        assert labels == G.relations_within(L, edge_range)
        assert ends.shape == (len(g.nodes), len(labels))
        for i, node in enumerate(g.nodes):
            for j, r in enumerate(labels):
                end = walk_end(g, node, G.RELATIONS[r])
                assert ends[i, j] == (-1 if end is None else g.nodes.index(end))


# Recorded with the sampler before it had an edge_range (commit a229287): the sha256
# of the inputs and targets of the batch (first 16 hex digits) and its answers.
BEFORE_EDGE_RANGE = [
    (0, dict(batch_size=4, num_nodes=(3, 3), out_degree=(2, 2), label_range=(0, 9)),
     "d51cbc5369a85152", [(9, 21, 9), (2, 16, 8), (5, 41, 5), (7, 34, 9)]),
    (1, dict(batch_size=4, num_nodes=(4, 8), out_degree=(1, 3), relation_length=(2, 4),
             label_range=(0, 99)),
     "c13c4d288a0b9908", [(76, 213, 99), (90, 58, 65), (82, 77, 75), (17, 83, 60)])]


@pytest.mark.parametrize("seed,kw,digest,answers", BEFORE_EDGE_RANGE)
@pytest.mark.parametrize("edge", [{}, {"edge_range": (0, 9)}, {"edge_range": [0, 9]}])
def test_the_papers_edge_range_draws_the_batches_drawn_before(seed, kw, digest,
                                                              answers, edge):
    b = G.inference_task(onp.random.default_rng(seed), **kw, **edge)
    data = onp.ascontiguousarray(b.inputs).tobytes() + onp.ascontiguousarray(
        b.targets).tobytes()
    assert hashlib.sha256(data).hexdigest()[:16] == digest
    assert [q.answer[0] for q in b.questions] == answers


@pytest.mark.parametrize("kw,words", [
    (dict(edge_range=(0, 10)), "edge_range must be a pair"),
    (dict(edge_range=(-1, 3)), "edge_range must be a pair"),
    (dict(edge_range=(5, 3)), "edge_range must be a pair"),
    (dict(edge_range="0-9"), "edge_range must be a pair"),
    (dict(edge_range=None), "edge_range must be a pair"),
    (dict(edge_range=(0, 0), out_degree=(2, 2)), "edge_range .* fewer than the 2"),
    (dict(edge_range=(0, 1), out_degree=(1, 3)), "edge_range .* fewer than the 3"),
    (dict(edge_range=(0, 1), relation_length=(4, 5)), "holds no relation"),
])
def test_bad_edge_ranges_are_named(kw, words):
    with pytest.raises(ValueError, match=words):
        G.inference_task(onp.random.default_rng(0), **kw)


# --- the lessons ---------------------------------------------------------------------

OLD = lessons_from(PAPER_INFERENCE, ("num_nodes", "out_degree", "relation_length"))


def test_the_lessons_before_the_edge_steps():
    assert len(OLD) == 19 and not any("edge_range" in l for l in OLD)
    assert OLD[0] == {"num_nodes": [3, 3], "out_degree": [2, 2],
                      "relation_length": [2, 2], "label_range": [0, 9]}
    assert [paper_lesson(k, "inference", OLD) for k in (1, 2, 3)] == [None, None, 1]
    assert [paper_lesson(k, "inference") for k in (1, 4, 5)] == [None, None, 1]


def test_every_later_lesson_widens_the_edge_range_again():
    # a lesson's arguments are laid over the last lesson's: lesson 3 must reset edges
    c = Curriculum("inference", confirm_sequences=0)
    args, state = c.start({"batch_size": 4}, seed=0)
    seen = [args["edge_range"]]
    for step in (100, 200, 300):
        args, state, _ = c.advance(state, step, 1.0, args)
        seen.append(args["edge_range"])
    assert seen == [[0, 1], [0, 3], [0, 9], [0, 9]]
    assert args["label_range"] == [0, 99] and state["lesson"] == 4


def test_replay_in_a_later_lesson_draws_lesson_one_within_its_edges():
    c = Curriculum("inference", replay=0.5)
    args, state = c.start({"batch_size": 32}, seed=0)
    state = {**state, "lesson": 3}
    args = {**args, **c.lessons[2]}
    b = c.sample(G.inference_task, onp.random.default_rng(1), args, state)
    narrow = [q for q in b.questions if {e for _, e, _ in q.graph.triples} <= {0, 1}]
    wide = [q for q in b.questions if max(e for _, e, _ in q.graph.triples) > 3]
    assert narrow and wide and len(b.questions) == 32
    assert all(q.query[0][1] in G.relations_within(2, (0, 1)) for q in narrow)


# --- a run recorded with the earlier lessons ------------------------------------------

def test_a_run_with_the_earlier_lessons_resumes_with_them(tmp_path):
    cfg = DNCConfig(input_size=G.INPUT_SIZE, output_size=G.OUTPUT_SIZE, hidden_size=8,
                    memory_size=8, word_size=4, num_reads=1)
    cur = Curriculum("inference", lessons=OLD, evaluate_every=2, eval_sequences=4)
    kw = dict(lr=1e-3, seed=0, log_every=2, curriculum=cur, objective=GRAPH_OBJECTIVE,
              progress=False)
    whole = train(cfg, G.inference_task, 8, {"batch_size": 2}, **kw)
    path = tmp_path / "old.npz"
    train(cfg, G.inference_task, 4, {"batch_size": 2}, checkpoint=path,
          metadata={"task": "inference", "command": "dnc-lit train inference"}, **kw)
    # the Python API refuses the current lessons rather than switching to them
    with pytest.raises(ValueError, match="curriculum given differs"):
        train(None, G.inference_task, 8, resume=path,
              **{**kw, "curriculum": Curriculum("inference", evaluate_every=2,
                                                eval_sequences=4)})
    assert cli.main(["train", "inference", "--resume", str(path), "--steps", "8",
                     "--progress", "none"]) == 0
    meta = load_checkpoint(path).metadata
    assert Curriculum.from_json(meta["curriculum"]).lessons == OLD
    assert meta["task_args"] == {"batch_size": 2, **OLD[0]}
    assert meta["step"] == 8 and meta["curriculum_state"] == json.loads(
        json.dumps(whole.curriculum_state))
    ck = load_checkpoint(path)
    for k in whole.params: assert onp.array_equal(ck.params[k], whole.params[k]), k


def _in_lesson(src, dst, k):
    "A copy of the checkpoint `src` in lesson k, as if lessons 1..k-1 had been passed."
    ck = load_checkpoint(src)
    m, cur = ck.metadata, Curriculum.from_json(ck.metadata["curriculum"])
    state = {**m["curriculum_state"], "lesson": k,
             "passed": [{"lesson": j, "step": j} for j in range(1, k)]}
    save_checkpoint(dst, ck.params, ck.opt_state, ck.config,
                    {**m, "curriculum_state": state,
                     "task_args": {**m["task_args"], **cur.lessons[k - 1]}})
    return dst


@pytest.mark.parametrize("lessons,k,papers", [
    (None, 5, ["ours"] * 4 + ["paper 1"]),
    (OLD, 3, ["ours", "ours", "paper 1"])])
def test_evaluate_names_the_papers_lessons_of_the_runs_own_line(tmp_path, capsys,
                                                                lessons, k, papers):
    cfg = DNCConfig(input_size=G.INPUT_SIZE, output_size=G.OUTPUT_SIZE, hidden_size=8,
                    memory_size=8, word_size=4, num_reads=1)
    cur = Curriculum("inference", lessons=lessons, evaluate_every=2, eval_sequences=2)
    train(cfg, G.inference_task, 2, {"batch_size": 2}, lr=1e-3, log_every=2,
          curriculum=cur, objective=GRAPH_OBJECTIVE, progress=False,
          checkpoint=tmp_path / "a.npz", metadata={"task": "inference",
                                                   "command": "dnc-lit train"})
    path = _in_lesson(tmp_path / "a.npz", tmp_path / "b.npz", k)
    capsys.readouterr()
    assert cli.main(["evaluate", str(path), "--num-sequences", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [rows[str(j)]["from"] for j in range(1, k + 1)] == papers
    if lessons is None:
        assert "edge range 0-1" in rows["1"]["lesson"]
