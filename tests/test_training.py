"""The training loop (nbs/42_training_loop.ipynb): it learns, a run stopped at any step
(by its step count or by Ctrl-C) and resumed from its checkpoint ends bit for bit where
an uninterrupted run ends, and a task's own objective and a stateful curriculum go
through the loop, its log and its checkpoints."""
import json
import autograd.numpy as anp
import numpy as onp
import pytest
from hypothesis import given, strategies as st

from dnc_lit.model import DNCConfig, DNC
from dnc_lit.tasks import copy_task, bit_errors
from dnc_lit.train import (train, train_step, loss_grad_logits, loss_grad_outputs,
                           loss_and_grad, masked_sigmoid_cross_entropy, Objective,
                           LengthCurriculum, rng_state, restore_rng, evaluate,
                           evaluate_lengths, new_meter, add_to_meter, meter_means)
from dnc_lit.optim import get_optimiser
from dnc_lit.checkpoint import load_checkpoint, save_checkpoint, CheckpointError

CONFIG = DNCConfig.tiny(input_size=6, output_size=5, hidden_size=32)
ARGS = dict(batch_size=16, num_bits=4, min_length=1, max_length=2)


def test_short_run_reduces_the_loss_clearly():
    run = train(CONFIG, copy_task, 200, ARGS, optimiser="adam", lr=1e-2, seed=0,
                log_every=50, progress=False)
    first, last = run.history[0], run.history[-1]
    assert last["loss"] < 0.6 * first["loss"], run.history
    assert last["bit_errors"] < 0.6 * first["bit_errors"], run.history
    assert [r["step"] for r in run.history] == [50, 100, 150, 200]
    assert all(r["skipped"] == 0 for r in run.history)


def _same_run(a, b):
    for k in a.params: assert onp.array_equal(a.params[k], b.params[k]), k
    assert int(a.opt_state["step"]) == int(b.opt_state["step"])
    assert sorted(a.opt_state) == sorted(b.opt_state)
    for s in set(a.opt_state) - {"step"}:                # adam: m, v; rmsprop: ms, mom
        for k in a.params:
            assert onp.array_equal(a.opt_state[s][k], b.opt_state[s][k]), (s, k)
    clock = ("seconds", "cpu_seconds")
    strip = lambda h: [{k: v for k, v in r.items() if k not in clock} for r in h]
    assert strip(a.history) == strip(b.history)
    assert a.task_args == b.task_args and a.step == b.step
    assert rng_state(a.rng) == rng_state(b.rng)
    assert a.curriculum_state == b.curriculum_state


@pytest.mark.parametrize("optimiser", ["adam", "rmsprop"])
def test_resume_continues_exactly(tmp_path, optimiser):
    "Stopped at step 25 (mid-interval, after a curriculum change) and resumed to 40."
    kw = dict(optimiser=optimiser, lr=1e-2, seed=4, log_every=10,
              curriculum=LengthCurriculum(threshold=10.0, limit=4), progress=False)
    whole = train(CONFIG, copy_task, 40, ARGS, **kw)
    part = train(CONFIG, copy_task, 25, ARGS, checkpoint=tmp_path / "c.npz", **kw)
    ck = load_checkpoint(tmp_path / "c.npz")
    assert ck.metadata["step"] == 25 and int(ck.opt_state["step"]) == 25
    assert ck.metadata["meter"]["count"] == 5            # the partial interval is kept
    for k in part.params: assert onp.array_equal(ck.params[k], part.params[k])
    rest = train(None, copy_task, 40, resume=tmp_path / "c.npz", **kw)
    _same_run(rest, whole)
    assert whole.task_args["max_length"] > ARGS["max_length"]   # the curriculum did act


def test_resume_restores_the_optimiser_state_exactly(tmp_path):
    part = train(CONFIG, copy_task, 7, ARGS, lr=1e-2, seed=1, log_every=5,
                 checkpoint=tmp_path / "c.npz", progress=False)
    ck = load_checkpoint(tmp_path / "c.npz")
    assert sorted(ck.opt_state) == sorted(part.opt_state)
    for s in ("m", "v"):
        for k in part.params:
            assert ck.opt_state[s][k].dtype == onp.float64
            assert onp.array_equal(ck.opt_state[s][k], part.opt_state[s][k])
    saved = restore_rng(ck.metadata["rng"])
    assert saved.integers(0, 2**62) == part.rng.integers(0, 2**62)


def _interrupting(n, task=copy_task):
    "A sampler that raises KeyboardInterrupt on its n-th call."
    calls = [0]
    def sampler(rng, **kw):
        calls[0] += 1
        if calls[0] == n: raise KeyboardInterrupt
        return task(rng, **kw)
    return sampler


def test_keyboard_interrupt_saves_the_last_completed_step(tmp_path):
    kw = dict(lr=1e-2, seed=2, log_every=5, progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(CONFIG, _interrupting(13), 20, ARGS, checkpoint=tmp_path / "c.npz", **kw)
    assert load_checkpoint(tmp_path / "c.npz").metadata["step"] == 12
    _same_run(train(None, copy_task, 20, resume=tmp_path / "c.npz", **kw),
              train(CONFIG, copy_task, 20, ARGS, **kw))


def test_periodic_checkpoints_and_log(tmp_path):
    saved = []
    import dnc_lit.train as T
    real = T.save_checkpoint
    def spy(path, params, opt_state, config, metadata):
        saved.append(metadata["step"])
        return real(path, params, opt_state, config, metadata)
    T.save_checkpoint = spy
    try:
        run = train(CONFIG, copy_task, 25, ARGS, lr=1e-2, log_every=5,
                    log=tmp_path / "log.jsonl", checkpoint=tmp_path / "c.npz",
                    checkpoint_every=10, progress=False, metadata={"task": "copy"})
    finally:
        T.save_checkpoint = real
    assert saved == [10, 20, 25]
    lines = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lines == run.history and [l["step"] for l in lines] == [5, 10, 15, 20, 25]
    meta = load_checkpoint(tmp_path / "c.npz").metadata
    assert meta["task"] == "copy" and meta["kind"] == "dnc_lit.train"
    assert meta["seed"] == 0
    assert meta["optimiser"] == {"name": "adam", "hyper": {"lr": 0.01}}
    assert meta["max_grad_norm"] == 50.0 and meta["measure"] == "bit_errors"
    assert meta["history"] == run.history and meta["task_args"] == ARGS
    assert "curriculum_state" not in meta
    # a second run appends to the log
    train(None, copy_task, 30, resume=tmp_path / "c.npz", log_every=5,
          log=tmp_path / "log.jsonl", progress=False)
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 6


def test_plain_progress_lines(tmp_path, capsys):
    train(CONFIG, copy_task, 10, ARGS, lr=1e-2, log_every=5, progress="lines")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith("step 5/10  loss ")
    assert "bit errors" in err[0]
    train(CONFIG, copy_task, 5, ARGS, lr=1e-2, log_every=5, progress=False)
    assert capsys.readouterr().err == ""


def test_loss_grad_logits_matches_the_loss_chapter(rng):
    model, params = DNC.from_config(CONFIG), DNC.from_config(CONFIG).init(seed=3)
    batch = copy_task(rng, **ARGS)
    loss, grads, logits = loss_grad_logits(model.apply, params, batch)
    loss2, grads2 = loss_and_grad(model.apply, params, batch)
    assert loss == loss2 and all(onp.array_equal(grads[k], grads2[k]) for k in params)
    assert onp.array_equal(logits, model.apply(params, batch.inputs))
    loss3, grads3, (logits3, targets, mask) = loss_grad_outputs(model, params, batch,
                                                                Objective())
    assert loss3 == loss and all(onp.array_equal(grads3[k], grads[k]) for k in params)
    assert onp.array_equal(logits3, logits) and targets is batch.targets


def test_train_step_skips_non_finite_gradients(rng):
    model, opt = DNC.from_config(CONFIG), get_optimiser("adam", lr=1e-2)
    params = model.init(seed=0); state = opt.init(params)
    batch = copy_task(rng, **ARGS)
    nan = onp.where(batch.mask[..., None] > 0, onp.nan, batch.targets)
    bad = batch._replace(targets=nan)
    p, s, rec = train_step(model.apply, params, state, bad, opt)
    assert p is params and s is state and rec["skipped"] == 1
    p, s, rec = train_step(model.apply, params, state, batch, opt, max_grad_norm=None)
    assert rec["skipped"] == 0 and int(s["step"]) == 1 and rec["grad_norm"] > 0
    assert type(rec["grad_norm"]) is float and type(rec["bit_errors"]) is float
    assert not all(onp.array_equal(p[k], params[k]) for k in params)


# --- a task's own objective -------------------------------------------------------

def _flip_forward(model, params, batch):
    "A forward pass that scores the complement of the batch's targets."
    return model.apply(params, batch.inputs), 1.0 - batch.targets, batch.mask

def _squared(logits, targets, mask):
    p = 1 / (1 + anp.exp(-logits))
    return anp.sum(mask[..., None] * (p - targets) ** 2) / logits.shape[0]

WRONG = Objective(loss=_squared, name="wrong_sequences",
                  errors=lambda l, t, m: (bit_errors(l, t, m) > 0).astype(float))


def test_objective_loss_errors_and_forward_are_the_ones_given(rng):
    model, opt = DNC.from_config(CONFIG), get_optimiser("adam", lr=1e-2)
    params = model.init(seed=1); state = opt.init(params)
    batch = copy_task(rng, **ARGS)
    logits = model.apply(params, batch.inputs)
    _, _, rec = train_step(model, params, state, batch, opt, objective=WRONG)
    assert sorted(rec) == ["grad_norm", "loss", "skipped", "wrong_sequences"]
    want = float(_squared(logits, batch.targets, batch.mask))
    assert rec["loss"] == pytest.approx(want)
    want = onp.mean(bit_errors(logits, batch.targets, batch.mask) > 0)
    assert rec["wrong_sequences"] == pytest.approx(want)
    flip = Objective(forward=_flip_forward)
    loss, grads, (_, targets, _) = loss_grad_outputs(model, params, batch, flip)
    assert onp.array_equal(targets, 1.0 - batch.targets)
    assert loss == pytest.approx(float(masked_sigmoid_cross_entropy(
        logits, 1.0 - batch.targets, batch.mask)))
    _, _, rec = train_step(model, params, state, batch, opt, objective=flip)
    assert rec["bit_errors"] == pytest.approx(
        onp.mean(bit_errors(logits, 1.0 - batch.targets, batch.mask)))


def test_an_objective_is_logged_and_checkpointed_under_its_name(tmp_path, capsys):
    run = train(CONFIG, copy_task, 10, ARGS, lr=1e-2, log_every=5, objective=WRONG,
                log=tmp_path / "log.jsonl", checkpoint=tmp_path / "c.npz",
                progress="lines")
    assert all("wrong_sequences" in r and "bit_errors" not in r for r in run.history)
    assert all(0 <= r["wrong_sequences"] <= 1 for r in run.history)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "  wrong sequences " in err[0]
    assert "bit errors" not in err[0]
    meta = load_checkpoint(tmp_path / "c.npz").metadata
    assert meta["measure"] == "wrong_sequences" and "wrong_sequences" in meta["meter"]
    with pytest.raises(ValueError, match="measured 'wrong_sequences', this objective "
                                         "measures 'bit_errors'"):
        train(None, copy_task, 20, resume=tmp_path / "c.npz", progress=False)
    ev = evaluate(DNC.from_config(CONFIG), run.params, copy_task, ARGS, 20, seed=3,
                  objective=WRONG)
    bits = evaluate(DNC.from_config(CONFIG), run.params, copy_task, ARGS, 20, seed=3)
    assert onp.array_equal(ev, (bits > 0).astype(float))


def test_resume_and_interrupt_with_an_objective_are_exact(tmp_path):
    kw = dict(lr=1e-2, seed=6, log_every=4, objective=WRONG, progress=False)
    whole = train(CONFIG, copy_task, 14, ARGS, **kw)
    with pytest.raises(KeyboardInterrupt):
        train(CONFIG, _interrupting(10), 14, ARGS, checkpoint=tmp_path / "c.npz", **kw)
    _same_run(train(None, copy_task, 14, resume=tmp_path / "c.npz", **kw), whole)


# --- a curriculum with a state of its own ------------------------------------------

class Counting:
    """A stateful curriculum: lesson k trains max_length k + 1; it moves on every
    `every` intervals, replays the first lesson with probability 0.5 per batch (from the
    training generator) and records what it saw in its state."""
    def __init__(self, every=2): self.every = every
    def to_json(self): return {"type": "Counting", "every": self.every}
    def start(self, task_args, seed):
        state = {"lesson": 0, "intervals": 0, "replays": 0}
        return {**task_args, "max_length": 1}, state
    def sample(self, sampler, rng, task_args, state):
        if state["lesson"] > 0 and rng.random() < 0.5:
            return sampler(rng, **{**task_args, "max_length": 1})
        return sampler(rng, **task_args)
    def update(self, record, task_args, state, model, params, sampler):
        n = state["intervals"] + 1
        lesson = state["lesson"] + (n % self.every == 0)
        info = {"lesson": state["lesson"], "mean_param": float(onp.mean(params["W_y"]))}
        new = {**state, "intervals": n, "lesson": lesson}
        return {**task_args, "max_length": lesson + 1}, new, info
    def describe(self, state): return f"lesson {state['lesson']}"


def test_a_stateful_curriculum_is_carried_through_the_run(tmp_path, capsys):
    run = train(CONFIG, copy_task, 30, ARGS, lr=1e-2, seed=1, log_every=5,
                curriculum=Counting(), checkpoint=tmp_path / "c.npz",
                log=tmp_path / "log.jsonl", progress="lines")
    assert [r["lesson"] for r in run.history] == [0, 0, 1, 1, 2, 2]
    assert [r["task"]["max_length"] for r in run.history] == [1, 1, 2, 2, 3, 3]
    assert run.curriculum_state == {"lesson": 3, "intervals": 6, "replays": 0}
    assert run.task_args["max_length"] == 4
    meta = load_checkpoint(tmp_path / "c.npz").metadata
    assert meta["curriculum_state"] == run.curriculum_state
    assert meta["curriculum"] == {"type": "Counting", "every": 2}
    lines = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lines == run.history
    assert "  lesson 2" in capsys.readouterr().err.splitlines()[-1]


def test_a_stateful_curriculum_resumes_exactly_and_is_checked(tmp_path):
    kw = dict(lr=1e-2, seed=2, log_every=5, progress=False)
    whole = train(CONFIG, copy_task, 33, ARGS, curriculum=Counting(), **kw)
    train(CONFIG, copy_task, 17, ARGS, curriculum=Counting(),
          checkpoint=tmp_path / "c.npz", **kw)
    state = load_checkpoint(tmp_path / "c.npz").metadata["curriculum_state"]
    assert state["lesson"] == 1
    _same_run(train(None, copy_task, 33, resume=tmp_path / "c.npz",
                    curriculum=Counting(), **kw), whole)
    with pytest.raises(KeyboardInterrupt):
        train(CONFIG, _interrupting(23), 33, ARGS, curriculum=Counting(),
              checkpoint=tmp_path / "i.npz", **kw)
    state = load_checkpoint(tmp_path / "i.npz").metadata["curriculum_state"]
    assert state["intervals"] == 4
    _same_run(train(None, copy_task, 33, resume=tmp_path / "i.npz",
                    curriculum=Counting(), **kw), whole)
    with pytest.raises(ValueError, match="curriculum given differs"):
        train(None, copy_task, 40, resume=tmp_path / "c.npz", curriculum=Counting(3),
              **kw)
    plain = train(CONFIG, copy_task, 5, ARGS, checkpoint=tmp_path / "p.npz", **kw)
    assert plain.curriculum_state is None
    with pytest.raises(ValueError, match="holds no curriculum state"):
        train(None, copy_task, 10, resume=tmp_path / "p.npz", curriculum=Counting(),
              **kw)


@given(st.floats(0, 20), st.integers(1, 12), st.integers(1, 5), st.integers(1, 12),
       st.floats(0.01, 10))
def test_curriculum_grows_only_below_threshold_and_never_past_the_limit(
        errors, length, increment, limit, threshold):
    c = LengthCurriculum(threshold=threshold, increment=increment, limit=limit)
    args = {"max_length": length, "other": 1}
    new = c({"bit_errors": errors}, args)
    assert new["other"] == 1 and args["max_length"] == length    # input not modified
    if errors < threshold and length < limit:
        assert new["max_length"] == min(length + increment, limit)
    else: assert new == args


@given(st.sampled_from(["PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"]),
       st.integers(0, 2**32), st.integers(0, 50))
def test_rng_state_round_trips_through_json(kind, seed, draws):
    a = onp.random.Generator(getattr(onp.random, kind)(seed)); a.random(draws)
    b = restore_rng(json.loads(json.dumps(rng_state(a))))
    assert onp.array_equal(a.integers(0, 2**63, 16), b.integers(0, 2**63, 16))


def test_meter_means_plain_average():
    recs = [dict(loss=float(i), bit_errors=2.0 * i, grad_norm=1.0, skipped=i % 2)
            for i in range(5)]
    m = new_meter()
    for r in recs: m = add_to_meter(m, r)
    assert meter_means(m) == dict(loss=2.0, bit_errors=4.0, grad_norm=1.0, skipped=2)
    m = new_meter("errors")
    for r in recs: m = add_to_meter(m, {**r, "errors": r["bit_errors"] / 2})
    assert meter_means(m) == dict(loss=2.0, errors=2.0, grad_norm=1.0, skipped=2)


class _Zeros:
    "A stand-in model that always answers 0 (logit -1): its bit errors are the 1-bits."
    def apply(self, params, inputs): return -onp.ones(inputs.shape[:2] + (5,))


def test_evaluate_counts_against_a_plain_oracle():
    got = evaluate(_Zeros(), None, copy_task, ARGS, num_sequences=23, seed=9,
                   batch_size=10)
    rng, want = onp.random.default_rng(9), []
    for n in (10, 10, 3):                       # the same batches, drawn the same way
        b = copy_task(rng, **{**ARGS, "batch_size": n})
        for i in range(n):
            want.append(sum(b.targets[i, t, j] > 0.5 for t in range(b.mask.shape[1])
                            if b.mask[i, t] for j in range(b.targets.shape[2])))
    assert onp.array_equal(got, want)
    by_length = evaluate_lengths(_Zeros(), None, copy_task, ARGS, [1, 3],
                                 num_sequences=7, seed=0)
    assert sorted(by_length) == [1, 3] and all(len(e) == 7 for e in by_length.values())
    assert by_length[3].mean() > by_length[1].mean()  # three vectors carry more 1-bits


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="needs a config"):
        train(None, copy_task, 5, ARGS)
    with pytest.raises(TypeError, match="config must be a DNCConfig"):
        train({"a": 1}, copy_task, 5, ARGS)
    with pytest.raises(TypeError, match="sampler must be callable"):
        train(CONFIG, None, 5, ARGS)
    with pytest.raises(ValueError, match="log_every must be"):
        train(CONFIG, copy_task, 5, ARGS, log_every=0)
    with pytest.raises(ValueError, match="needs checkpoint="):
        train(CONFIG, copy_task, 5, ARGS, checkpoint_every=2)
    with pytest.raises(TypeError, match="objective must be an Objective"):
        train(CONFIG, copy_task, 5, ARGS, objective=_squared)
    with pytest.raises(TypeError, match="curriculum must be None"):
        train(CONFIG, copy_task, 5, ARGS, curriculum="lengths")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        train(None, copy_task, 5, resume=tmp_path / "x.npz")
    save_checkpoint(tmp_path / "bare.npz", DNC.from_config(CONFIG).init(0))
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        train(None, copy_task, 5, resume=tmp_path / "bare.npz")
