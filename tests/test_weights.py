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
