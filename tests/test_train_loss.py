"""The masked sigmoid cross-entropy (dnc_lit.train): against a plain-loop oracle, stable for huge logits, gradient
by finite differences, masked steps ignored, batch conventions, and BPTT through a small recurrent model."""
import math
import numpy as onp
import autograd.numpy as anp
import pytest
from autograd import grad
from hypothesis import given, strategies as st

from dnc_lit.tasks import Batch, copy_task
from dnc_lit.train import sigmoid_cross_entropy, masked_sigmoid_cross_entropy, batch_loss, loss_and_grad
from helpers import check_grad


def bce(x, z):
    "The per-bit loss -z log sigma(x) - (1-z) log(1 - sigma(x)), evaluated exactly with Python floats."
    # log sigma(x) = -log(1 + e^-x), log(1 - sigma(x)) = -log(1 + e^x), each computed where it cannot overflow
    log1pexp = lambda u: u + math.log1p(math.exp(-u)) if u > 0 else math.log1p(math.exp(u))
    return z * log1pexp(-x) + (1 - z) * log1pexp(x)


def loss_loop(logits, targets, mask, per_bit=False):
    B, T, Y = targets.shape
    total = count = 0.0
    for b in range(B):
        for t in range(T):
            for j in range(Y):
                total += mask[b, t] * bce(float(logits[b, t, j]), float(targets[b, t, j]))
                count += mask[b, t]
    return total / max(count, 1.0) if per_bit else total / B


@given(st.floats(-800, 800), st.sampled_from([0.0, 1.0, 0.25]))
def test_elementwise_against_exact_formula(x, z):
    got = float(sigmoid_cross_entropy(onp.array(x), onp.array(z)))
    assert math.isfinite(got)
    assert got == pytest.approx(bce(x, z), rel=1e-12, abs=1e-300)


def test_large_logits_do_not_overflow_and_keep_precision():
    x = onp.array([1e4, -1e4, 745.0, -745.0, 40.0])
    z = onp.array([0.0, 1.0, 1.0, 0.0, 1.0])
    with onp.errstate(over="raise", divide="raise", invalid="raise"):      # underflow to 0 is harmless
        v = sigmoid_cross_entropy(x, z)
    onp.testing.assert_allclose(v[:2], 1e4)
    assert v[4] == pytest.approx(math.log1p(math.exp(-40.0)), rel=1e-14)
    g = grad(lambda x: onp.sum(sigmoid_cross_entropy(x, z)))(x)
    assert onp.isfinite(g).all()
    onp.testing.assert_allclose(g, 1 / (1 + onp.exp(-onp.clip(x, -700, 700))) - z, atol=1e-15)


@given(st.integers(0, 10_000), st.integers(1, 3), st.integers(1, 5), st.integers(1, 4), st.booleans())
def test_masked_loss_against_loop(seed, B, T, Y, per_bit):
    r = onp.random.default_rng(seed)
    logits = 4 * r.standard_normal((B, T, Y))
    targets = (r.random((B, T, Y)) < 0.5).astype(float)
    mask = (r.random((B, T)) < 0.6).astype(float)
    got = masked_sigmoid_cross_entropy(logits, targets, mask, per_bit=per_bit)
    assert float(got) == pytest.approx(loss_loop(logits, targets, mask, per_bit), rel=1e-12, abs=1e-12)


def test_gradient_by_finite_differences():
    r = onp.random.default_rng(0)
    targets = (r.random((2, 4, 3)) < 0.5).astype(float)
    mask = onp.array([[0, 1, 1, 1], [1, 1, 0, 0]], dtype=float)
    for per_bit in (False, True):
        f = lambda x: masked_sigmoid_cross_entropy(x, targets, mask, per_bit=per_bit)
        check_grad(f, [2 * r.standard_normal((2, 4, 3))], name=f"loss(per_bit={per_bit})")


def test_masked_steps_are_ignored():
    r = onp.random.default_rng(1)
    logits, targets = r.standard_normal((3, 5, 2)), (r.random((3, 5, 2)) < 0.5).astype(float)
    mask = onp.ones((3, 5)); mask[0, :2] = 0; mask[2, 4] = 0
    off = mask == 0
    base = masked_sigmoid_cross_entropy(logits, targets, mask)
    logits2, targets2 = logits.copy(), targets.copy()
    logits2[off] = 1e3 * r.standard_normal((off.sum(), 2)); targets2[off] = 1 - targets2[off]
    assert masked_sigmoid_cross_entropy(logits2, targets2, mask) == pytest.approx(base, rel=1e-15)
    g = grad(masked_sigmoid_cross_entropy)(logits, targets, mask)
    assert (g[off] == 0).all() and (g[~off] != 0).all()


def test_conventions_and_batch_independence():
    r = onp.random.default_rng(2)
    logits, targets = r.standard_normal((4, 6, 3)), (r.random((4, 6, 3)) < 0.5).astype(float)
    mask = (r.random((4, 6)) < 0.7).astype(float)
    per_seq = [masked_sigmoid_cross_entropy(logits[i:i + 1], targets[i:i + 1], mask[i:i + 1]) for i in range(4)]
    assert masked_sigmoid_cross_entropy(logits, targets, mask) == pytest.approx(onp.mean(per_seq), rel=1e-13)
    per_bit = masked_sigmoid_cross_entropy(logits, targets, mask, per_bit=True)
    assert per_bit == pytest.approx(onp.sum(per_seq) / (mask.sum() * 3), rel=1e-13)
    zeros = onp.zeros_like(logits)
    assert masked_sigmoid_cross_entropy(zeros, targets, mask, per_bit=True) == pytest.approx(math.log(2))
    assert masked_sigmoid_cross_entropy(zeros, targets, mask) == pytest.approx(mask.sum() * 3 * math.log(2) / 4)


def test_all_zero_mask_gives_zero_and_finite_gradient():
    logits, targets, mask = onp.ones((2, 3, 2)), onp.zeros((2, 3, 2)), onp.zeros((2, 3))
    for per_bit in (False, True):
        assert masked_sigmoid_cross_entropy(logits, targets, mask, per_bit=per_bit) == 0.0
        g = grad(masked_sigmoid_cross_entropy)(logits, targets, mask, per_bit)
        assert onp.isfinite(g).all() and not g.any()


def test_shape_errors_name_the_argument():
    x = onp.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="logits and targets must both have shape"):
        masked_sigmoid_cross_entropy(x, x[..., :3], onp.ones((2, 3)))
    with pytest.raises(ValueError, match="logits and targets must both have shape"):
        masked_sigmoid_cross_entropy(x[0], x[0], onp.ones(3))
    with pytest.raises(ValueError, match=r"mask must have shape \(B,T\)"):
        masked_sigmoid_cross_entropy(x, x, onp.ones((2, 4)))


def rnn_apply(params, inputs):
    "A small Elman network, unrolled with a Python loop (the shape of the DNC's apply)."
    h, ys = onp.zeros((inputs.shape[0], params["W_h"].shape[0])), []
    for t in range(inputs.shape[1]):
        h = anp.tanh(inputs[:, t] @ params["W_x"] + h @ params["W_h"])
        ys.append(h @ params["W_y"])
    return anp.stack(ys, axis=1)


def test_bptt_through_a_recurrent_model_by_finite_differences():
    batch = copy_task(onp.random.default_rng(0), batch_size=2, num_bits=2, min_length=2, max_length=2)
    r = onp.random.default_rng(3)
    params = dict(W_x=0.5 * r.standard_normal((4, 3)), W_h=0.5 * r.standard_normal((3, 3)), W_y=0.5 * r.standard_normal((3, 3)))
    loss, grads = loss_and_grad(rnn_apply, params, batch)
    assert isinstance(loss, float) and loss == pytest.approx(float(batch_loss(rnn_apply, params, batch)))
    assert set(grads) == set(params) and all(grads[k].shape == params[k].shape for k in params)
    names = list(params)
    f = lambda *arrays: batch_loss(rnn_apply, dict(zip(names, arrays)), batch)
    check_grad(f, [params[k] for k in names], name="BPTT")
    # the recurrent weights matter only through time, and get a nonzero gradient
    assert onp.abs(grads["W_h"]).max() > 1e-6


def test_loss_and_grad_per_bit_and_duck_typed_batch():
    r = onp.random.default_rng(4)
    batch = Batch(r.standard_normal((2, 3, 2)), (r.random((2, 3, 2)) < 0.5).astype(float), onp.ones((2, 3)))
    apply = lambda p, x: x * p["a"] + p["b"]
    params = {"a": onp.array(0.3), "b": onp.array([0.1, -0.2])}
    loss, grads = loss_and_grad(apply, params, batch, per_bit=True)
    assert loss == pytest.approx(loss_loop(apply(params, batch.inputs), batch.targets, batch.mask, per_bit=True))
    check_grad(lambda a, b: batch_loss(apply, {"a": a, "b": b}, batch, per_bit=True), [params["a"], params["b"]])
