"""Curriculum learning (nbs/62_curriculum.ipynb): the paper's lessons and ours as data,
a replay share that is what it says over many batches, lessons passed exactly at the
threshold, and a curriculum's state that survives a checkpoint so that a resumed run
continues in the same lesson bit for bit."""
import dataclasses, json
import numpy as onp
import pytest
from hypothesis import given, strategies as st

from dnc_lit import graphs
from dnc_lit.curriculum import (Curriculum, CurriculumTask, CURRICULUM_TASKS,
                                TRAVERSAL_LESSONS, INFERENCE_LESSONS,
                                SHORTEST_PATH_LESSONS, PAPER_TRAVERSAL, PAPER_INFERENCE,
                                PAPER_SHORTEST_PATH, GRAPH_OBJECTIVE,
                                SHORTEST_PATH_OBJECTIVE, concat_batches,
                                lesson_accuracy, paper_lesson, sequence_errors,
                                lessons_from, EDGE_STEPS)
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.model import DNCConfig
from dnc_lit.tasks import copy_task
from dnc_lit.train import train, rng_state

KEYS = ("num_nodes", "out_degree")


# --- the lessons --------------------------------------------------------------------

@pytest.mark.parametrize("task,lessons,paper,length,ours", [
    ("traversal", TRAVERSAL_LESSONS, PAPER_TRAVERSAL, "path_length", 2),
    ("inference", INFERENCE_LESSONS, PAPER_INFERENCE, "relation_length", 4),
    ("shortest_path", SHORTEST_PATH_LESSONS, PAPER_SHORTEST_PATH, "path_length", 2)])
def test_lessons_are_ours_then_the_papers(task, lessons, paper, length, ours):
    assert len(lessons) == len(paper) + ours
    labels = [l["label_range"] for l in lessons]
    assert labels[ours - 2:ours + 1] == [[0, 9], [0, 99], [0, 999]]
    assert all(l == [0, 999] for l in labels[ours:])
    for k, (lesson, row) in enumerate(zip(lessons[ours:], paper), ours + 1):
        assert paper_lesson(k, task) == k - ours
        assert paper_lesson(k, task, lessons) == k - ours
        assert [lesson[key] for key in (*KEYS, length)] == [list(r) for r in row]
    for k, lesson in enumerate(lessons[:ours], 1):  # ours: the paper's first structure
        assert [lesson[key] for key in (*KEYS, length)] == [list(r) for r in paper[0]]
        assert paper_lesson(k, task) is None
    assert json.loads(json.dumps(lessons)) == lessons


def test_inference_meets_few_relations_first_then_all_edge_labels():
    edges = [l["edge_range"] for l in INFERENCE_LESSONS]   # every lesson names its range
    assert edges[:2] == [list(e) for e in EDGE_STEPS] == [[0, 1], [0, 3]]
    assert all(e == [0, 9] for e in edges[2:])
    assert [l["label_range"] for l in INFERENCE_LESSONS[:4]] == [[0, 9]] * 3 + [[0, 99]]
    keys = ("num_nodes", "out_degree", "relation_length")
    old = lessons_from(PAPER_INFERENCE, keys)           # the lessons before edge steps
    assert INFERENCE_LESSONS[2:] == [{**l, "edge_range": [0, 9]} for l in old]
    assert [len(graphs.relations_within(2, e)) for e in edges[:3]] == [4, 16, 100]


def test_traversal_and_shortest_path_lessons_have_no_edge_lessons():
    keys = ("num_nodes", "out_degree", "path_length")
    assert TRAVERSAL_LESSONS == lessons_from(PAPER_TRAVERSAL, keys)
    assert SHORTEST_PATH_LESSONS == lessons_from(PAPER_SHORTEST_PATH, keys)
    assert not any("edge_range" in l for l in TRAVERSAL_LESSONS + SHORTEST_PATH_LESSONS)
    assert [l["label_range"] for l in TRAVERSAL_LESSONS[:3]] == [[0, 9], [0, 99],
                                                                 [0, 999]]


def test_paper_lesson_reads_a_runs_own_lessons():
    keys = ("num_nodes", "out_degree", "relation_length")
    old = lessons_from(PAPER_INFERENCE, keys)           # two lessons of ours
    assert [paper_lesson(k, "inference", old) for k in (1, 2, 3, 19)] == [None, None,
                                                                           1, 17]
    assert [paper_lesson(k, "inference") for k in (4, 5, 21)] == [None, 1, 17]
    mine = [{"num_nodes": [3, 3], "out_degree": [2, 2], "relation_length": [2, 2],
             "label_range": [0, 9]}] * 3                # not the paper's table
    assert [paper_lesson(k, "inference", mine) for k in (1, 2, 3)] == [None] * 3
    assert paper_lesson(3, "traversal", INFERENCE_LESSONS) is None


@pytest.mark.parametrize("args,words", [((1, "copy"), "task must be one of"),
                                        ((0, "traversal"), "k must be a lesson"),
                                        ((17, "traversal"), "k must be a lesson"),
                                        ((True, "inference"), "k must be a lesson")])
def test_paper_lesson_bad_arguments(args, words):
    with pytest.raises(ValueError, match=words): paper_lesson(*args)


def test_the_papers_first_and_last_traversal_lessons():
    first, last = TRAVERSAL_LESSONS[2], TRAVERSAL_LESSONS[-1]
    assert first == dict(num_nodes=[3, 10], out_degree=[2, 4], path_length=[1, 1],
                         label_range=[0, 999])
    assert last == dict(num_nodes=[10, 40], out_degree=[2, 6], path_length=[1, 20],
                        label_range=[0, 999])


def _raises(a, b): return any(y > x for p, q in zip(a, b) for x, y in zip(p, q))

@pytest.mark.parametrize("paper,repeated", [(PAPER_TRAVERSAL, []),
                                            (PAPER_INFERENCE, [4, 11]),
                                            (PAPER_SHORTEST_PATH, [11])])
def test_each_lesson_raises_a_parameter_except_the_rows_printed_twice(paper, repeated):
    same = [k + 1 for k in range(1, len(paper)) if not _raises(paper[k - 1], paper[k])]
    assert same == repeated
    for k in repeated: assert paper[k - 1] == paper[k - 2]


@pytest.mark.parametrize("task", ["traversal", "inference", "shortest_path"])
def test_every_lesson_draws_sequences(task):
    spec, rng = CURRICULUM_TASKS[task], onp.random.default_rng(0)
    for lesson in spec.lessons:
        b = spec.sampler(rng, batch_size=2, **lesson)
        assert b.inputs.shape[0] == 2 and b.inputs.shape[2] == graphs.INPUT_SIZE
        lo, hi = lesson["label_range"]
        nodes = [x for q in b.questions for x in q.graph.nodes]
        assert lo <= min(nodes) and max(nodes) <= hi
        if "edge_range" in lesson:
            lo, hi = lesson["edge_range"]
            assert all(lo <= e <= hi for q in b.questions for _, e, _ in q.graph.triples)


def test_the_papers_settings_per_task():
    t, i, s = (CURRICULUM_TASKS[k] for k in ("traversal", "inference", "shortest_path"))
    assert (t.threshold, t.replay, t.evaluate_every) == (0.9, 0.1, 100)
    assert (i.threshold, i.replay, i.evaluate_every) == (0.9, 0.1, 100)
    assert (s.threshold, s.replay, s.evaluate_every, s.eval_sequences) == (0.8, 0.0,
                                                                          2000, 50)
    assert t.objective is GRAPH_OBJECTIVE and s.objective is SHORTEST_PATH_OBJECTIVE
    assert s.objective.forward is graphs.shortest_path_forward
    assert GRAPH_OBJECTIVE.loss is graphs.graph_loss
    assert GRAPH_OBJECTIVE.name == "errors"


def test_sequence_errors_is_one_minus_sequences_correct(rng):
    b = graphs.traversal_task(rng, batch_size=6, label_range=(0, 9))
    right = onp.where(b.targets > 0, 10.0, -10.0)
    logits = right.copy(); logits[:3] = rng.normal(size=logits[:3].shape)
    want = 1.0 - graphs.sequences_correct(logits, b.targets, b.mask)
    assert onp.array_equal(sequence_errors(logits, b.targets, b.mask), want)
    assert onp.array_equal(sequence_errors(right, b.targets, b.mask), onp.zeros(6))


# --- the Curriculum object ------------------------------------------------------------

def test_settings_default_to_the_task_and_round_trip_through_json():
    c = Curriculum("inference", evaluate_every=7)
    assert c.lessons == INFERENCE_LESSONS
    assert c.threshold == 0.9 and c.evaluate_every == 7
    assert Curriculum.from_json(json.loads(json.dumps(c.to_json()))) == c


@pytest.mark.parametrize("kw,words", [
    (dict(task="sorting"), "task must be one of"),
    (dict(task="copy", threshold=0), "threshold must be"),
    (dict(task="copy", threshold=1.2), "threshold must be"),
    (dict(task="copy", replay=1.0), "replay must be"),
    (dict(task="copy", replay=-0.1), "replay must be"),
    (dict(task="copy", evaluate_every=0), "evaluate_every must be"),
    (dict(task="copy", eval_sequences=2.5), "eval_sequences must be"),
    (dict(task="copy", lessons=[]), "lessons must be"),
])
def test_bad_settings_are_named(kw, words):
    with pytest.raises(ValueError, match=words): Curriculum(**kw)
    with pytest.raises(ValueError, match="not the JSON of a Curriculum"):
        Curriculum.from_json({"type": "LengthCurriculum"})


def _tagging(rng, batch_size, max_length, **kw):
    "A stand-in sampler: one step per sequence, whose input is its lesson's max_length."
    b = copy_task(rng, batch_size=batch_size, num_bits=1, min_length=1, max_length=1)
    return b._replace(inputs=onp.full(b.inputs.shape[:2] + (1,), float(max_length)))


def test_replay_share_and_uniform_earlier_lessons_over_many_batches():
    c = Curriculum("copy")                          # replay 0.1; lesson k: lengths 1..k
    args, state = c.start({"batch_size": 16}, seed=0)
    k, batches = 5, 4000
    state, args = {**state, "lesson": k}, {**args, **c.lessons[k - 1]}
    rng = onp.random.default_rng(7)
    drawn = onp.concatenate([c.sample(_tagging, rng, args, state).inputs[:, 0, 0]
                             for _ in range(batches)]).astype(int)
    n = drawn.size
    assert n == 16 * batches
    replayed = drawn < k
    sigma = (0.1 * 0.9 / n) ** 0.5
    assert abs(replayed.mean() - 0.1) < 4.5 * sigma, replayed.mean()
    counts = onp.bincount(drawn[replayed], minlength=k)[1:k]      # lessons 1..k-1
    m, p = replayed.sum(), 1 / (k - 1)
    bound = 4.5 * (m * p * (1 - p)) ** 0.5
    assert all(abs(c_ - m * p) < bound for c_ in counts), counts


@given(st.integers(1, 8), st.integers(1, 40), st.floats(0, 0.9), st.integers(0, 2**32))
def test_a_mixed_batch_has_batch_size_sequences_from_lessons_up_to_the_current(
        k, batch_size, replay, seed):
    c = Curriculum("copy", replay=replay)
    args, state = c.start({"batch_size": batch_size}, seed=0)
    b = c.sample(_tagging, onp.random.default_rng(seed),
                 {**args, **c.lessons[k - 1]}, {**state, "lesson": k})
    tags = b.inputs[:, 0, 0]
    assert len(tags) == batch_size and tags.max() <= k and tags.min() >= 1
    if k == 1 or replay == 0: assert (tags == k).all()


def test_no_replay_in_the_first_lesson_or_with_replay_zero():
    for c, lesson in ((Curriculum("copy"), 1), (Curriculum("copy", replay=0), 6)):
        args, state = c.start({"batch_size": 8, "num_bits": 3}, seed=0)
        args = {**args, **c.lessons[lesson - 1]}
        a, b = onp.random.default_rng(2), onp.random.default_rng(2)
        got = c.sample(copy_task, a, args, {**state, "lesson": lesson})
        assert onp.array_equal(got.inputs, copy_task(b, **args).inputs)
        assert rng_state(a) == rng_state(b)             # no draws for the replay


def test_concat_batches_pads_in_time_and_joins_questions(rng):
    a = graphs.traversal_task(rng, batch_size=2, label_range=(0, 9))
    b = graphs.traversal_task(rng, batch_size=3, num_nodes=(10, 15),
                              path_length=(3, 4), label_range=(0, 99))
    m = concat_batches([a, b])
    T = max(a.inputs.shape[1], b.inputs.shape[1])
    assert m.inputs.shape == (5, T, graphs.INPUT_SIZE) and m.mask.shape == (5, T)
    assert m.questions == a.questions + b.questions and type(m) is type(a)
    Ta = a.inputs.shape[1]
    assert onp.array_equal(m.inputs[:2, :Ta], a.inputs) and not m.inputs[:2, Ta:].any()
    assert onp.array_equal(m.targets[2:, :b.inputs.shape[1]], b.targets)
    assert concat_batches([a]) is a


def test_advance_exactly_at_the_threshold():
    c = Curriculum("traversal", threshold=0.9, confirm_sequences=0)
    args, s = c.start({"batch_size": 4}, seed=0)
    for acc in (0.0, 0.5, 0.8999999999):
        args2, s2, info = c.advance(s, 10, acc, args)
        assert s2["lesson"] == 1 and s2["passed"] == [] and "passed" not in info
        assert args2 is args and s2["evaluations"][-1] == {"step": 10, "lesson": 1,
                                                          "accuracy": acc}
    args2, s2, info = c.advance(s, 20, 0.9, args)
    assert s2["lesson"] == 2 and s2["passed"] == [{"lesson": 1, "step": 20}]
    assert info == {"lesson": 1, "accuracy": 0.9, "passed": 1}
    assert args2 == {"batch_size": 4, **TRAVERSAL_LESSONS[1]}
    assert s["lesson"] == 1 and s["evaluations"] == []        # never changed in place


def test_a_pass_needs_its_confirmation_when_asked_for():
    c = Curriculum("traversal")
    assert c.confirm_sequences == 1000
    args, s = c.start({"batch_size": 4}, seed=0)
    for conf in (None, 0.0, 0.8999999999):
        args2, s2, info = c.advance(s, 10, 1.0, args, confirmation=conf)
        assert s2["lesson"] == 1 and s2["passed"] == [] and "passed" not in info
    assert s2["evaluations"][-1] == {"step": 10, "lesson": 1, "accuracy": 1.0,
                                     "confirmation": 0.8999999999}
    args2, s2, info = c.advance(s, 20, 0.9, args, confirmation=0.9)
    assert s2["passed"] == [{"lesson": 1, "step": 20}] and info["confirmation"] == 0.9
    args2, s2, info = c.advance(s, 30, 0.89, args, confirmation=1.0)   # both needed
    assert s2["passed"] == []


def test_the_registry_confirms_graph_lessons_but_not_copy():
    assert [CURRICULUM_TASKS[k].confirm_sequences for k in
            ("traversal", "inference", "shortest_path", "copy")] == [1000, 1000, 200, 0]


def test_settings_saved_before_confirmation_existed_pass_on_one_evaluation():
    old = {k: v for k, v in Curriculum("traversal").to_json().items()
           if k != "confirm_sequences"}
    assert Curriculum.from_json(old).confirm_sequences == 0
    with pytest.raises(ValueError, match="confirm_sequences must be an integer >= 0"):
        Curriculum("copy", confirm_sequences=-1)


def test_the_last_lesson_completes_and_stays():
    c = Curriculum("copy", lessons=[{"max_length": 1}, {"max_length": 2}])
    args, s = c.start({"batch_size": 4}, seed=0)
    args, s, _ = c.advance(s, 10, 1.0, args)
    args, s, info = c.advance(s, 20, 0.95, args)
    assert s["lesson"] == 2 and s["completed"] and info["passed"] == 2
    args2, s2, info = c.advance(s, 30, 1.0, args)
    assert s2["lesson"] == 2 and s2["passed"] == s["passed"] and "passed" not in info
    assert len(s2["evaluations"]) == 3 and args2 == args


class _Fixed:
    "A stand-in model: the solved test of the 'fixed' task reads its share from here."
    share = 0.0

def _fixed_solved(model, params, batch):
    n = batch.inputs.shape[0]
    return onp.arange(n) < round(model.share * n)

@pytest.fixture
def fixed_task(monkeypatch):
    spec = CurriculumTask(copy_task, CURRICULUM_TASKS["copy"].objective, _fixed_solved,
                          [{"max_length": L} for L in (1, 2, 3)], 0.9, 0.1, 10, 10)
    monkeypatch.setitem(CURRICULUM_TASKS, "fixed", spec)
    return spec


def test_update_evaluates_on_schedule_and_passes_at_nine_of_ten(fixed_task):
    c, model = Curriculum("fixed"), _Fixed()
    args, s = c.start({"batch_size": 4, "num_bits": 2}, seed=0)
    log = []
    for step, share in ((5, 0.9), (10, 0.8), (15, 0.9), (20, 0.9), (25, 0.9),
                        (30, 0.9)):
        model.share = share
        args, s, info = c.update({"step": step}, args, s, model, None, copy_task)
        log.append(info)
    assert log[0] == {"lesson": 1}                  # fewer than 10 steps: no evaluation
    assert log[1] == {"lesson": 1, "accuracy": 0.8}
    assert log[2] == {"lesson": 1}
    assert log[3] == {"lesson": 1, "accuracy": 0.9, "passed": 1}
    assert log[5] == {"lesson": 2, "accuracy": 0.9, "passed": 2}
    assert s["lesson"] == 3 and [e["step"] for e in s["evaluations"]] == [10, 20, 30]


class _Shares:
    "A stand-in model whose share solved is the next of `shares` at each call."
    def __init__(self, *shares): self.shares = list(shares)
    @property
    def share(self): return self.shares.pop(0)


def test_update_confirms_a_pass_on_more_sequences(fixed_task):
    calls = []
    def sampler(rng, **kw):
        calls.append(kw["batch_size"]); return copy_task(rng, **kw)
    c = Curriculum("fixed", confirm_sequences=40)
    args, s = c.start({"batch_size": 2, "num_bits": 2}, seed=0)
    # 9 of 10, but 34 of 40 in the confirmation: not passed
    args, s, info = c.update({"step": 10}, args, s, _Shares(0.9, 0.85), None, sampler)
    assert info == {"lesson": 1, "accuracy": 0.9, "confirmation": 0.85}
    assert calls == [10, 40] and s["lesson"] == 1
    # 8 of 10: no confirmation is run
    calls.clear()
    args, s, info = c.update({"step": 20}, args, s, _Shares(0.8), None, sampler)
    assert calls == [10] and "confirmation" not in info
    args, s, info = c.update({"step": 30}, args, s, _Shares(1.0, 0.9), None, sampler)
    assert info["passed"] == 1 and s["lesson"] == 2
    assert [e.get("confirmation") for e in s["evaluations"]] == [0.85, None, 0.9]


def test_evaluation_uses_its_own_generator_and_fresh_sequences(fixed_task):
    seen = []
    def sampler(rng, **kw):
        b = copy_task(rng, **kw); seen.append(b.inputs.copy()); return b
    c, model = Curriculum("fixed", eval_sequences=3), _Fixed()
    args, s = c.start({"batch_size": 2, "num_bits": 2}, seed=5)
    _, s1, _ = c.update({"step": 10}, args, s, model, None, sampler)
    _, s2, _ = c.update({"step": 20}, args, s1, model, None, sampler)
    assert s1["eval_rng"] != s["eval_rng"] and s2["eval_rng"] != s1["eval_rng"]
    assert not onp.array_equal(seen[0], seen[1])            # fresh at each evaluation
    seen.clear()
    c.update({"step": 10}, args, s, model, None, sampler)   # the same state: the same
    c2 = Curriculum("fixed", eval_sequences=3)
    c2.update({"step": 10}, args, c2.start(args, seed=5)[1], model, None, sampler)
    assert onp.array_equal(seen[0], seen[1])


def test_lesson_accuracy_counts_in_chunks(fixed_task):
    calls = []
    def sampler(rng, **kw):
        calls.append(kw["batch_size"]); return copy_task(rng, **kw)
    model = _Fixed(); model.share = 1.0
    acc = lesson_accuracy(model, None, sampler, {"num_bits": 2, "max_length": 1},
                          _fixed_solved, 23, onp.random.default_rng(0), chunk=10)
    assert acc == 1.0 and calls == [10, 10, 3]


# --- a curriculum through training, checkpoints and resume -------------------------

TINY = DNCConfig.tiny(input_size=6, output_size=5, hidden_size=32, memory_size=8,
                      word_size=8, num_reads=1)


def _same(a, b):
    for k in a.params: assert onp.array_equal(a.params[k], b.params[k]), k
    assert a.curriculum_state == b.curriculum_state and a.task_args == b.task_args
    clock = ("seconds", "cpu_seconds")
    strip = lambda h: [{k: v for k, v in r.items() if k not in clock} for r in h]
    assert strip(a.history) == strip(b.history)


def test_resume_continues_in_the_same_lesson_bit_for_bit(tmp_path):
    c = Curriculum("copy", evaluate_every=25, eval_sequences=50)
    kw = dict(lr=1e-2, seed=0, log_every=25, curriculum=c, progress=False)
    args = {"batch_size": 16, "num_bits": 4}
    whole = train(TINY, copy_task, 300, args, **kw)
    train(TINY, copy_task, 190, args, checkpoint=tmp_path / "c.npz", **kw)
    meta = load_checkpoint(tmp_path / "c.npz").metadata
    lesson = meta["curriculum_state"]["lesson"]
    assert lesson >= 2, meta["curriculum_state"]          # it had moved on by then
    assert meta["task_args"]["max_length"] == lesson
    assert Curriculum.from_json(meta["curriculum"]) == c
    rest = train(None, copy_task, 300, resume=tmp_path / "c.npz", **kw)
    first = [r for r in rest.history if r["step"] > 190][0]
    assert first["lesson"] == lesson                  # the same lesson after resuming
    _same(rest, whole)
    assert [r["lesson"] for r in whole.history] == sorted(r["lesson"] for r in
                                                          whole.history)


def test_a_resumed_run_may_change_only_the_confirmation(tmp_path):
    c = Curriculum("copy", evaluate_every=25, eval_sequences=50)
    kw = dict(lr=1e-2, seed=0, log_every=25, progress=False)
    args = {"batch_size": 16, "num_bits": 4}
    train(TINY, copy_task, 50, args, checkpoint=tmp_path / "c.npz", curriculum=c, **kw)
    stricter = dataclasses.replace(c, confirm_sequences=200)
    rest = train(None, copy_task, 100, resume=tmp_path / "c.npz", curriculum=stricter,
                 checkpoint=tmp_path / "c.npz", **kw)
    assert rest.step == 100
    assert Curriculum.from_json(load_checkpoint(tmp_path / "c.npz").metadata[
        "curriculum"]) == stricter                          # the new rule recorded
    with pytest.raises(ValueError, match="curriculum given differs"):
        train(None, copy_task, 150, resume=tmp_path / "c.npz",
              curriculum=dataclasses.replace(c, eval_sequences=60), **kw)


def test_a_graph_run_resumes_exactly_with_its_objective(tmp_path):
    cfg = DNCConfig(input_size=graphs.INPUT_SIZE, output_size=graphs.OUTPUT_SIZE,
                    hidden_size=16, memory_size=8, word_size=4, num_reads=1)
    spec = CURRICULUM_TASKS["traversal"]
    c = Curriculum("traversal", evaluate_every=4, eval_sequences=6)
    kw = dict(lr=3e-3, seed=1, log_every=2, curriculum=c, objective=spec.objective,
              progress=False)
    whole = train(cfg, spec.sampler, 12, {"batch_size": 3}, **kw)
    train(cfg, spec.sampler, 7, {"batch_size": 3}, checkpoint=tmp_path / "g.npz", **kw)
    rest = train(None, spec.sampler, 12, resume=tmp_path / "g.npz", **kw)
    _same(rest, whole)
    assert all("errors" in r and r["lesson"] == 1 for r in whole.history)
    assert [e["step"] for e in whole.curriculum_state["evaluations"]] == [4, 8, 12]
