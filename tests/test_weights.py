"""The trained weights shipped in the package (dnc_lit/weights/*.npz) still solve their tasks with the library as it
is now: a change to the model's equations that alters what trained parameters compute fails here. Each file records
the command and seed that made it."""
from importlib.resources import files
import numpy as onp
import pytest

from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.model import DNCConfig, DNC
from dnc_lit.tasks import copy_task, repeat_copy_task
from dnc_lit.train import evaluate

WEIGHTS = {"copy": ("copy.npz", copy_task), "repeat-copy": ("repeat_copy.npz", repeat_copy_task)}


def _path(task):
    return files("dnc_lit") / "weights" / WEIGHTS[task][0]


@pytest.mark.parametrize("task", list(WEIGHTS))
def test_shipped_weights_are_small_and_record_how_they_were_made(task):
    path = _path(task)
    assert path.is_file(), f"{path} is missing: the package ships trained weights for {task}"
    assert path.stat().st_size < 2_000_000
    ck = load_checkpoint(path)
    m = ck.metadata
    assert m["task"] == task and m["kind"] == "dnc_lit.train"
    assert m["command"].startswith(f"dnc-lit train {task} ") and f"--seed {m['seed']}" in m["command"]
    assert m["step"] >= 1 and len(m["history"]) >= 1 and m["seconds"] > 0
    config = DNCConfig(**ck.config)
    assert (config.input_size, config.output_size) == (m["task_args"]["num_bits"] + 2, m["task_args"]["num_bits"] + 1)


@pytest.mark.slow
@pytest.mark.parametrize("task", list(WEIGHTS))
def test_shipped_weights_solve_their_task(task):
    "Mean bit errors per sequence < 0.01 on 1,000 fresh seeded sequences drawn as in training."
    ck = load_checkpoint(_path(task))
    model = DNC.from_config(DNCConfig(**ck.config))
    errors = evaluate(model, ck.params, WEIGHTS[task][1], ck.metadata["task_args"], num_sequences=1000, seed=2024,
                      batch_size=500)
    assert len(errors) == 1000
    assert errors.mean() < 0.01, f"{task}: {errors.mean():.4f} bit errors per sequence, {(errors > 0).sum()} sequences wrong"


# ---------------------------------------------------------------- Extended Data Fig. 1: re-using memory
SERIES = files("dnc_lit") / "weights" / "copy_series.npz"
SERIES_TEST = dict(num_bits=4, num_episodes=10, min_length=5, max_length=5)


def test_series_weights_record_how_they_were_made():
    "The chapter's weights: a feed-forward DNC with N = 10, and the command, seed, steps, sequences and CPU time."
    assert SERIES.is_file() and SERIES.stat().st_size < 500_000
    ck = load_checkpoint(SERIES)
    m, config = ck.metadata, DNCConfig(**ck.config)
    assert (config.controller, config.memory_size) == ("feedforward", 10)
    assert m["task"] == "copy-series" and m["kind"] == "dnc_lit.train"
    assert m["command"].startswith("OMP_NUM_THREADS=1 python tools/train_copy_series.py")
    assert m["sequences_seen"] == m["step"] * m["task_args"]["batch_size"] and m["cpu_seconds"] > 0
    assert isinstance(m["seed"], int) and len(m["history"]) >= 1


def _series_trace(seed):
    from dnc_lit.tasks import copy_series_task
    ck = load_checkpoint(SERIES)
    model = DNC.from_config(DNCConfig(**ck.config))
    b = copy_series_task(onp.random.default_rng(seed), batch_size=1, **SERIES_TEST)
    logits, trace = model.apply(ck.params, b.inputs, trace=True)
    return b, onp.asarray(logits)[0], {k: onp.asarray(v)[:, 0] for k, v in trace.items()}


@pytest.mark.slow
def test_series_weights_copy_fifty_vectors_through_ten_slots():
    "Ten episodes of five vectors (the paper's test) on 500 fresh series: fewer than 0.01 bit errors per series."
    from dnc_lit.tasks import copy_series_task
    ck = load_checkpoint(SERIES)
    model = DNC.from_config(DNCConfig(**ck.config))
    errors = evaluate(model, ck.params, copy_series_task, SERIES_TEST, num_sequences=500, seed=2025)
    assert errors.mean() < 0.01, f"{errors.mean():.4f} bit errors per series"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_series_weights_reuse_slots_as_the_chapter_says(seed):
    """What chapter 55 reads off its figure: each episode writes five different slots, every slot is written
    again in later episodes, reads return to the written slots in order (one step ahead), the allocation
    gate opens in the write phases and closes in the read phases, and a slot's usage falls once it is read."""
    b, logits, tr = _series_trace(seed)
    assert (((logits > 0) != (b.targets[0] > 0.5)) * b.mask[0][:, None]).sum() == 0
    T, E = b.inputs.shape[1], 13
    phase = onp.arange(T) % E
    writing, reading = (phase >= 1) & (phase <= 5), (phase >= 7) & (phase <= 11)
    starts = onp.arange(0, T, E)
    slots = onp.array([tr["write_weights"][s + 1:s + 6].argmax(-1) for s in starts])
    assert all(len(set(s)) == 5 for s in slots)
    used = onp.bincount(slots.ravel(), minlength=10)
    assert (used > 0).all() and used.max() >= 4
    read = onp.array([tr["read_weights"][s + 6:s + 11, 0].argmax(-1) for s in starts])
    onp.testing.assert_array_equal(read, slots)
    g_a = tr["allocation_gate"]
    assert g_a[writing].mean() > 0.9 and g_a[reading].mean() < 0.2
    assert tr["free_gates"][reading, 0].mean() > 0.9
    u = tr["usage"]
    after_write = onp.array([u[s + 5, sl] for s, sl in zip(starts, slots)]).mean()
    at_end = onp.array([u[s + 12, sl] for s, sl in zip(starts, slots)]).mean()
    assert at_end < after_write - 0.2
