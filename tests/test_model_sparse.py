"""The whole machine with the paper's sparse link matrix: DNC(..., link_sparsity=K)."""
import numpy as onp
import pytest
from autograd import grad
import autograd.numpy as np

from dnc_lit.model import DNC, DNCConfig, initial_state
from dnc_lit.sparse_link import SparseLink, to_dense
from helpers import numerical_grad


def _machine(K, **kw):
    return DNC.from_config(DNCConfig.tiny(link_sparsity=K, **kw))


@pytest.mark.parametrize("K", [1, 2, 3])
def test_state_and_trace_hold_no_dense_link(K):
    m = _machine(K)
    p = m.init(seed=0)
    x = onp.random.default_rng(K).standard_normal((2, 5, 4))
    y, state, trace = m.unroll(p, x, trace=True)
    assert isinstance(state.memory.link, SparseLink)
    assert state.memory.link.value.shape == (2, 6, K) and state.memory.link.index.shape == (2, 6, K)
    assert trace["link"].shape == (5, 2, 6, K)
    for t in range(5):                                    # the paper's invariants, every step
        L = to_dense(SparseLink(trace["link_index"][t], trace["link"][t]))
        assert (onp.count_nonzero(L, axis=-1) <= K).all() and (onp.count_nonzero(L, axis=-2) <= K).all()
        assert (L >= 0).all() and (L <= 1 + 1e-12).all()
        assert onp.allclose(onp.einsum("bii->bi", L), 0)
        assert (L.sum(-1) <= 1 + 1e-9).all() and (L.sum(-2) <= 1 + 1e-9).all()
    assert onp.isfinite(y).all()


def test_sparse_differs_from_dense_only_through_the_link():
    "Same parameters: before the first link can be followed the two machines agree exactly."
    dense, sp = DNC.from_config(DNCConfig.tiny()), _machine(2)
    p = dense.init(seed=1)
    x = onp.random.default_rng(1).standard_normal((1, 4, 4))
    yd, ys = dense.apply(p, x), sp.apply(p, x)
    # step 1: L_0 = 0 for both, so the forward/backward weightings are zero and nothing differs
    assert onp.allclose(yd[:, 0], ys[:, 0], atol=1e-12)
    assert onp.isfinite(ys).all()


def test_gradient_matches_finite_differences():
    m = _machine(2, hidden_size=4, memory_size=4, word_size=3)
    p = m.init(seed=2)
    x = onp.random.default_rng(2).standard_normal((1, 4, 4))
    proj = onp.random.default_rng(3).standard_normal((1, 4, 3))
    _check_param_grads(lambda p: np.sum(m.apply(p, x) * proj), p, onp.random.default_rng(4), 4)


def _check_param_grads(loss, p, rng, per_array):
    "autograd's gradient of `loss` against central differences, `per_array` random entries of each array."
    g = grad(loss)(p)
    for k in sorted(p):
        flat = p[k].ravel()
        for j in rng.choice(flat.size, size=min(per_array, flat.size), replace=False):
            def f(v, k=k, j=j):
                a = p[k].copy().ravel(); a[j] = v
                return loss({**p, k: a.reshape(p[k].shape)})
            num = numerical_grad(f, [onp.array(flat[j])], 0)
            assert onp.isclose(g[k].ravel()[j], num, rtol=1e-4, atol=1e-7), (k, j, g[k].ravel()[j], num)


def test_batch_independence():
    m = _machine(3)
    p = m.init(seed=5)
    x = onp.random.default_rng(5).standard_normal((3, 5, 4))
    y = m.apply(p, x)
    for b in range(3):
        assert onp.allclose(y[b], m.apply(p, x[b:b + 1])[0], atol=1e-12)


@pytest.mark.parametrize("bad", [-1, -8, 2.5, True, "8"])
def test_bad_link_sparsity_is_named(bad):
    with pytest.raises(ValueError, match="link_sparsity"):
        DNCConfig.tiny(link_sparsity=bad)


def test_dense_state_rejected_by_sparse_machine():
    m = _machine(2)
    dense_state = initial_state(DNCConfig.tiny(), 1)
    with pytest.raises(ValueError, match="SparseLink"):
        m.apply(m.init(0), onp.zeros((1, 2, 4)), state=dense_state)


def test_no_links_reads_by_content_only():
    "K = 0 keeps no links: empty link arrays, zero forward and backward weightings, reads = π[2] c^r."
    m = _machine(0)
    p = m.init(seed=6)
    x = onp.random.default_rng(6).standard_normal((2, 7, 4))
    y, state, trace = m.unroll(p, x, trace=True)
    assert state.memory.link.value.shape == (2, 6, 0) and state.memory.link.index.shape == (2, 6, 0)
    assert not trace["forward"].any() and not trace["backward"].any()
    assert trace["forward"].dtype == onp.float64 and trace["backward"].dtype == onp.float64
    assert onp.allclose(trace["read_weights"], trace["read_modes"][..., 1:2] * trace["read_content"],
                        rtol=0, atol=1e-15)
    assert onp.isfinite(y).all()


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_no_links_is_the_dense_machine_with_its_links_removed(monkeypatch, controller):
    "K = 0 computes what the reference dense machine computes when its link update returns zeros."
    import dnc_lit.access as access
    x = onp.random.default_rng(7).standard_normal((2, 6, 4))
    none = _machine(0, controller=controller)
    p = none.init(seed=7)
    y_none = none.apply(p, x)
    dense = DNC.from_config(DNCConfig.tiny(controller=controller, impl="reference"))
    y_dense = dense.apply(p, x)
    monkeypatch.setattr(access, "link_matrix", lambda L_prev, w_w, p_prev: np.zeros(np.shape(L_prev)))
    y_cut = dense.apply(p, x)
    assert onp.allclose(y_none, y_cut, rtol=0, atol=1e-12)
    assert not onp.allclose(y_none, y_dense, rtol=0, atol=1e-6)     # the links did matter


def test_no_links_gradient_matches_finite_differences():
    "Every parameter array, a few random entries each, against central differences."
    m = _machine(0, controller_grad_clip=None)
    p = m.init(seed=8)
    x = onp.random.default_rng(8).standard_normal((1, 5, 4))
    proj = onp.random.default_rng(9).standard_normal((1, 5, 3))
    _check_param_grads(lambda q: np.sum(m.apply(q, x) * proj), p, onp.random.default_rng(10), 3)
