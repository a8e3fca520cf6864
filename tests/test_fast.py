"""The fused primitives of `dnc_lit.fast` against the chapter versions they replace: values to 1e-10, gradients by
autograd (fused VJP vs autograd through the chapter code) and by central finite differences (fused VJP vs numbers),
on random inputs including tie-free usages, exact zeros (the all-zero start) and batches > 1. Not a benchmark."""
import dataclasses

import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import grad

from dnc_lit import access, addressing, allocation, controller, fast, interface, linkage, model
from dnc_lit.model import DNCConfig, init_params
from helpers import check_grad


def _flat(out):
    "Any nest of tuples/NamedTuples of arrays -> one flat array (works on autograd boxes)."
    if isinstance(out, (tuple, list)):
        return anp.concatenate([_flat(o) for o in out])
    return anp.ravel(out)


def _same(f_fast, f_ref, args, argnums, seed=0):
    "Values agree to 1e-10 and autograd gradients of a random projection agree to 1e-10."
    ya, yb = _flat(f_fast(*args)), _flat(f_ref(*args))
    onp.testing.assert_allclose(ya, yb, rtol=0, atol=1e-10)
    P = onp.random.default_rng(seed).standard_normal(ya.shape)
    for i in argnums:
        ga = grad(lambda *a: anp.sum(P * _flat(f_fast(*a))), i)(*args)
        gb = grad(lambda *a: anp.sum(P * _flat(f_ref(*a))), i)(*args)
        onp.testing.assert_allclose(ga, gb, rtol=1e-9, atol=1e-10, err_msg=f"gradient of argument {i}")


def _fd(f, args, argnums, seed=1):
    "Fused gradient against finite differences, through a random projection of the flattened output."
    P = onp.random.default_rng(seed).standard_normal(_flat(f(*args)).shape)
    check_grad(lambda *a: anp.sum(P * _flat(f(*a))), args, argnums)


rng = onp.random.default_rng(42)


@pytest.mark.parametrize("B,N,W,H", [(1, 5, 3, 1), (3, 6, 4, 2)])
def test_content_weighting(B, N, W, H):
    M, k, beta = rng.standard_normal((B, N, W)), rng.standard_normal((B, H, W)), 1 + 3 * rng.random((B, H))
    _same(fast.content_weighting, addressing.content_weighting, (M, k, beta), [0, 1, 2])
    _fd(fast.content_weighting, (M, k, beta), [0, 1, 2])
    Z = (onp.zeros((B, N, W)), onp.zeros((B, H, W)), onp.ones((B, H)))        # all-zero memory and keys
    _same(fast.content_weighting, addressing.content_weighting, Z, [0, 1, 2])
    assert onp.isfinite(grad(lambda m: anp.sum(fast.content_weighting(m, Z[1], Z[2]) ** 2))(Z[0])).all()


def _usages(B, N):
    "Tie-free random usages, plus rows with exact zeros (one, two, all), as at the start of a sequence."
    u = rng.random((B + 3, N)) * 0.98 + 0.01
    u[B, 2] = 0.0
    u[B + 1, [0, 3]] = 0.0
    u[B + 2] = 0.0
    return u


@pytest.mark.parametrize("B,N", [(1, 4), (3, 7)])
def test_allocation_weighting(B, N):
    u = _usages(B, N)
    _same(fast.allocation_weighting, allocation.allocation_weighting, (u,), [0])
    _fd(fast.allocation_weighting, (rng.random((B, N)) * 0.98 + 0.01,), [0])   # tie-free: the sort is locally constant


def test_excl_cumprod_bwd_has_no_division():
    x = onp.array([[0.0, 0.0, 0.5, 0.3], [0.0, 0.7, 0.2, 0.9]])
    g = rng.standard_normal(x.shape)
    expected = onp.zeros_like(x)
    for b in range(2):                                   # plain loops from the definition
        for j in range(4):
            for k in range(j + 1, 4):
                expected[b, j] += g[b, k] * onp.prod([x[b, i] for i in range(k) if i != j])
    onp.testing.assert_allclose(fast._excl_cumprod_bwd(x, g), expected, atol=1e-15)



def _excl_oracle(x, g):
    "sum_{k>j} g_k prod_{i<k, i!=j} x_i by plain loops (from the definition)."
    out = onp.zeros_like(x)
    for b in range(x.shape[0]):
        for j in range(x.shape[1]):
            for k in range(j + 1, x.shape[1]):
                out[b, j] += g[b, k] * onp.prod([x[b, i] for i in range(k) if i != j])
    return out


@pytest.mark.parametrize("tiny", [0.0, 1e-320, 1e-200, 1e-151, 1e-149, 1e-20])
def test_excl_cumprod_bwd_both_routes(tiny):
    """The division route (x_j >= TINY) and the product route (x_j < TINY) against the loop oracle: sorted and
    unsorted rows, tiny entries in some batch rows only, denormals and exact zeros, one or two of them."""
    x = rng.random((4, 7)) * 0.98 + 0.01
    x[0, 0] = tiny                                   # sorted-like: smallest first
    x[1, [1, 4]] = tiny                              # two tiny ones, not at the front
    x[2] = onp.sort(x[2]); x[2, :3] = tiny           # several at the front
    g = rng.standard_normal(x.shape)
    # atol: the division route's bound when a product underflows, 5e-324 / TINY ~ 5e-174 (the chapter's derivation)
    onp.testing.assert_allclose(fast._excl_cumprod_bwd(x, g), _excl_oracle(x, g), rtol=1e-12, atol=1e-170)
    onp.testing.assert_allclose(fast._excl_cumprod_bwd(x, g, fast._excl_cumprod(x)), _excl_oracle(x, g),
                                rtol=1e-12, atol=1e-170)


def test_prod_without():
    "prod_{k != i} T_k over the heads, by the division route and, with zeros or tiny factors, the product route."
    T = rng.random((3, 4, 5))
    for T_ in (T, onp.where(rng.random(T.shape) < 0.2, 0.0, T), onp.where(rng.random(T.shape) < 0.2, 1e-300, T)):
        expected = onp.array([[[onp.prod([T_[b, k, n] for k in range(4) if k != i]) for n in range(5)]
                               for i in range(4)] for b in range(3)])
        onp.testing.assert_allclose(fast._prod_without(T_, T_.prod(1)), expected, rtol=1e-12, atol=1e-300)


def test_fused_backward_runs_once(monkeypatch):
    "One gradient call runs the fused sequence's backward pass once, however many parameter arrays it returns."
    calls, plain = [], fast._unroll_bwd
    monkeypatch.setattr(fast, "_unroll_bwd", lambda *a, **k: calls.append(1) or plain(*a, **k))
    c = DNCConfig.tiny(num_layers=2, impl="fast")
    p, x = init_params(c, 0), rng.standard_normal((2, 3, c.input_size))
    g = grad(lambda p: anp.sum(fast.fused_unroll(p, x, c)[0] ** 2))(p)
    assert len(calls) == 1 and len(g) == 7

def _link_ref(L_prev, w_w, p_prev, w_r_prev):
    L = linkage.link_matrix(L_prev, w_w, p_prev)
    return (L, *linkage.directional_weightings(L, w_r_prev))


@pytest.mark.parametrize("B,N,R", [(1, 4, 1), (2, 5, 3)])
def test_link_and_directional(B, N, R):
    args = (rng.random((B, N, N)) / N, rng.dirichlet(onp.ones(N), B) * 0.9, rng.dirichlet(onp.ones(N), B) * 0.8,
            rng.dirichlet(onp.ones(N), (B, R)))
    _same(fast.link_and_directional, _link_ref, args, [0, 1, 2, 3])
    _fd(fast.link_and_directional, args, [0, 1, 2, 3])
    zeros = (onp.zeros((B, N, N)), onp.zeros((B, N)), onp.zeros((B, N)), onp.zeros((B, R, N)))
    _same(fast.link_and_directional, _link_ref, zeros, [0, 1, 2, 3])


@pytest.mark.parametrize("below", [False, True])
def test_lstm_layer(below):
    B, X, H = 3, 4, 5
    D = X + H + (H if below else 0)
    args = (rng.standard_normal((D, 4 * H)), rng.standard_normal(4 * H), rng.standard_normal((B, X)),
            rng.standard_normal((B, H)), rng.standard_normal((B, H))) + ((rng.standard_normal((B, H)),) if below else ())
    _same(fast.lstm_layer, controller.lstm_layer, args, range(len(args)))
    _fd(fast.lstm_layer, args, range(len(args)))


def test_parse_interface():
    R, W = 3, 4
    xi = 4 * rng.standard_normal((2, interface.interface_size(R, W)))
    f = lambda x: fast.parse_interface(x, R, W)
    _same(f, lambda x: interface.parse_interface(x, R, W), (xi,), [0])
    _fd(f, (xi,), [0])
    with pytest.raises(ValueError):
        fast.parse_interface(onp.zeros((2, 5)), R, W)


def _steps(mstep, parse, xis, B, N, W, R):
    "A few memory steps from the zero state (so exact zeros take part), outputs flattened."
    state, outs = access.initial_memory_state(B, N, W, R), []
    for t in range(xis.shape[0]):
        r, state = mstep(state, parse(xis[t], R, W))
        outs.append(anp.ravel(r))
    return anp.concatenate(outs + [anp.ravel(s) for s in state])


@pytest.mark.parametrize("B,N,W,R", [(1, 4, 3, 1), (2, 5, 3, 2)])
def test_memory_step(B, N, W, R):
    xis = rng.standard_normal((3, B, interface.interface_size(R, W)))
    f = lambda z: _steps(fast.memory_step, fast.parse_interface, z, B, N, W, R)
    _same(f, lambda z: _steps(access.memory_step, interface.parse_interface, z, B, N, W, R), (xis,), [0])
    _fd(f, (xis,), [0])


def test_memory_step_random_state():
    "One step from a random (non-zero) state: gradients w.r.t. every state array and interface field."
    B, N, W, R = 2, 5, 3, 2
    st = access.MemoryState(rng.standard_normal((B, N, W)), rng.random((B, N)), rng.dirichlet(onp.ones(N), B) * 0.9,
                            rng.dirichlet(onp.ones(N), B) * 0.8, rng.random((B, N, N)) / N, rng.dirichlet(onp.ones(N), (B, R)))
    it = interface.parse_interface(rng.standard_normal((B, interface.interface_size(R, W))), R, W)
    args = tuple(st) + tuple(it)
    ff = lambda *a: fast.memory_step(access.MemoryState(*a[:6]), interface.Interface(*a[6:]))
    fr = lambda *a: access.memory_step(access.MemoryState(*a[:6]), interface.Interface(*a[6:]))
    _same(ff, fr, args, range(16))
    _fd(ff, args, range(16))


REF = dict(impl="reference")   # the chapters' step: the oracle
CONFIGS = [DNCConfig.tiny(**REF), DNCConfig.tiny(num_layers=2, controller_grad_clip=0.05, **REF),
           DNCConfig.tiny(controller_grad_clip=None, **REF)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["tiny", "2-layers-clip", "no-clip"])
def test_fused_unroll_matches_reference(cfg):
    p, x = init_params(cfg, 3), rng.standard_normal((2, 4, cfg.input_size))
    P = rng.standard_normal((2, 4, cfg.output_size))
    fast_loss = lambda p, x: anp.sum(P * fast.fused_unroll(p, x, cfg)[0]) + anp.sum(fast.fused_unroll(p, x, cfg)[1].memory.link)
    ref_loss = lambda p, x: anp.sum(P * model._unroll(p, x, cfg)[0]) + anp.sum(model._unroll(p, x, cfg)[1].memory.link)
    onp.testing.assert_allclose(fast.fused_unroll(p, x, cfg)[0], model._unroll(p, x, cfg)[0], atol=1e-10)
    ga, gb = grad(fast_loss, (0, 1))(p, x), grad(ref_loss, (0, 1))(p, x)
    for k in p:
        onp.testing.assert_allclose(ga[0][k], gb[0][k], rtol=1e-9, atol=1e-10, err_msg=k)
    onp.testing.assert_allclose(ga[1], gb[1], rtol=1e-9, atol=1e-10)


def test_fused_unroll_finite_differences():
    cfg = DNCConfig.tiny(hidden_size=3, memory_size=4, word_size=2, num_reads=1, **REF)
    p, x = init_params(cfg, 0), rng.standard_normal((1, 3, cfg.input_size))
    P = rng.standard_normal((1, 3, cfg.output_size))
    names = sorted(p)
    f = lambda *arrays: anp.sum(P * fast.fused_unroll(dict(zip(names, arrays)), x, cfg)[0])
    check_grad(f, [p[k] for k in names])


def test_fast_step_and_switch():
    cfg = DNCConfig.tiny(**REF)
    p, x = init_params(cfg, 0), rng.standard_normal((2, 3, cfg.input_size))
    fcfg = dataclasses.replace(cfg, impl="fast")
    assert {"fast", "fast-step"} <= set(model.STEP_IMPLS) and "fast" in model.SEQUENCE_IMPLS
    assert DNCConfig.tiny().impl == "fast"                            # the default
    onp.testing.assert_allclose(model._unroll(p, x, dataclasses.replace(cfg, impl="fast-step"))[0],
                                model._unroll(p, x, cfg)[0], atol=1e-10)
    ref = model._unroll(p, x, cfg)[0]
    onp.testing.assert_allclose(model._unroll(p, x, fcfg)[0], ref, atol=1e-10)
    onp.testing.assert_allclose(fast.fast_unroll(p, x, cfg)[0], ref, atol=1e-10)
    y, st, tr = fast.fast_unroll(p, x, cfg, trace=True)          # the trace comes from the reference step
    onp.testing.assert_allclose(y, ref, atol=1e-10)
    assert "allocation" in tr


def test_feedforward_fast_step_matches_reference():
    cfg = DNCConfig.tiny(controller="feedforward", **REF)
    p, x = init_params(cfg, 0), rng.standard_normal((2, 3, cfg.input_size))
    f = lambda p: anp.sum(model._unroll(p, x, dataclasses.replace(cfg, impl="fast"))[0] ** 2)
    r = lambda p: anp.sum(model._unroll(p, x, cfg)[0] ** 2)
    onp.testing.assert_allclose(f(p), r(p), atol=1e-10)
    gf, gr = grad(f)(p), grad(r)(p)
    for k in p:
        onp.testing.assert_allclose(gf[k], gr[k], rtol=1e-9, atol=1e-10, err_msg=k)


def test_no_nan_from_zero_start():
    cfg = DNCConfig.tiny()
    p, x = init_params(cfg, 0), onp.zeros((2, 3, cfg.input_size))
    g = grad(lambda p: anp.sum(fast.fused_unroll(p, x, cfg)[0] ** 2))(p)
    assert all(onp.isfinite(v).all() for v in g.values())


def test_batch_independence():
    cfg = DNCConfig.tiny()
    p, x = init_params(cfg, 0), rng.standard_normal((3, 4, cfg.input_size))
    whole = fast.fused_unroll(p, x, cfg)[0]
    for b in range(3):
        onp.testing.assert_allclose(fast.fused_unroll(p, x[b:b + 1], cfg)[0][0], whole[b], atol=1e-12)


def test_work_buffers_not_shared_with_results():
    """The backward pass reuses work buffers between calls and between layers: every gradient must match the reference
    path's, must not change when later calls (same sizes, then larger) reuse the buffers, and must not share memory."""
    cfg = DNCConfig.tiny(num_layers=2, **REF)
    p = init_params(cfg, 0)
    loss = lambda p, x: anp.sum(fast.fused_unroll(p, x, cfg)[0] ** 2)
    ref = lambda p, x: anp.sum(model._unroll(p, x, cfg)[0] ** 2)
    x1, x2, x3 = (rng.standard_normal(s + (cfg.input_size,)) for s in ((2, 5), (2, 5), (3, 7)))
    g1 = grad(loss, (0, 1))(p, x1)
    kept = ({k: v.copy() for k, v in g1[0].items()}, g1[1].copy())
    later = [grad(loss, (0, 1))(p, x) for x in (x2, x3)]
    for (g, x) in zip([g1] + later, (x1, x2, x3)):
        r = grad(ref, (0, 1))(p, x)
        for k in p:
            onp.testing.assert_allclose(g[0][k], r[0][k], rtol=1e-9, atol=1e-10, err_msg=k)
        onp.testing.assert_allclose(g[1], r[1], rtol=1e-9, atol=1e-10)
    for k in p:                                                       # the first call's results, untouched
        onp.testing.assert_array_equal(g1[0][k], kept[0][k], err_msg=k)
    onp.testing.assert_array_equal(g1[1], kept[1])
    bufs = list(fast._WORK.bufs.values())
    assert bufs
    for g in [g1] + later:
        for a in list(g[0].values()) + [g[1]]:
            assert not any(onp.shares_memory(a, b) for b in bufs)


# ---------------------------------------------------------------- float32 (DNCConfig.dtype="float32"): opt-in
F32 = dict(impl="fast", dtype="float32")
SMALL = {"a-like": dict(hidden_size=16, memory_size=16, word_size=8, num_reads=2, input_size=5, output_size=4, B=1),
         "b-like": dict(hidden_size=16, memory_size=8, word_size=4, num_reads=3, input_size=6, output_size=5, B=4)}


def _close32(a, b, what):
    "float32 result `a` against float64 `b`: relative 1e-4, scaled by the array's largest entry for entries near 0."
    assert a.dtype == onp.float32, f"{what}: dtype {a.dtype}"
    onp.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * max(onp.abs(b).max(), 1e-30), err_msg=what)


def _random_state(B, c):
    """A random valid state (h, s, M, u, w^w, p, L, w^r, r). From the all-zero state the untouched slots have exactly
    equal usages, and float32 rounding breaks those ties differently from float64 (another, equivalent slot is
    allocated): values then agree only up to a permutation of slots. Distinct random usages avoid that."""
    N, L, H, R, W = c.memory_size, c.num_layers, c.hidden_size, c.num_reads, c.word_size
    simplex = lambda *shape: 0.9 * rng.dirichlet(onp.ones(N + 1), shape)[..., :N]
    link = rng.random((B, N, N)) / N * (1 - onp.eye(N))
    return [rng.standard_normal((B, L, H)) * 0.5, rng.standard_normal((B, L, H)) * 0.5,
            rng.standard_normal((B, N, W)), rng.random((B, N)), simplex(B), simplex(B), link, simplex(B, R),
            rng.standard_normal((B, R, W))]


@pytest.mark.parametrize("name", list(SMALL))
def test_float32_fused_unroll_agrees_with_float64_reference(name):
    """Outputs, final state and the gradients w.r.t. params, inputs and the initial state: float32 from the fused
    sequence, every returned array float32, all within float32 tolerance of the float64 reference on the same values."""
    sizes = dict(SMALL[name]); B = sizes.pop("B")
    c32, c64 = DNCConfig(**sizes, **F32), DNCConfig(**sizes, **REF)
    p32 = init_params(c32, 7)
    assert all(v.dtype == onp.float32 for v in p32.values())
    p64 = {k: v.astype(onp.float64) for k, v in p32.items()}
    x32 = rng.standard_normal((B, 6, c32.input_size)).astype(onp.float32)
    s32 = model.initial_state(c32, B)
    assert all(a.dtype == onp.float32 for a in [*s32.controller, *s32.memory, s32.read_vectors])
    leaves32 = [a.astype(onp.float32) for a in _random_state(B, c32)]   # a random state: no tied usages (below)
    P = rng.standard_normal((B, 6, c32.output_size))               # float64 on purpose: the VJP must not upcast

    def run(unroll, c, p, x, leaves):
        st = model.DNCState(controller.LSTMState(*leaves[:2]), access.MemoryState(*leaves[2:8]), leaves[8])
        y, final = unroll(p, x, c, st)
        return y, [*final.controller, *final.memory, final.read_vectors]

    def loss(unroll, c):
        def f(p, x, leaves):
            y, fin = run(unroll, c, p, x, leaves)
            return anp.sum(P * y) + anp.sum(fin[6]) + anp.sum(fin[2] ** 2)      # outputs, link, memory
        return f

    y32, fin32 = run(fast.fused_unroll, c32, p32, x32, leaves32)
    y64, fin64 = run(model._unroll, c64, p64, x32.astype(onp.float64), [a.astype(onp.float64) for a in leaves32])
    _close32(y32, y64, "outputs")
    for i, (a, b) in enumerate(zip(fin32, fin64)): _close32(a, b, f"final state leaf {i}")
    # through the validated entry point too: inputs cast to float32 there
    _close32(model.unroll(p32, x32.astype(onp.float64), c32)[0], model.unroll(p64, x32, c64)[0], "unroll")
    g32 = grad(loss(fast.fused_unroll, c32), (0, 1, 2))(p32, x32, leaves32)
    g64 = grad(loss(model._unroll, c64), (0, 1, 2))(p64, x32.astype(onp.float64), [a.astype(onp.float64) for a in leaves32])
    for k in p32: _close32(g32[0][k], g64[0][k], f"gradient of {k}")
    _close32(g32[1], g64[1], "gradient of the inputs")
    for i, (a, b) in enumerate(zip(g32[2], g64[2])): _close32(a, b, f"gradient of initial state leaf {i}")


def test_float32_excl_cumprod_and_prod_without():
    """The skip-one-factor products in float32: tau (`_tiny`) is a positive float32, both routes stay float32,
    agree with the float64 loop oracle to float32 rounding and give no NaN at zeros, float32 denormals or tiny factors."""
    tau = fast._tiny(onp.dtype(onp.float32))
    assert onp.float32(tau) > 0 and fast._tiny(onp.dtype(onp.float64)) == fast.TINY
    for tiny in (0.0, 1e-42, 1e-25, 1e-18, 1e-5):
        x = (rng.random((4, 7)) * 0.98 + 0.01).astype(onp.float32)
        x[0, 0] = tiny; x[1, [1, 4]] = tiny
        g = rng.standard_normal(x.shape).astype(onp.float32)
        out = fast._excl_cumprod_bwd(x, g)
        assert out.dtype == onp.float32 and onp.isfinite(out).all()
        onp.testing.assert_allclose(out, _excl_oracle(x.astype(onp.float64), g.astype(onp.float64)), rtol=1e-4, atol=1e-6)
        T = onp.where(rng.random((3, 4, 5)) < 0.2, onp.float32(tiny), rng.random((3, 4, 5))).astype(onp.float32)
        pw = fast._prod_without(T, T.prod(1))
        expected = onp.prod(T.astype(onp.float64)[:, None].repeat(4, 1), axis=2, where=~onp.eye(4, dtype=bool)[None, :, :, None])
        assert pw.dtype == onp.float32
        onp.testing.assert_allclose(pw, expected, rtol=1e-5, atol=1e-6)


def test_float32_only_where_the_fused_sequence_runs():
    "dtype='float32' elsewhere raises a ValueError naming dtype; the float64 default keeps float64 everywhere."
    for options in (dict(impl="reference"), dict(impl="fast-step"), dict(controller="feedforward"),
                    dict(clip_value=20.0), dict(link_sparsity=2)):
        with pytest.raises(ValueError, match="dtype"):
            DNCConfig.tiny(dtype="float32", **options)
    with pytest.raises(ValueError, match="DNCConfig.dtype must be one of"):
        DNCConfig.tiny(dtype="float16")
    assert DNCConfig.tiny(dtype=onp.float32).dtype == "float32"
    c32 = DNCConfig.tiny(dtype="float32")
    with pytest.raises(ValueError, match="dtype"):
        model.unroll(init_params(c32, 0), onp.zeros((1, 2, 4)), c32, trace=True)
    c = DNCConfig.tiny()
    assert c.dtype == "float64" and all(v.dtype == onp.float64 for v in init_params(c, 0).values())
    y, st = model.unroll(init_params(c, 0), onp.zeros((1, 2, 4), onp.float32), c)
    assert y.dtype == onp.float64 and all(a.dtype == onp.float64 for a in (*st.memory, *st.controller, st.read_vectors))


def test_fast_does_not_import_the_model():
    "The fast path takes what it needs from access, controller and interface; the model imports it, not back."
    import ast, inspect
    def imports(mod):
        tree = ast.parse(inspect.getsource(mod))
        return ({"." * n.level + (n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
                | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names})
    assert not any(m.split(".")[-1] == "model" for m in imports(fast)), imports(fast)
    assert any(m.split(".")[-1] == "fast" for m in imports(model))
    assert fast._MODEL["reference"] is model.dnc_step and fast._MODEL["initial_state"] is model.initial_state


# ---------------------------------------------------------------- the paper's head count and word size, deep LSTM
PAPER_HEADS = dict(input_size=7, output_size=6, hidden_size=12, memory_size=16, word_size=50, num_reads=5)


@pytest.mark.parametrize("layers", [1, 3])
def test_fused_unroll_paper_heads_word_size_and_layers(layers):
    """R = 5 read heads and W = 50 (the paper's graph tasks), one and three LSTM layers: the fused sequence against the
    chapters' code (outputs, final link, gradients w.r.t. every parameter and the inputs, with an active gradient clip),
    and without the clip (which changes the backward pass only) against central differences along a random direction
    in all the parameters at once (the full Jacobian is large)."""
    cfg = DNCConfig(**PAPER_HEADS, num_layers=layers, controller_grad_clip=0.5, **REF)
    p, x = init_params(cfg, 5), rng.standard_normal((2, 5, cfg.input_size))
    P = rng.standard_normal((2, 5, cfg.output_size))
    def loss(unroll):
        def f(p, x):
            y, st = unroll(p, x, cfg)
            return anp.sum(P * y) + anp.sum(st.memory.link) + anp.sum(st.read_vectors ** 2)
        return f
    onp.testing.assert_allclose(fast.fused_unroll(p, x, cfg)[0], model._unroll(p, x, cfg)[0], atol=1e-10)
    ga, gb = grad(loss(fast.fused_unroll), (0, 1))(p, x), grad(loss(model._unroll), (0, 1))(p, x)
    for k in p:
        onp.testing.assert_allclose(ga[0][k], gb[0][k], rtol=1e-9, atol=1e-10, err_msg=k)
    onp.testing.assert_allclose(ga[1], gb[1], rtol=1e-9, atol=1e-10)
    cfg = dataclasses.replace(cfg, controller_grad_clip=None)
    g = grad(loss(fast.fused_unroll))(p, x)
    V = {k: rng.standard_normal(v.shape) for k, v in p.items()}
    shifted = lambda e: loss(fast.fused_unroll)({k: p[k] + e * V[k] for k in p}, x)
    eps = 1e-6
    numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
    analytic = sum(float(onp.sum(g[k] * V[k])) for k in p)
    assert abs(numeric - analytic) <= 1e-5 * max(1.0, abs(analytic)), (numeric, analytic)


def test_float32_paper_heads_word_size_and_layers():
    "The same machine in float32 (two layers): within float32 tolerance of the float64 reference, every array float32."
    c32 = DNCConfig(**PAPER_HEADS, num_layers=2, **F32)
    c64 = DNCConfig(**PAPER_HEADS, num_layers=2, **REF)
    p32 = init_params(c32, 1)
    p64 = {k: v.astype(onp.float64) for k, v in p32.items()}
    x = rng.standard_normal((3, 4, c32.input_size)).astype(onp.float32)
    leaves = [a.astype(onp.float32) for a in _random_state(3, c32)]
    st = lambda ls, dt: model.DNCState(controller.LSTMState(*[a.astype(dt) for a in ls[:2]]),
                                       access.MemoryState(*[a.astype(dt) for a in ls[2:8]]), ls[8].astype(dt))
    f = lambda unroll, c, dt: lambda p: anp.sum(unroll(p, x.astype(dt), c, st(leaves, dt))[0] ** 2)
    _close32(fast.fused_unroll(p32, x, c32, st(leaves, onp.float32))[0],
             model._unroll(p64, x.astype(onp.float64), c64, st(leaves, onp.float64))[0], "outputs")
    g32 = grad(f(fast.fused_unroll, c32, onp.float32))(p32)
    g64 = grad(f(model._unroll, c64, onp.float64))(p64)
    for k in p32: _close32(g32[k], g64[k], f"gradient of {k}")
