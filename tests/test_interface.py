"""Interface parameters (Methods, Interface parameters): the layout of xi, the squashing, and parse_interface.

The oracle below walks xi entry by entry with plain Python loops and `math`, written from the paper's
definition of the interface vector; it does not call the functions under test."""
import math
import warnings

import numpy as onp
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from dnc_lit.interface import (Interface, interface_size, interface_slices, oneplus, parse_interface,
                               sigmoid, softmax)
from helpers import check_grad, random_projection

FIELDS = ("read_keys", "read_strengths", "write_key", "write_strength", "erase", "write_vector",
          "free_gates", "allocation_gate", "write_gate", "read_modes")


def shapes(B, R, W):
    "The documented shape of each Interface field."
    return dict(read_keys=(B, R, W), read_strengths=(B, R), write_key=(B, W), write_strength=(B,),
                erase=(B, W), write_vector=(B, W), free_gates=(B, R), allocation_gate=(B,),
                write_gate=(B,), read_modes=(B, R, 3))


# ----------------------------------------------------------------------------------------- the oracle
def _oneplus(x): return 1.0 + math.log1p(math.exp(x))          # only for |x| small enough not to overflow
def _sigmoid(x): return 1.0 / (1.0 + math.exp(-x))


def parse_oracle(xi, R, W):
    """xi = [k^{r,1..R}; β̂^{r,1..R}; k^w; β̂^w; ê; v; f̂^{1..R}; ĝ^a; ĝ^w; π̂^{1..R}], one entry at a time."""
    B = len(xi)
    out = {k: onp.zeros(s) for k, s in shapes(B, R, W).items()}
    for b in range(B):
        x = list(xi[b]); pos = 0

        def take():
            nonlocal pos
            pos += 1
            return x[pos - 1]
        for i in range(R):
            for j in range(W): out["read_keys"][b, i, j] = take()
        for i in range(R): out["read_strengths"][b, i] = _oneplus(take())
        for j in range(W): out["write_key"][b, j] = take()
        out["write_strength"][b] = _oneplus(take())
        for j in range(W): out["erase"][b, j] = _sigmoid(take())
        for j in range(W): out["write_vector"][b, j] = take()
        for i in range(R): out["free_gates"][b, i] = _sigmoid(take())
        out["allocation_gate"][b] = _sigmoid(take())
        out["write_gate"][b] = _sigmoid(take())
        for i in range(R):
            raw = [take() for _ in range(3)]                   # head i: (backward, content, forward)
            z = [math.exp(r) for r in raw]
            for m in range(3): out["read_modes"][b, i, m] = z[m] / sum(z)
        assert pos == len(x), "oracle did not consume xi exactly"
    return out


sizes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5))   # (B, R, W)


@st.composite
def xi_cases(draw, lo=-20.0, hi=20.0):
    B, R, W = draw(sizes)
    xi = draw(hnp.arrays(onp.float64, (B, interface_size(R, W)),
                         elements=st.floats(lo, hi, allow_nan=False, allow_infinity=False)))
    return xi, R, W


# ------------------------------------------------------------------------------------------- layout
def test_field_names_and_order():
    assert Interface._fields == FIELDS
    assert [name for name, _ in interface_slices(2, 3)] == list(FIELDS)


@given(st.integers(1, 64), st.integers(1, 256))
def test_size_formula_and_slices_agree(R, W):
    sizes_ = dict(interface_slices(R, W))
    assert sizes_ == dict(read_keys=R * W, read_strengths=R, write_key=W, write_strength=1, erase=W,
                          write_vector=W, free_gates=R, allocation_gate=1, write_gate=1, read_modes=3 * R)
    assert sum(sizes_.values()) == interface_size(R, W) == W * R + 3 * W + 5 * R + 3


def test_known_sizes():
    assert interface_size(1, 1) == 12 and interface_size(2, 3) == 28 and interface_size(4, 16) == 135


@given(sizes)
def test_each_entry_of_xi_feeds_exactly_its_own_field(size):
    """Round trip of the layout: perturbing entry p of xi changes exactly the field the table assigns to p
    (and, inside it, the entry or the head's modes at the right place); all other fields stay equal."""
    B, R, W = size
    n = interface_size(R, W)
    owner = [(name, k) for name, sz in interface_slices(R, W) for k in range(sz)]   # position -> (field, index)
    assert len(owner) == n
    xi = onp.zeros((B, n))
    base = parse_interface(xi, R, W)
    for p in range(n):
        bumped = xi.copy(); bumped[-1, p] = 0.7
        new = parse_interface(bumped, R, W)
        changed = [f for f in FIELDS if not onp.array_equal(getattr(base, f), getattr(new, f))]
        name, k = owner[p]
        assert changed == [name], (p, changed, name)
        diff = onp.argwhere(getattr(base, name)[-1] != getattr(new, name)[-1])
        if name == "read_keys":
            assert diff.tolist() == [[k // W, k % W]]            # head i takes xi[i*W:(i+1)*W]
        elif name == "read_modes":
            assert set(diff[:, 0].tolist()) == {k // 3}          # head-major: head i takes pi_hat[3i:3i+3]
            assert getattr(new, name)[-1, k // 3, k % 3] > 1 / 3   # the bumped mode is the one that grew
        elif getattr(base, name).ndim == 2:
            assert diff.tolist() == [[k]]
        assert onp.array_equal(getattr(base, name)[:-1], getattr(new, name)[:-1])   # other batch rows


# ------------------------------------------------------------------------------------------ against the oracle
@given(xi_cases())
def test_parse_matches_loop_oracle(case):
    xi, R, W = case
    got, want = parse_interface(xi, R, W), parse_oracle(xi, R, W)
    for f in FIELDS:
        assert getattr(got, f).shape == want[f].shape, f
        onp.testing.assert_allclose(getattr(got, f), want[f], rtol=1e-12, atol=1e-15, err_msg=f)


def test_zero_xi_worked_example():
    iface = parse_interface(onp.zeros((1, 28)), 2, 3)
    onp.testing.assert_allclose(iface.read_strengths, 1 + math.log(2))
    onp.testing.assert_allclose(iface.write_strength, 1 + math.log(2))
    for f in ("erase", "free_gates", "allocation_gate", "write_gate"):
        onp.testing.assert_allclose(getattr(iface, f), 0.5)
    onp.testing.assert_allclose(iface.read_modes, 1 / 3)


# ------------------------------------------------------------------------------------------ the paper's ranges
@given(xi_cases())
def test_shapes_and_invariants(case):
    xi, R, W = case
    iface = parse_interface(xi, R, W)
    for f, s in shapes(len(xi), R, W).items():
        assert getattr(iface, f).shape == s, f
    onp.testing.assert_allclose(iface.read_modes.sum(axis=-1), 1.0, rtol=0, atol=1e-12)   # each head in S_3
    assert (iface.read_modes >= 0).all()
    for f in ("erase", "free_gates", "allocation_gate", "write_gate"):              # open interval for |x| <= 20
        g = getattr(iface, f)
        assert ((g > 0) & (g < 1)).all(), f
    assert (iface.read_strengths >= 1).all() and (iface.write_strength >= 1).all()
    # keys and the write vector pass through unchanged
    onp.testing.assert_array_equal(iface.read_keys.reshape(len(xi), -1), xi[:, :R * W])


@given(xi_cases(lo=-1e3, hi=1e3))
def test_large_inputs_stay_finite_and_in_range(case):
    xi, R, W = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # an overflow RuntimeWarning fails the test
        iface = parse_interface(xi, R, W)
    for f in FIELDS:
        assert onp.isfinite(getattr(iface, f)).all(), f
    onp.testing.assert_allclose(iface.read_modes.sum(-1), 1.0, atol=1e-12)
    for f in ("erase", "free_gates", "allocation_gate", "write_gate"):              # closed interval in float64
        g = getattr(iface, f)
        assert ((g >= 0) & (g <= 1)).all(), f
    assert (iface.read_strengths >= 1).all() and (iface.write_strength >= 1).all()


def test_extreme_values_exact():
    xi = onp.concatenate([onp.full((1, 12), 1e3), onp.full((1, 12), -1e3)])
    iface = parse_interface(xi, 1, 1)
    onp.testing.assert_allclose(iface.read_strengths[:, 0], [1001.0, 1.0])
    onp.testing.assert_allclose(iface.write_gate, [1.0, 0.0])
    onp.testing.assert_allclose(iface.read_modes[:, 0], [[1 / 3] * 3] * 2)   # equal raw modes: uniform


# ------------------------------------------------------------------------------------------ the squashes
@given(st.floats(-30, 30))
def test_squashes_match_math(x):
    assert math.isclose(float(oneplus(x)), _oneplus(x), rel_tol=1e-13)
    assert math.isclose(float(sigmoid(x)), _sigmoid(x), rel_tol=1e-13, abs_tol=1e-300)


def test_oneplus_and_sigmoid_extremes():
    x = onp.array([-1e308, -1e3, 1e3, 1e308])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        onp.testing.assert_allclose(oneplus(x), [1.0, 1.0, 1001.0, 1e308])
        onp.testing.assert_allclose(sigmoid(x), [0.0, 0.0, 1.0, 1.0])


@given(hnp.arrays(onp.float64, st.tuples(st.integers(1, 3), st.integers(1, 5)),
                  elements=st.floats(-1e3, 1e3)), st.sampled_from([0, 1, -1]))
def test_softmax_stable_and_normalised(x, axis):
    s = softmax(x, axis=axis)
    assert onp.isfinite(s).all() and (s >= 0).all()
    onp.testing.assert_allclose(s.sum(axis=axis), 1.0, atol=1e-12)
    onp.testing.assert_allclose(softmax(x + 123.0, axis=axis), s, atol=1e-12)    # shift invariance


# ------------------------------------------------------------------------------------------ gradients
def _scalar_loss(R, W, B, seed=1):
    rng = onp.random.default_rng(seed)
    proj = {f: random_projection(rng, s) for f, s in shapes(B, R, W).items()}

    def loss(xi):
        iface = parse_interface(xi, R, W)
        return sum((getattr(iface, f) * proj[f]).sum() for f in FIELDS)
    return loss


@pytest.mark.parametrize("R,W", [(1, 3), (2, 3), (3, 2)])
def test_gradient_matches_finite_differences(rng, R, W):
    B = 2
    xi = rng.normal(scale=2.0, size=(B, interface_size(R, W)))
    check_grad(_scalar_loss(R, W, B), (xi,), name=f"parse_interface R={R} W={W}")


def test_gradient_finite_for_large_inputs(rng):
    from autograd import grad
    R, W, B = 2, 3, 2
    xi = rng.choice([-1e3, 1e3], size=(B, interface_size(R, W)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = grad(_scalar_loss(R, W, B))(xi)
    assert onp.isfinite(g).all()


# ------------------------------------------------------------------------------------------ batches and errors
@given(xi_cases())
def test_batch_independence(case):
    xi, R, W = case
    whole = parse_interface(xi, R, W)
    for b in range(len(xi)):
        alone = parse_interface(xi[b:b + 1], R, W)
        for f in FIELDS:
            onp.testing.assert_array_equal(getattr(whole, f)[b:b + 1], getattr(alone, f), err_msg=f)


@pytest.mark.parametrize("shape", [(1, 27), (1, 29), (28,), (2, 1, 28), (0,)])
def test_wrong_shape_raises_with_expected_width(shape):
    with pytest.raises(ValueError, match=r"\(batch, 28\)") as err:
        parse_interface(onp.zeros(shape), num_reads=2, word_size=3)
    assert f"got shape {shape}" in str(err.value)


def test_repr_teaches_fields_and_shapes():
    text = repr(parse_interface(onp.zeros((2, 28)), 2, 3))
    for f, s in shapes(2, 2, 3).items():
        assert f in text and str(s) in text
    assert "0.5" in text and "1.693" in text
