"""Optimisers (dnc_lit.optim): RMSProp and Adam against step-by-step scalar oracles written from their equations,
global-norm clipping, purity, and the state's .npz round trip."""
import io
import math
import numpy as onp
import pytest
from hypothesis import given, strategies as st

from dnc_lit.optim import (global_norm, clip_by_global_norm, rmsprop_init, rmsprop_update,
                           adam_init, adam_update, get_optimiser)


def rmsprop_oracle(theta, grads, lr, decay, momentum, eps, inside, ms0, centered):
    "Scalar RMSProp, TensorFlow's equations, one Python float at a time."
    ms, mom, mg, out = ms0, 0.0, 0.0, []
    for g in grads:
        ms = decay * ms + (1 - decay) * g * g
        mg = decay * mg + (1 - decay) * g
        var = max(ms - mg * mg, 0.0) if centered else ms
        mom = momentum * mom + lr * g / (math.sqrt(var + eps) if inside else math.sqrt(var) + eps)
        theta -= mom
        out.append(theta)
    return out


def adam_oracle(theta, grads, lr, b1, b2, eps):
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, 1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        theta -= lr * (m / (1 - b1 ** t)) / (math.sqrt(v / (1 - b2 ** t)) + eps)
        out.append(theta)
    return out


def test_rmsprop_two_steps_by_hand():
    "f = theta^2 / 2 from theta = 2, lr 0.1, DeepMind's defaults otherwise: nu_1 = 1.3, theta_1 = 2 - 0.2/sqrt(1.3)."
    p, s = {"t": onp.array(2.0)}, rmsprop_init({"t": onp.array(2.0)})
    p, s = rmsprop_update(p, {"t": p["t"]}, s, lr=0.1)
    assert float(p["t"]) == pytest.approx(2 - 0.2 / math.sqrt(1.3 + 1e-10), rel=1e-14)
    assert float(s["ms"]["t"]) == pytest.approx(1.3)
    t1 = float(p["t"])
    p, s = rmsprop_update(p, {"t": p["t"]}, s, lr=0.1)
    assert float(p["t"]) == pytest.approx(t1 - 0.1 * t1 / math.sqrt(0.9 * 1.3 + 0.1 * t1 * t1 + 1e-10), rel=1e-14)
    assert int(s["step"]) == 2 and s["step"].dtype == onp.int64


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("inside", [True, False])
@pytest.mark.parametrize("ms0", [1.0, 0.0])
@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_matches_scalar_oracle_on_a_quadratic(momentum, inside, ms0, centered):
    "f(theta) = a/2 (theta - c)^2 elementwise; each coordinate follows the scalar oracle fed its own gradients."
    a, c = onp.array([0.5, 3.0, 20.0]), onp.array([1.0, -2.0, 0.5])
    hyper = dict(lr=0.05, decay=0.9, momentum=momentum, eps=1e-8, eps_inside_sqrt=inside)
    p, s = {"x": onp.zeros(3)}, rmsprop_init({"x": onp.zeros(3)}, initial_ms=ms0, centered=centered)
    traj, gs = [], []
    for _ in range(6):
        g = a * (p["x"] - c)
        gs.append(g)
        p, s = rmsprop_update(p, {"x": g}, s, **hyper)
        traj.append(p["x"])
    for i in range(3):
        want = rmsprop_oracle(0.0, [g[i] for g in gs], 0.05, 0.9, momentum, 1e-8, inside, ms0, centered)
        onp.testing.assert_allclose([t[i] for t in traj], want, rtol=1e-12, atol=1e-15)
    assert ("mg" in s) == centered


def test_adam_first_step_and_oracle():
    p = {"x": onp.array([2.0, -3.0, 1e-3])}
    q, s = adam_update(p, {"x": p["x"]}, adam_init(p), lr=0.1)
    onp.testing.assert_allclose(p["x"] - q["x"], 0.1 * onp.sign(p["x"]) * onp.abs(p["x"]) / (onp.abs(p["x"]) + 1e-8), rtol=1e-12)
    a = onp.array([1.0, 10.0, 100.0])
    p, s, gs, traj = {"x": onp.ones(3)}, adam_init({"x": onp.ones(3)}), [], []
    for _ in range(5):
        g = a * p["x"]
        gs.append(g)
        p, s = adam_update(p, {"x": g}, s, lr=0.01, b1=0.8, b2=0.99, eps=1e-6)
        traj.append(p["x"])
    for i in range(3):
        onp.testing.assert_allclose([t[i] for t in traj], adam_oracle(1.0, [g[i] for g in gs], 0.01, 0.8, 0.99, 1e-6), rtol=1e-12)
    assert int(s["step"]) == 5


def test_updates_are_pure():
    p = {"W": onp.arange(6.0).reshape(2, 3), "b": onp.ones(2)}
    g = {"W": onp.ones((2, 3)), "b": onp.ones(2)}
    for init, update in [(rmsprop_init, rmsprop_update), (adam_init, adam_update)]:
        s = init(p)
        snapshot = ({k: v.copy() for k, v in p.items()}, {k: v.copy() for k, v in g.items()},
                    {k: (v.copy() if not isinstance(v, dict) else {j: w.copy() for j, w in v.items()}) for k, v in s.items()})
        update(p, g, s)
        for k in p:
            onp.testing.assert_array_equal(p[k], snapshot[0][k]); onp.testing.assert_array_equal(g[k], snapshot[1][k])
        for k, v in s.items():
            if isinstance(v, dict):
                for j in v: onp.testing.assert_array_equal(v[j], snapshot[2][k][j])
            else:
                onp.testing.assert_array_equal(v, snapshot[2][k])


@given(st.integers(0, 10_000), st.floats(0.1, 100.0))
def test_clip_by_global_norm(seed, max_norm):
    r = onp.random.default_rng(seed)
    grads = {"a": r.standard_normal((3, 2)) * r.uniform(0.01, 50), "b": r.standard_normal(4) * r.uniform(0.01, 50)}
    norm = math.sqrt(sum(float(x) ** 2 for g in grads.values() for x in g.ravel()))
    assert global_norm(grads) == pytest.approx(norm, rel=1e-12)
    clipped, n = clip_by_global_norm(grads, max_norm)
    assert n == pytest.approx(norm, rel=1e-12)
    assert global_norm(clipped) == pytest.approx(min(norm, max_norm), rel=1e-10)
    scale = min(1.0, max_norm / norm)
    for k in grads:                                               # direction kept
        onp.testing.assert_allclose(clipped[k], grads[k] * scale, rtol=1e-12)


def test_clip_by_global_norm_edge_cases():
    g = {"a": onp.array([3.0, 4.0])}
    assert clip_by_global_norm(g, 5.0)[0]["a"].tolist() == [3.0, 4.0]
    bad, n = clip_by_global_norm({"a": onp.array([1.0, onp.nan])}, 5.0)
    assert math.isnan(n) and onp.isnan(bad["a"]).all()
    with pytest.raises(ValueError, match="max_norm"):
        clip_by_global_norm(g, 0.0)


def test_state_round_trips_through_npz_and_resume_is_exact():
    r = onp.random.default_rng(0)
    params = {"W": r.standard_normal((3, 4)), "b": r.standard_normal(4)}
    grads = [{k: r.standard_normal(v.shape) for k, v in params.items()} for _ in range(6)]
    for opt in (get_optimiser("rmsprop", lr=1e-3, momentum=0.9, centered=True), get_optimiser("adam", lr=1e-3)):
        p, s = params, opt.init(params)
        for g in grads[:3]: p, s = opt.update(p, g, s)
        flat = {}
        for k, v in s.items():
            if isinstance(v, dict): flat.update({f"{k}/{j}": w for j, w in v.items()})
            else: flat[k] = v
        buf = io.BytesIO(); onp.savez(buf, **flat); buf.seek(0)
        with onp.load(buf, allow_pickle=False) as z: loaded = {k: z[k] for k in z.files}
        s2 = {}
        for k, v in loaded.items():
            if "/" in k: top, leaf = k.split("/", 1); s2.setdefault(top, {})[leaf] = v
            else: s2[k] = v
        p_a, s_a, p_b, s_b = p, s, {k: v.copy() for k, v in p.items()}, s2
        for g in grads[3:]:
            p_a, s_a = opt.update(p_a, g, s_a)
            p_b, s_b = opt.update(p_b, g, s_b)
        for k in params: assert p_a[k].tobytes() == p_b[k].tobytes()


def test_get_optimiser_validation():
    with pytest.raises(ValueError, match="name must be one of"): get_optimiser("sgd")
    with pytest.raises(ValueError, match="unknown hyperparameter"): get_optimiser("rmsprop", beta1=0.9)
    for bad in [dict(lr=0.0), dict(lr="1e-4"), dict(decay=1.0), dict(momentum=-0.1), dict(eps=-1.0), dict(initial_ms=-1.0)]:
        with pytest.raises(ValueError, match=list(bad)[0]): get_optimiser("rmsprop", **bad)
    with pytest.raises(ValueError, match="b2"): get_optimiser("adam", b2=1.5)
    opt = get_optimiser("rmsprop", lr=1e-4, initial_ms=0.0)
    assert float(opt.init({"x": onp.ones(2)})["ms"]["x"][0]) == 0.0
    with pytest.raises(ValueError, match=r"missing \['x'\]"):
        opt.update({"x": onp.ones(2)}, {"y": onp.ones(2)}, opt.init({"x": onp.ones(2)}))


@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_float32_parameters_stay_float32(name):
    "The optimiser's state takes the parameters' dtype, so a float32 model is not upcast by its first update."
    from dnc_lit.optim import get_optimiser
    opt = get_optimiser(name)
    p = {"w": onp.ones((2, 3), dtype=onp.float32), "b": onp.zeros(3, dtype=onp.float32)}
    g = {k: onp.full_like(v, 0.5) for k, v in p.items()}
    state = opt.init(p)
    for _ in range(2): p, state = opt.update(p, g, state)
    assert all(v.dtype == onp.float32 for v in p.values())
    assert all(a.dtype == onp.float32 for k, sub in state.items() if isinstance(sub, dict) for a in sub.values())
