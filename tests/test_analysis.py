"""Tests of dnc_lit.analysis: the memory traffic of a run equals the library's full trace,
the description and answer steps pair each step with the right triple, and the decoders
recover digits that are linearly in the features and only those (so a swapped digit,
a misaligned step or a shuffled label fails)."""
import subprocess
import sys

import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st

from dnc_lit import graphs as G
from dnc_lit.analysis import (memory_traffic, description_steps, answer_steps,
                              triple_digits, fit_decoders, decoder_accuracy,
                              majority_accuracy, PAPER_L2)
from dnc_lit.model import DNC, DNCConfig, unroll

SETTINGS = settings(max_examples=25, deadline=None)
TRAFFIC = ("write_vector", "read_keys", "read_vectors", "read_modes", "write_gate",
           "allocation_gate", "output")


# ------------------------------------------------------------------ the traffic
@pytest.mark.parametrize("controller, layers", [("lstm", 1), ("lstm", 2),
                                                ("feedforward", 2)])
def test_traffic_equals_the_reference_trace(controller, layers):
    "Batch-first traffic == the float64 reference trace (time-first), every step."
    config = DNCConfig.tiny(controller=controller, num_layers=layers, impl="reference",
                            input_size=5, output_size=3)
    model = DNC.from_config(config)
    params = model.init(seed=3)
    x = onp.random.default_rng(1).standard_normal((3, 7, 5))
    traffic = memory_traffic(model, params, x)
    _, _, trace = unroll(params, x, config, trace=True)
    B, T, W, R = 3, 7, config.word_size, config.num_reads
    shapes = dict(write_vector=(B, T, W), read_keys=(B, T, R, W),
                  read_vectors=(B, T, R, W), read_modes=(B, T, R, 3),
                  write_gate=(B, T), allocation_gate=(B, T), output=(B, T, 3))
    for k in TRAFFIC:
        assert traffic[k].shape == shapes[k], k
        onp.testing.assert_allclose(traffic[k], onp.swapaxes(trace[k], 0, 1),
                                    atol=1e-12, err_msg=k)


def test_traffic_of_the_fast_float32_model_matches_float64():
    "The fast float32 step gives the traffic of the float64 reference to float32 precision."
    c32 = DNCConfig.tiny(dtype="float32", impl="fast", input_size=5, output_size=3)
    c64 = DNCConfig.tiny(dtype="float64", impl="reference", input_size=5, output_size=3)
    p32 = DNC.from_config(c32).init(seed=0)
    p64 = {k: onp.asarray(v, dtype=float) for k, v in p32.items()}
    x = onp.random.default_rng(2).standard_normal((2, 6, 5))
    t32 = memory_traffic(DNC.from_config(c32), p32, x)
    t64 = memory_traffic(DNC.from_config(c64), p64, x)
    for k in TRAFFIC:
        assert t32[k].dtype == onp.float64
        onp.testing.assert_allclose(t32[k], t64[k], atol=1e-4, err_msg=k)


def test_traffic_rejects_bad_arguments():
    model = DNC.from_config(DNCConfig.tiny())
    params = model.init(seed=0)
    with pytest.raises(TypeError, match="model must be a DNC"):
        memory_traffic(model.config, params, onp.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, T, 4\)"):
        memory_traffic(model, params, onp.zeros((1, 2, 5)))
    with pytest.raises(ValueError, match="inputs must have shape"):
        memory_traffic(model, params, onp.zeros((2, 4)))


# ------------------------------------------------------------------ steps and triples
TINY = G.Graph(nodes=(10, 20, 30, 40),
               triples=((10, 1, 20), (10, 2, 30), (20, 2, 40), (30, 1, 40), (40, 1, 10)))


def test_hand_checked_sequence():
    """Five description steps (0-4), three query steps (5-7), two planning steps (8, 9),
    the path at 10, 11, 12 and the termination pattern at 13 (not listed)."""
    q = G.traversal_question(TINY, 10, [1, 2, 1], planning_steps=2)
    batch = G.graph_batch([q, G.traversal_question(TINY, 30, [1])])
    b, t, shown = description_steps(batch)
    assert b.tolist() == [0] * 5 + [1] * 5 and t.tolist() == [0, 1, 2, 3, 4] * 2
    assert shown.tolist() == [list(s) for s in TINY.triples] * 2
    b, t, answered = answer_steps(batch)
    assert b.tolist() == [0, 0, 0, 1]
    assert t.tolist() == [10, 11, 12, 6]        # second: 5 shown + 1 query step
    assert answered.tolist() == [[10, 1, 20], [20, 2, 40], [40, 1, 10], [30, 1, 40]]
    assert batch.mask[0].nonzero()[0].tolist() == [10, 11, 12, 13]


@SETTINGS
@given(seed=st.integers(0, 2 ** 32 - 1), task=st.sampled_from(G.TASKS))
def test_steps_pair_each_step_with_its_triple(seed, task):
    """At every listed description step the input is the code of the listed triple; at
    every listed answer step the target is, and the step is scored. Every description
    step is listed, and every scored step except the termination steps of traversal."""
    rng = onp.random.default_rng(seed)
    sample = dict(traversal=lambda: G.traversal_task(rng, 5, path_length=(1, 3)),
                  inference=lambda: G.inference_task(rng, 5),
                  shortest_path=lambda: G.shortest_path_task(rng, 5, path_length=(1, 3)))
    batch = sample[task]()
    b, t, shown = description_steps(batch)
    assert len(b) == sum(len(q.description) for q in batch.questions)
    assert (G.decode_triples(batch.inputs[b, t, :90]) == shown).all()
    assert (batch.inputs[b, t, 90:] == 0).all()                # no phase, no answer
    b, t, answered = answer_steps(batch)
    assert (G.decode_triples(batch.targets[b, t]) == answered).all()
    assert (batch.mask[b, t] == 1).all()
    assert len(b) == sum(len(q.answer) for q in batch.questions)
    extra = len(batch.questions) if task == "traversal" else 0   # the terminations
    assert len(b) == batch.mask.sum() - extra


def test_steps_reject_what_is_not_a_batch():
    with pytest.raises(TypeError, match="batch must be a GraphBatch"):
        description_steps(G.traversal_question(TINY, 10, [1]))
    with pytest.raises(TypeError, match="batch must be a GraphBatch"):
        answer_steps(None)


@given(st.lists(st.tuples(*[st.integers(0, 999)] * 3), min_size=1, max_size=20))
def test_triple_digits_spell_the_labels(triples):
    d = triple_digits(triples)
    assert d.shape == (len(triples), 9) and ((d >= 0) & (d <= 9)).all()
    labels = d.reshape(-1, 3, 3) @ onp.array([100, 10, 1])
    assert labels.tolist() == [list(t) for t in triples]


# ------------------------------------------------------------------ the decoders
def _linear_digits(seed, n=2400, F=100, noise=0.1):
    "Digits (n, 9) and features (n, F) that hold all nine linearly (one-hot, mixed)."
    rng = onp.random.default_rng(seed)
    digits = rng.integers(0, 10, size=(n, 9))
    x = onp.eye(10)[digits].reshape(n, 90) @ rng.standard_normal((90, F))
    return digits, x + noise * rng.standard_normal((n, F)), rng


@pytest.mark.parametrize("seed", [0, 1])
def test_decoders_recover_linear_digits_and_only_the_true_labels(seed):
    pytest.importorskip("sklearn")
    digits, x, rng = _linear_digits(seed)
    tr, te = slice(0, 1800), slice(1800, None)
    acc = decoder_accuracy(fit_decoders(x[tr], digits[tr]), x[te], digits[te])
    assert acc.shape == (9,) and (acc > 0.97).all(), acc
    # test labels one row off (a misaligned step): chance
    off = decoder_accuracy(fit_decoders(x[tr], digits[tr]), x[te][1:], digits[te][:-1])
    assert (off < 0.2).all(), off
    # one column shuffled: that decoder at chance, the others untouched
    j = int(rng.integers(9))
    shuffled = digits.copy()
    shuffled[:, j] = rng.permutation(shuffled[:, j])
    acc = decoder_accuracy(fit_decoders(x[tr], shuffled[tr]), x[te], shuffled[te])
    assert acc[j] < 0.2 and (onp.delete(acc, j) > 0.97).all(), acc


def test_decoders_read_a_real_batch_at_its_own_steps():
    """Features = the input code at each description step (what a perfect writer would
    write): the shown triple decodes exactly; the code of the source alone decodes the
    source digits and not the others (a swapped digit order fails); the code of the next
    step decodes the shown triple at chance (a misaligned step fails)."""
    pytest.importorskip("sklearn")
    rng = onp.random.default_rng(4)
    train, test = (G.traversal_task(rng, 120, num_nodes=(5, 10)) for _ in range(2))
    def points(batch, shift=0, units=slice(0, 90)):
        b, t, shown = description_steps(batch)
        keep = t + shift < onp.array([len(q.description) for q in batch.questions])[b]
        x = batch.inputs[b[keep], t[keep] + shift, units]
        return x + 0.05 * rng.standard_normal(x.shape), triple_digits(shown[keep])
    acc = decoder_accuracy(fit_decoders(*points(train)), *points(test))
    assert (acc == 1).all(), acc
    src = slice(0, 30)
    acc = decoder_accuracy(fit_decoders(*points(train, units=src)),
                           *points(test, units=src))
    assert (acc[:3] == 1).all() and (acc[3:] < 0.25).all(), acc
    acc = decoder_accuracy(fit_decoders(*points(train, shift=1)),
                           *points(test, shift=1))
    assert (acc < 0.25).all(), acc


def test_a_one_valued_digit_gets_a_constant_decoder():
    pytest.importorskip("sklearn")
    digits, x, _ = _linear_digits(5, n=600)
    digits[:, 0] = 7                               # labels 700-799: the hundreds digit
    acc = decoder_accuracy(fit_decoders(x[:500], digits[:500]), x[500:], digits[500:])
    assert acc[0] == 1 and (acc[1:] > 0.9).all()


def test_regularisation_is_the_papers_by_default_and_shrinks_weights():
    "C = 1/λ = 10 by default; a stronger penalty (smaller C) gives smaller weights."
    pytest.importorskip("sklearn")
    assert PAPER_L2 == 0.1
    digits, x, _ = _linear_digits(6, n=500)
    default = fit_decoders(x, digits[:, :1])[0]
    assert default[-1].C == pytest.approx(1 / PAPER_L2)
    strong = fit_decoders(x, digits[:, :1], C=1e-3)[0]
    assert onp.abs(strong[-1].coef_).sum() < onp.abs(default[-1].coef_).sum()


def test_decoders_reject_mismatched_points():
    pytest.importorskip("sklearn")
    digits, x, _ = _linear_digits(7, n=100)
    with pytest.raises(ValueError, match="features must be"):
        fit_decoders(x[:50], digits[:40])
    with pytest.raises(ValueError, match="features must be"):
        fit_decoders(x[:, 0], digits)
    decoders = fit_decoders(x, digits[:, :2])
    with pytest.raises(ValueError, match="must have 100 columns"):
        decoder_accuracy(decoders, x[:, :50], digits[:, :2])
    with pytest.raises(ValueError, match="labels must have 2 columns"):
        decoder_accuracy(decoders, x, digits[:, :3])


def test_majority_baseline_by_hand():
    assert majority_accuracy([[1, 0], [1, 2], [3, 2]], [[1, 2], [0, 2]]).tolist() \
        == [0.5, 1.0]
    rng = onp.random.default_rng(8)
    uniform = rng.integers(0, 10, size=(20000, 9))
    assert onp.allclose(majority_accuracy(uniform[:10000], uniform[10000:]), 0.1,
                        atol=0.02)


# ------------------------------------------------------------------ optional dependency
def test_importing_the_module_does_not_import_sklearn():
    code = "import sys, dnc_lit.analysis; assert 'sklearn' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_a_missing_sklearn_gets_one_clear_error(monkeypatch):
    for m in ("sklearn", "sklearn.dummy", "sklearn.linear_model", "sklearn.pipeline",
              "sklearn.preprocessing"):
        monkeypatch.setitem(sys.modules, m, None)
    digits, x, _ = _linear_digits(9, n=50)
    with pytest.raises(ImportError, match=r"scikit-learn: pip install 'dnc_lit\[analysis\]'"):
        fit_decoders(x, digits)
