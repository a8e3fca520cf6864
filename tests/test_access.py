"""One whole time step of memory (`dnc_lit.access`): a plain-loop oracle written from the index notation,
the paper's invariants over multi-step runs, finite-difference gradients through five unrolled steps,
batch independence, NaN safety at the all-zero start, and gates at exactly 0 and 1."""
import math

import autograd.numpy as anp
import numpy as onp
import pytest
from autograd import grad
from hypothesis import given, strategies as st

from dnc_lit.access import MemoryState, initial_memory_state, memory_step, memory_step_details
from dnc_lit.interface import interface_size, parse_interface
from helpers import check_grad, random_projection

# ---------------------------------------------------------------------------------------------------------
# The oracle: one memory step in plain Python loops over indices, from the equations of the Methods as
# written in the reference notes. It calls nothing in dnc_lit. The numerical choices the paper leaves open
# are the book's stated ones: chapter "Content-based addressing" adds NORM_EPS inside each norm's square
# root; chapter "Dynamic memory allocation" uses no clamp on usage and breaks ties by the lower index.
NORM_EPS = 1e-6    # cosine similarity: |x| = sqrt(sum_k x_k^2 + NORM_EPS)


def o_norm(x):
    return math.sqrt(sum(xk * xk for xk in x) + NORM_EPS)


def o_content(M, k, beta):
    "C(M, k, beta)[i] = exp(D(k, M[i]) beta) / sum_j exp(D(k, M[j]) beta); M a list of N rows."
    D = [sum(kk * mk for kk, mk in zip(k, row)) / (o_norm(k) * o_norm(row)) for row in M]
    z = [d * beta for d in D]
    m = max(z)
    e = [math.exp(zi - m) for zi in z]
    return [ei / sum(e) for ei in e]


def o_allocation(u):
    "a[phi[j]] = (1 - u[phi[j]]) prod_{i<j} u[phi[i]], phi = slots by ascending usage."
    N = len(u)
    phi = sorted(range(N), key=lambda i: u[i])          # Python's sort is stable: ties keep index order
    a = [0.0] * N
    prod = 1.0
    for j in range(N):
        a[phi[j]] = (1 - u[phi[j]]) * prod
        prod *= u[phi[j]]
    return a


def oracle_step(state, xi):
    """One memory step for ONE batch element, in loops. state: dict of nested lists (M N×W, u N, ww N, p N,
    L N×N, wr R×N); xi: dict of the squashed interface of that element. Returns (reads R×W, new state)."""
    M, u_prev, ww_prev, p_prev, L_prev, wr_prev = (state[k] for k in ("M", "u", "ww", "p", "L", "wr"))
    N, W, R = len(M), len(M[0]), len(wr_prev)
    # 1. retention and usage (previous weightings, current free gates)
    psi = [1.0] * N
    for i in range(R):
        for n in range(N):
            psi[n] *= 1 - xi["f"][i] * wr_prev[i][n]
    u = [(u_prev[n] + ww_prev[n] - u_prev[n] * ww_prev[n]) * psi[n] for n in range(N)]
    # 2. allocation
    a = o_allocation(u)
    # 3. write content weighting on M_{t-1}, write weighting
    cw = o_content(M, xi["kw"], xi["bw"])
    ww = [xi["gw"] * (xi["ga"] * a[n] + (1 - xi["ga"]) * cw[n]) for n in range(N)]
    # 4. erase and write
    Mt = [[M[n][w] * (1 - ww[n] * xi["e"][w]) + ww[n] * xi["v"][w] for w in range(W)] for n in range(N)]
    # 5. link matrix from p_{t-1}, then precedence
    L = [[0.0 if i == j else (1 - ww[i] - ww[j]) * L_prev[i][j] + ww[i] * p_prev[j] for j in range(N)]
         for i in range(N)]
    p = [(1 - sum(ww)) * p_prev[n] + ww[n] for n in range(N)]
    # 6. forward f = L w^r_{t-1}, backward b = L^T w^r_{t-1}; read content on M_t; read weighting
    wr = []
    for i in range(R):
        f = [sum(L[n][m] * wr_prev[i][m] for m in range(N)) for n in range(N)]
        b = [sum(L[m][n] * wr_prev[i][m] for m in range(N)) for n in range(N)]
        c = o_content(Mt, xi["kr"][i], xi["br"][i])
        pi = xi["pi"][i]
        wr.append([pi[0] * b[n] + pi[1] * c[n] + pi[2] * f[n] for n in range(N)])
    # 7. read vectors r^i = M_t^T w^{r,i}
    reads = [[sum(Mt[n][w] * wr[i][n] for n in range(N)) for w in range(W)] for i in range(R)]
    details = dict(retention=psi, allocation=a, write_content=cw)
    return reads, dict(M=Mt, u=u, ww=ww, p=p, L=L, wr=wr), details


def to_oracle_state(s, b):
    "Batch element b of a MemoryState, as the oracle's dict of lists."
    return dict(M=s.memory[b].tolist(), u=s.usage[b].tolist(), ww=s.write_weights[b].tolist(),
                p=s.precedence[b].tolist(), L=s.link[b].tolist(), wr=s.read_weights[b].tolist())


def to_oracle_interface(it, b):
    "Batch element b of an Interface, as the oracle's dict of lists and floats."
    return dict(kr=it.read_keys[b].tolist(), br=it.read_strengths[b].tolist(), kw=it.write_key[b].tolist(),
                bw=float(it.write_strength[b]), e=it.erase[b].tolist(), v=it.write_vector[b].tolist(),
                f=it.free_gates[b].tolist(), ga=float(it.allocation_gate[b]), gw=float(it.write_gate[b]),
                pi=it.read_modes[b].tolist())


# ---------------------------------------------------------------------------------------------------------
# Random inputs (built with numpy only)

def random_state(rng, B, N, W, R):
    """A random state that could have been reached from the zero start: usage in [0,1], weightings in Δ_N,
    L with zero diagonal, row sums ≤ 1, sum(p) ≤ 1 and, for every slot j, column sum + p[j] ≤ 1. (That last bound is
    what the link update preserves: column j after the step plus p_t[j] is (1 - w[j]) (column j + p_{t-1}[j])
    + w[j] - sum_i w[i] L_{t-1}[i, j] ≤ 1. Column sums ≤ 1 alone are not preserved.)"""
    def delta(shape):
        x = rng.dirichlet(onp.ones(N), size=shape)                    # (..., N) on the simplex
        return x * rng.uniform(0.2, 1.0, size=shape + (1,))           # scaled into the corner of the cube
    L = rng.uniform(size=(B, N, N)) * (1 - onp.eye(N))
    p = rng.uniform(size=(B, N))
    scale = onp.max([(L.sum(1) + p).max(-1), L.sum(2).max(-1), p.sum(-1)], axis=0) * rng.uniform(1.0, 2.0, size=B)
    L, p = L / scale[:, None, None], p / scale[:, None]
    return MemoryState(memory=rng.standard_normal((B, N, W)), usage=rng.uniform(size=(B, N)),
                       write_weights=delta((B,)), precedence=p, link=L, read_weights=delta((B, R)))


def random_xi(rng, B, R, W, scale=1.0):
    "A raw interface vector (B, |ξ|), as the controller would emit it."
    return scale * rng.standard_normal((B, interface_size(R, W)))


def unroll(state, xis, R, W):
    "Run memory_step over raw interface vectors xis (T, B, |ξ|); returns the read vectors and states per step."
    reads, states = [], []
    for xi in xis:
        r, state = memory_step(state, parse_interface(xi, R, W))
        reads.append(r); states.append(state)
    return reads, states


# ---------------------------------------------------------------------------------------------------------
# The oracle agrees, step after step

@pytest.mark.parametrize("B,N,W,R", [(1, 4, 3, 1), (2, 5, 3, 2), (3, 3, 2, 3), (2, 6, 4, 2), (1, 1, 2, 1)])
def test_oracle_several_steps(B, N, W, R):
    rng = onp.random.default_rng(100 * N + 10 * W + R)
    state = random_state(rng, B, N, W, R)
    ostates = [to_oracle_state(state, b) for b in range(B)]
    for t in range(5):
        it = parse_interface(random_xi(rng, B, R, W, scale=2.0), R, W)
        r, state, d = memory_step_details(state, it)
        for b in range(B):
            o_r, ostates[b], o_d = oracle_step(ostates[b], to_oracle_interface(it, b))
            ctx = f"step {t}, batch element {b}"
            onp.testing.assert_allclose(r[b], o_r, rtol=0, atol=1e-8, err_msg=f"read vectors, {ctx}")
            for k, name in [("M", "memory"), ("u", "usage"), ("ww", "write_weights"), ("p", "precedence"),
                            ("L", "link"), ("wr", "read_weights")]:
                onp.testing.assert_allclose(getattr(state, name)[b], ostates[b][k], rtol=0, atol=1e-8,
                                            err_msg=f"{name}, {ctx}")
            for k in ("retention", "allocation", "write_content"):
                onp.testing.assert_allclose(d[k][b], o_d[k], rtol=0, atol=1e-8, err_msg=f"details[{k!r}], {ctx}")
            # the implementation's state carries on from its own output, the oracle's from its own


def test_oracle_from_zero_state_with_exact_gates():
    "The oracle also agrees from the all-zero start, with gates at exactly 0 and 1 and one-hot read modes."
    B, N, W, R = 2, 4, 3, 2
    rng = onp.random.default_rng(7)
    state = initial_memory_state(B, N, W, R)
    ostates = [to_oracle_state(state, b) for b in range(B)]
    for t in range(6):
        it = parse_interface(random_xi(rng, B, R, W), R, W)
        it = it._replace(free_gates=rng.integers(0, 2, (B, R)).astype(float),
                         allocation_gate=rng.integers(0, 2, B).astype(float),
                         write_gate=rng.integers(0, 2, B).astype(float), erase=rng.integers(0, 2, (B, W)).astype(float),
                         read_modes=onp.eye(3)[rng.integers(0, 3, (B, R))])
        r, state = memory_step(state, it)
        for b in range(B):
            o_r, ostates[b], _ = oracle_step(ostates[b], to_oracle_interface(it, b))
            onp.testing.assert_allclose(r[b], o_r, rtol=0, atol=1e-8)
            onp.testing.assert_allclose(state.link[b], ostates[b]["L"], rtol=0, atol=1e-8)
            onp.testing.assert_allclose(state.usage[b], ostates[b]["u"], rtol=0, atol=1e-8)


def test_memory_step_is_memory_step_details():
    rng = onp.random.default_rng(1)
    state, it = random_state(rng, 2, 4, 3, 2), parse_interface(random_xi(rng, 2, 2, 3), 2, 3)
    r1, s1 = memory_step(state, it)
    r2, s2, d = memory_step_details(state, it)
    onp.testing.assert_array_equal(r1, r2)
    for a, b in zip(s1, s2): onp.testing.assert_array_equal(a, b)
    assert set(d) == {"retention", "allocation", "write_content", "read_content", "forward", "backward"}
    # forward/backward and read content: the paper's formulas from the returned pieces
    onp.testing.assert_allclose(d["forward"], onp.einsum("bij,brj->bri", s2.link, state.read_weights), atol=1e-12)
    onp.testing.assert_allclose(d["backward"], onp.einsum("bji,brj->bri", s2.link, state.read_weights), atol=1e-12)
    onp.testing.assert_allclose(s2.read_weights, it.read_modes[..., 0:1] * d["backward"]
                                + it.read_modes[..., 1:2] * d["read_content"] + it.read_modes[..., 2:3] * d["forward"],
                                atol=1e-12)


# ---------------------------------------------------------------------------------------------------------
# The paper's invariants over multi-step runs

def check_invariants(s, tol=1e-9):
    assert onp.all(s.usage >= -tol) and onp.all(s.usage <= 1 + tol), "usage outside [0, 1]"
    for name in ("write_weights", "precedence", "read_weights"):
        w = getattr(s, name)
        assert onp.all(w >= -tol), f"{name} negative"
        assert onp.all(w.sum(-1) <= 1 + tol), f"{name} sums to more than 1"
    L = s.link
    assert onp.all(L >= -tol) and onp.all(L <= 1 + tol), "link outside [0, 1]"
    assert onp.all(onp.diagonal(L, axis1=1, axis2=2) == 0), "link diagonal not zero"
    assert onp.all(L.sum(1) <= 1 + tol) and onp.all(L.sum(2) <= 1 + tol), "link row or column sum above 1"
    assert onp.all(L.sum(1) + s.precedence <= 1 + tol), "link column sum plus precedence above 1"
    assert all(onp.all(onp.isfinite(a)) for a in s), "non-finite state"


@given(B=st.integers(1, 3), N=st.integers(1, 6), W=st.integers(1, 4), R=st.integers(1, 3), T=st.integers(1, 8),
       scale=st.sampled_from([0.1, 1.0, 5.0, 40.0]), seed=st.integers(0, 2**32 - 1), zero_start=st.booleans())
def test_invariants_over_runs(B, N, W, R, T, scale, seed, zero_start):
    rng = onp.random.default_rng(seed)
    s = initial_memory_state(B, N, W, R) if zero_start else random_state(rng, B, N, W, R)
    for t in range(T):
        r, s = memory_step(s, parse_interface(random_xi(rng, B, R, W, scale), R, W))
        assert r.shape == (B, R, W)
        check_invariants(s)


# ---------------------------------------------------------------------------------------------------------
# Gradients through five unrolled steps, against central differences

def make_loss(R, W, shapes, seed=3):
    "A scalar of 5 unrolled steps: fixed random projections of every read vector and of the final state."
    prng = onp.random.default_rng(seed)
    T, B, N = shapes["T"], shapes["B"], shapes["N"]
    P_r = random_projection(prng, (T, B, R, W))
    P_s = [random_projection(prng, a) for a in ((B, N, W), (B, N), (B, N), (B, N), (B, N, N), (B, R, N))]

    def loss(xis, M0, u0, ww0, p0, L0, wr0):
        s, total = MemoryState(M0, u0, ww0, p0, L0, wr0), 0.0
        for t in range(T):
            r, s = memory_step(s, parse_interface(xis[t], R, W))
            total = total + anp.sum(P_r[t] * r)
        for P, a in zip(P_s, s):
            total = total + anp.sum(P * a)
        return total
    return loss


@pytest.mark.parametrize("B,N,W,R", [(1, 3, 2, 1), (2, 3, 2, 2)])
def test_gradient_five_steps(B, N, W, R):
    rng = onp.random.default_rng(11 + B + R)
    T = 5
    s0 = random_state(rng, B, N, W, R)
    xis = random_xi(rng, T * B, R, W).reshape(T, B, -1)
    loss = make_loss(R, W, dict(T=T, B=B, N=N))
    check_grad(loss, [xis, *s0], argnums=range(7), rtol=1e-5, atol=1e-7, name=f"memory_step x5 (B={B},R={R})")


# ---------------------------------------------------------------------------------------------------------
# Batch independence

def test_batch_independence():
    rng = onp.random.default_rng(5)
    B, N, W, R, T = 3, 5, 3, 2, 4
    s = random_state(rng, B, N, W, R)
    xis = random_xi(rng, T * B, R, W, 2.0).reshape(T, B, -1)
    reads, states = unroll(s, xis, R, W)
    for b in range(B):
        sb = MemoryState(*(a[b:b + 1] for a in s))
        reads_b, states_b = unroll(sb, xis[:, b:b + 1], R, W)
        for t in range(T):
            onp.testing.assert_allclose(reads[t][b:b + 1], reads_b[t], rtol=0, atol=1e-13)
            for a, ab in zip(states[t], states_b[t]):
                onp.testing.assert_allclose(a[b:b + 1], ab, rtol=0, atol=1e-13)
    # and changing one sequence's interface leaves the others untouched
    xis2 = xis.copy(); xis2[:, 1] += 1.0
    reads2, _ = unroll(s, xis2, R, W)
    for t in range(T):
        onp.testing.assert_array_equal(reads2[t][[0, 2]], reads[t][[0, 2]])
        assert not onp.allclose(reads2[t][1], reads[t][1])


# ---------------------------------------------------------------------------------------------------------
# NaN safety and the initial state

def test_initial_memory_state():
    s = initial_memory_state(2, 5, 3, 4)
    assert isinstance(s, MemoryState) and s._fields == ("memory", "usage", "write_weights", "precedence",
                                                        "link", "read_weights")
    assert [a.shape for a in s] == [(2, 5, 3), (2, 5), (2, 5), (2, 5), (2, 5, 5), (2, 4, 5)]
    assert all(a.dtype == onp.float64 and not a.any() for a in s)
    text = repr(s)
    assert "MemoryState" in text and "N=5" in text and "usage" in text


@pytest.mark.parametrize("xi_value", [0.0, 50.0, -50.0])
def test_nan_safety_zero_state_and_zero_keys(xi_value):
    "All-zero state and all-zero keys (or saturated gates): finite values and gradients over three steps."
    B, N, W, R, T = 2, 4, 3, 2, 3
    xis = onp.full((T, B, interface_size(R, W)), xi_value)
    xis[:, :, :R * W] = 0.0                                                    # read keys
    xis[:, :, R * W + R:R * W + R + W] = 0.0                                   # write key
    loss = make_loss(R, W, dict(T=T, B=B, N=N))
    s0 = list(initial_memory_state(B, N, W, R))
    assert onp.isfinite(loss(xis, *s0))
    for i in range(7):
        g = grad(loss, i)(xis, *s0)
        assert onp.all(onp.isfinite(g)), f"non-finite gradient for argument {i}"


def test_zero_memory_rows_among_written_rows_keep_gradients_finite():
    "A zero key against a memory with some zero rows and some written rows."
    B, N, W, R = 1, 4, 3, 1
    rng = onp.random.default_rng(2)
    s = initial_memory_state(B, N, W, R)._replace(memory=onp.array([[[1.0, 2, 3], [0, 0, 0], [0, 1, 0], [0, 0, 0]]]))
    xis = random_xi(rng, 3 * B, R, W).reshape(3, B, -1)
    xis[:, :, :R * W] = 0.0
    loss = make_loss(R, W, dict(T=3, B=B, N=N))
    for i in range(7):
        assert onp.all(onp.isfinite(grad(loss, i)(xis, *s)))


# ---------------------------------------------------------------------------------------------------------
# Gates at exactly 0 and 1

def exact_interface(rng, B, R, W, **fields):
    it = parse_interface(random_xi(rng, B, R, W), R, W)
    return it._replace(**{k: onp.asarray(v, dtype=float) for k, v in fields.items()})


def test_write_gate_zero_writes_nothing():
    rng = onp.random.default_rng(9)
    B, N, W, R = 2, 5, 3, 2
    s = random_state(rng, B, N, W, R)
    it = exact_interface(rng, B, R, W, write_gate=onp.zeros(B), free_gates=onp.zeros((B, R)))
    _, s1 = memory_step(s, it)
    onp.testing.assert_array_equal(s1.write_weights, 0.0)
    onp.testing.assert_allclose(s1.memory, s.memory, atol=0)
    onp.testing.assert_allclose(s1.precedence, s.precedence, atol=0)
    onp.testing.assert_allclose(s1.link, s.link, atol=0)
    # usage still takes in last step's write (it lags one step), and with free gates 0 never decreases
    onp.testing.assert_allclose(s1.usage, s.usage + s.write_weights - s.usage * s.write_weights, atol=1e-15)


def test_full_allocation_write_and_erase():
    "g^w = g^a = 1, e = 1 from empty memory: the write goes to the allocated slot and that row becomes v."
    rng = onp.random.default_rng(4)
    B, N, W, R = 2, 4, 3, 1
    s = initial_memory_state(B, N, W, R)._replace(usage=onp.array([[1.0, 0.9, 0.0, 0.5], [0.0, 1.0, 1.0, 1.0]]))
    it = exact_interface(rng, B, R, W, write_gate=onp.ones(B), allocation_gate=onp.ones(B), erase=onp.ones((B, W)),
                         free_gates=onp.zeros((B, R)))
    _, s1, d = memory_step_details(s, it)
    onp.testing.assert_allclose(s1.write_weights, d["allocation"], atol=0)
    onp.testing.assert_allclose(s1.write_weights, onp.eye(N)[[2, 0]], atol=1e-5)
    onp.testing.assert_allclose(s1.memory[0, 2], it.write_vector[0], atol=1e-5)
    onp.testing.assert_allclose(s1.memory[1, 0], it.write_vector[1], atol=1e-5)
    onp.testing.assert_allclose(s1.precedence, s1.write_weights, atol=1e-15)    # p_0 = 0


def test_free_gate_one_releases_the_slot_read_last_step():
    rng = onp.random.default_rng(6)
    B, N, W, R = 1, 4, 2, 2
    s = initial_memory_state(B, N, W, R)._replace(usage=onp.ones((B, N)),
                                                  read_weights=onp.array([[[0, 1.0, 0, 0], [0, 0, 0, 1.0]]]))
    it = exact_interface(rng, B, R, W, free_gates=onp.array([[1.0, 0.0]]), write_gate=onp.zeros(B))
    _, s1, d = memory_step_details(s, it)
    onp.testing.assert_allclose(d["retention"], [[1, 0, 1, 1]], atol=0)          # head 2's gate is 0
    onp.testing.assert_allclose(s1.usage, [[1, 0, 1, 1]], atol=0)
    # the allocation now points at the freed slot
    assert int(onp.argmax(d["allocation"][0])) == 1


def test_allocation_gate_zero_writes_by_content():
    rng = onp.random.default_rng(8)
    B, N, W, R = 1, 4, 3, 1
    M = onp.array([[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]]])
    s = initial_memory_state(B, N, W, R)._replace(memory=M)
    it = exact_interface(rng, B, R, W, write_gate=onp.ones(B), allocation_gate=onp.zeros(B),
                         write_key=onp.array([[0.0, 0.0, 2.0]]), write_strength=onp.array([100.0]))
    _, s1, d = memory_step_details(s, it)
    onp.testing.assert_allclose(s1.write_weights, d["write_content"], atol=0)
    assert int(onp.argmax(s1.write_weights[0])) == 2 and s1.write_weights[0, 2] > 1 - 1e-12


def test_repr_of_a_state_being_differentiated():
    "The teaching repr unwraps autograd's boxes, so a state can be printed inside a function under grad."
    texts = []

    def f(M0):
        s = initial_memory_state(1, 3, 2, 1)._replace(memory=M0)
        texts.append(repr(s))
        return anp.sum(s.memory ** 2)
    grad(f)(onp.ones((1, 3, 2)))
    assert "memory sum      6" in texts[0] and "N=3" in texts[0]
