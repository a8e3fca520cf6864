"""The controller network (nbs/10_controller.ipynb): plain-loop oracles of the deep LSTM and the MLP,
the layer wiring, the gradient-clipping primitive, and finite-difference gradients."""
import warnings

import numpy as onp
import autograd.numpy as np
import pytest
from autograd import grad
from hypothesis import given, strategies as st

from dnc_lit.controller import (
    controller_input, sigmoid, tanh, lstm_layer, init_linear, init_lstm, LSTMState, lstm_initial_state,
    lstm_controller, init_feedforward, feedforward_controller, init_heads, controller_output,
    interface_vector, clip_gradient, clip_forward, clip_activation)
from helpers import check_grad


def _sig(z):
    "Scalar logistic sigmoid for the oracles (math only, no dnc_lit)."
    return 1.0 / (1.0 + onp.exp(-z))


def oracle_deep_lstm(params, chis, L, H):
    """The paper's deep LSTM equations written with explicit loops over steps, layers, units and inputs.
    chis (T, B, D_chi). Returns the hidden vectors (T, B, L, H) and the cells (T, B, L, H)."""
    T, B, D = chis.shape
    h = onp.zeros((B, L, H)); s = onp.zeros((B, L, H))
    hs, ss = [], []
    for t in range(T):
        h_new = onp.zeros((B, L, H)); s_new = onp.zeros((B, L, H))
        for b in range(B):
            for l in range(L):
                W, bias = params[f"lstm{l + 1}_W"], params[f"lstm{l + 1}_b"]
                inp = list(chis[t, b]) + list(h[b, l]) + (list(h_new[b, l - 1]) if l > 0 else [])
                assert len(inp) == W.shape[0]
                for j in range(H):
                    pre = [bias[g * H + j] + sum(inp[k] * W[k, g * H + j] for k in range(len(inp))) for g in range(4)]
                    i, f, o = _sig(pre[0]), _sig(pre[1]), _sig(pre[2])
                    s_new[b, l, j] = f * s[b, l, j] + i * onp.tanh(pre[3])
                    h_new[b, l, j] = o * onp.tanh(s_new[b, l, j])
        h, s = h_new, s_new
        hs.append(h); ss.append(s)
    return onp.array(hs), onp.array(ss)


def run_lstm(params, chis, L, H, **kw):
    T, B, _ = chis.shape
    state, hs, ss = lstm_initial_state(B, L, H), [], []
    for t in range(T):
        h_all, state, _ = lstm_controller(params, chis[t], state, **kw)
        hs.append(h_all); ss.append(state.s)
    return np.stack(hs), np.stack(ss)


def test_controller_input_order():
    x = onp.arange(2.0).reshape(1, 2)
    r = 10 + onp.arange(6.0).reshape(1, 2, 3)
    assert controller_input(x, r).tolist() == [[0, 1, 10, 11, 12, 13, 14, 15]]


def test_sigmoid_matches_definition_and_is_safe():
    z = onp.linspace(-30, 30, 121)
    onp.testing.assert_allclose(sigmoid(z), 1 / (1 + onp.exp(-z)), rtol=1e-12, atol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid(onp.array([-1e308, -1e4, 1e4, 1e308]))
        g = grad(lambda z: np.sum(sigmoid(z)))(onp.array([-1e4, 1e4]))
        g2 = grad(lambda z: np.sum(tanh(z)))(onp.array([-1e4, 1e4]))
    assert onp.isfinite(out).all() and onp.isfinite(g).all() and onp.isfinite(g2).all()
    assert out.tolist() == [0.0, 0.0, 1.0, 1.0]
    onp.testing.assert_allclose(tanh(z), onp.tanh(z))
    check_grad(lambda z: np.sum(onp.cos(onp.arange(z.size)) * sigmoid(z)), [z / 10], name="sigmoid")
    check_grad(lambda z: np.sum(onp.cos(onp.arange(z.size)) * tanh(z)), [z / 10], name="tanh")


@pytest.mark.parametrize("L", [1, 2, 3])
def test_deep_lstm_matches_loop_oracle(L):
    X, H, T, B = 3, 2, 4, 2
    rng = onp.random.default_rng(L)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in init_lstm(rng, X, H, L).items()}
    chis = rng.standard_normal((T, B, X))
    h_all, s = run_lstm(params, chis, L, H)
    h_ref, s_ref = oracle_deep_lstm(params, chis, L, H)
    onp.testing.assert_allclose(h_all, h_ref.reshape(T, B, L * H), rtol=1e-12, atol=1e-14)
    onp.testing.assert_allclose(s, s_ref, rtol=1e-12, atol=1e-14)


def test_gates_returned_are_the_gates():
    rng = onp.random.default_rng(0)
    X, H, L = 3, 2, 2
    p = init_lstm(rng, X, H, L)
    chi = rng.standard_normal((1, X))
    _, st1, g = lstm_controller(p, chi, lstm_initial_state(1, L, H))
    pre = chi @ p["lstm1_W"][:X] + p["lstm1_b"]             # layer 1, zero previous state
    onp.testing.assert_allclose(g["input"][:, 0], _sig(pre[:, :H]))
    onp.testing.assert_allclose(g["forget"][:, 0], _sig(pre[:, H:2 * H]))
    onp.testing.assert_allclose(g["output"][:, 0], _sig(pre[:, 2 * H:3 * H]))
    assert g["input"].shape == (1, L, H)


def test_layer_wiring():
    "Layer l sees h^{l-1}_t of the same step; layer 1 does not see the layers above; outputs come from all layers."
    rng = onp.random.default_rng(1)
    X, H, L, T = 3, 2, 2, 3
    p = init_lstm(rng, X, H, L)
    chis = rng.standard_normal((T, 1, X))
    base, _ = run_lstm(p, chis, L, H)
    # cut the rows of layer 2 that multiply h^1_t: layer 1 unchanged, layer 2 changes at the first step
    cut = dict(p, lstm2_W=p["lstm2_W"] * onp.r_[onp.ones(X + H), onp.zeros(H)][:, None])
    out, _ = run_lstm(cut, chis, L, H)
    onp.testing.assert_allclose(out[:, :, :H], base[:, :, :H])
    assert onp.abs(out[0, :, H:] - base[0, :, H:]).max() > 1e-4
    # every layer sees chi_t: cutting the chi rows of layer 2 changes layer 2 at step 1
    cut = dict(p, lstm2_W=p["lstm2_W"] * onp.r_[onp.zeros(X), onp.ones(2 * H)][:, None])
    out, _ = run_lstm(cut, chis, L, H)
    assert onp.abs(out[0, :, H:] - base[0, :, H:]).max() > 1e-4
    # the recurrent rows h^l_{t-1} matter from step 2 on, not at step 1 (h_0 = 0)
    cut = dict(p, lstm1_W=p["lstm1_W"] * onp.r_[onp.ones(X), onp.zeros(H)][:, None])
    out, _ = run_lstm(cut, chis, L, H)
    onp.testing.assert_allclose(out[0], base[0])
    assert onp.abs(out[1, :, :H] - base[1, :, :H]).max() > 1e-4


def test_heads_read_all_layers():
    rng = onp.random.default_rng(2)
    p = init_heads(rng, num_layers=3, hidden_size=2, interface_size=5, output_size=4)
    assert p["W_y"].shape == (6, 4) and p["W_xi"].shape == (6, 5)
    h_all = rng.standard_normal((2, 6))
    for l in range(3):                    # every layer's block of h_all moves both outputs
        h2 = h_all.copy(); h2[:, 2 * l] += 1.0
        assert onp.abs(controller_output(p, h2) - controller_output(p, h_all)).min() > 0
        assert onp.abs(interface_vector(p, h2) - interface_vector(p, h_all)).min() > 0
    onp.testing.assert_allclose(interface_vector(p, h_all), h_all @ p["W_xi"])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_feedforward_matches_oracle(activation):
    rng = onp.random.default_rng(3)
    X, H, L, B = 4, 3, 2, 2
    p = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in init_feedforward(rng, X, H, L).items()}
    chi = rng.standard_normal((B, X))
    phi = onp.tanh if activation == "tanh" else (lambda z: max(z, 0.0))
    ref = onp.zeros((B, L * H))
    for b in range(B):
        h = list(chi[b])
        for l in range(L):
            W, bias = p[f"ff{l + 1}_W"], p[f"ff{l + 1}_b"]
            h = [phi(bias[j] + sum(h[k] * W[k, j] for k in range(len(h)))) for j in range(H)]
            ref[b, l * H:(l + 1) * H] = h
    onp.testing.assert_allclose(feedforward_controller(p, chi, L, activation), ref, rtol=1e-12, atol=1e-14)


def test_init_shapes_bias_and_determinism():
    p1 = init_lstm(onp.random.default_rng(5), 7, 4, 2)
    p2 = init_lstm(onp.random.default_rng(5), 7, 4, 2)
    assert {k: v.shape for k, v in p1.items()} == {"lstm1_W": (11, 16), "lstm1_b": (16,),
                                                   "lstm2_W": (15, 16), "lstm2_b": (16,)}
    for k in p1:
        onp.testing.assert_array_equal(p1[k], p2[k])
        assert p1[k].dtype == onp.float64
    assert p1["lstm1_b"].tolist() == [0] * 4 + [1] * 4 + [0] * 8
    W = init_linear(onp.random.default_rng(0), 400, 400)
    assert abs(W.std() * onp.sqrt(400) - 1) < 0.02


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=6), st.floats(0.1, 50))
def test_clip_gradient_property(g, bound):
    "Forward identity; the gradient of sum(g * clip_gradient(x)) is clip(g, -bound, bound)."
    g = onp.array(g)
    x = onp.linspace(-1, 1, len(g))
    assert (clip_gradient(x, bound) == x).all()
    got = grad(lambda x: np.sum(g * clip_gradient(x, bound)))(x)
    onp.testing.assert_array_equal(got, onp.clip(g, -bound, bound))


def test_clip_gradient_in_controller():
    "With a loss large enough, clipped gradients do not grow with the loss; the loss value is unchanged."
    rng = onp.random.default_rng(4)
    X, H, L, T = 3, 3, 2, 4
    p = init_lstm(rng, X, H, L)
    chis = rng.standard_normal((T, 1, X))

    def loss(p, c, clip):
        h, _ = run_lstm(p, chis, L, H, grad_clip=clip)
        return c * np.sum(h)

    for key in p:
        small_free, small_clip = grad(loss)(p, 1.0, None)[key], grad(loss)(p, 1.0, 10.0)[key]
        onp.testing.assert_allclose(small_free, small_clip)          # nothing to clip: the true gradient
    g4, g5 = grad(loss)(p, 1e4, 10.0), grad(loss)(p, 1e5, 10.0)
    for key in p:
        onp.testing.assert_allclose(g4[key], g5[key])
    assert onp.abs(grad(loss)(p, 1e4, None)["lstm1_W"]).max() > 100 * onp.abs(g4["lstm1_W"]).max()
    assert loss(p, 1e4, None) == loss(p, 1e4, 10.0)


def test_forward_clip():
    x = onp.array([-30.0, -5.0, 0.0, 25.0])
    assert clip_forward(x, None) is x
    assert clip_forward(x, 20.0).tolist() == [-20, -5, 0, 20]
    assert clip_activation(x, None, None) is x
    # an LSTM cell saturated open grows by one per step; the forward clip stops it at the bound
    p = {"lstm1_W": onp.zeros((2, 4)), "lstm1_b": onp.full(4, 50.0)}
    _, s = run_lstm(p, onp.zeros((25, 1, 1)), 1, 1, clip_value=20.0)
    assert s[-1].item() == 20.0
    _, s = run_lstm(p, onp.zeros((25, 1, 1)), 1, 1)
    assert abs(s[-1].item() - 25.0) < 1e-9


def test_batch_independence():
    rng = onp.random.default_rng(6)
    X, H, L, T, B = 3, 2, 2, 3, 3
    p = init_lstm(rng, X, H, L)
    chis = rng.standard_normal((T, B, X))
    together, _ = run_lstm(p, chis, L, H)
    for b in range(B):
        alone, _ = run_lstm(p, chis[:, b:b + 1], L, H)
        onp.testing.assert_allclose(together[:, b:b + 1], alone, rtol=1e-13, atol=1e-15)
    pf = init_feedforward(rng, X, H, L)
    together = feedforward_controller(pf, chis[0], L)
    onp.testing.assert_allclose(together[1:2], feedforward_controller(pf, chis[0, 1:2], L), rtol=1e-13)


@pytest.mark.parametrize("L", [1, 2])
def test_lstm_gradients_finite_differences(L):
    rng = onp.random.default_rng(7)
    X, H, T, B = 2, 2, 4, 2
    p = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in init_lstm(rng, X, H, L).items()}
    p.update(init_heads(rng, L, H, interface_size=3, output_size=2))
    chis = rng.standard_normal((T, B, X))
    keys = sorted(p)
    proj_y, proj_xi = rng.standard_normal((T, B, 2)), rng.standard_normal((T, B, 3))

    def loss(*arrays):
        q = dict(zip(keys, arrays))
        state, total = lstm_initial_state(B, L, H), 0.0
        for t in range(T):
            h_all, state, _ = lstm_controller(q, chis[t], state)
            total = total + np.sum(proj_y[t] * controller_output(q, h_all)) + np.sum(proj_xi[t] * interface_vector(q, h_all))
        return total

    check_grad(loss, [p[k] for k in keys], name=f"deep LSTM, L={L}")
    # and with respect to the input chi (through every layer)
    check_grad(lambda c: np.sum(run_lstm(p, c, L, H)[0] ** 2), [chis], name="deep LSTM wrt chi")


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_feedforward_gradients_finite_differences(activation):
    rng = onp.random.default_rng(8)
    X, H, L, B = 3, 3, 2, 2
    p = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in init_feedforward(rng, X, H, L).items()}
    keys = sorted(p)
    chi = rng.standard_normal((B, X))
    proj = rng.standard_normal((B, L * H))
    loss = lambda *arrays: np.sum(proj * feedforward_controller(dict(zip(keys, arrays)), chi, L, activation))
    check_grad(loss, [p[k] for k in keys], name=f"feed-forward {activation}")


def test_lstm_state_shapes():
    st0 = lstm_initial_state(3, 2, 5)
    assert isinstance(st0, LSTMState) and st0.h.shape == st0.s.shape == (3, 2, 5)
    assert not st0.h.any() and not st0.s.any()
    rng = onp.random.default_rng(0)
    h, s, (i, f, o) = lstm_layer(rng.standard_normal((4 + 5, 20)), onp.zeros(20), onp.ones((3, 4)),
                                 onp.zeros((3, 5)), onp.zeros((3, 5)))
    assert h.shape == s.shape == i.shape == f.shape == o.shape == (3, 5)
