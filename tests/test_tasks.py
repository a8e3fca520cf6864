"""Copy and repeated-copy batches (dnc_lit.tasks): both layouts against a plain-loop oracle written from the
two reference descriptions, masks, lengths and padding, seed determinism, argument validation, bit errors."""
import numpy as onp
import pytest
from hypothesis import given, strategies as st

from dnc_lit.tasks import (Batch, repeat_copy_batch, repeat_copy_task, copy_task, copy_series_task,
                           bit_errors, mean_bit_errors)


def oracle_sequence(pattern, R, layout, norm_max, mask_input_phase):
    """One sequence, step by step, from the descriptions: start flag at t=0, the L pattern rows at t=1..L, the count
    at t=L+1; the pattern R times from t=L+2, then the end marker. DeepMind: channels [bits, start, count/norm_max]
    and targets [bits, end]; NumPy project: channels [count, start, bits] and targets [end, bits]."""
    L, n = pattern.shape
    T = L * (R + 1) + 3
    x, y, m = onp.zeros((T, n + 2)), onp.zeros((T, n + 1)), onp.zeros(T)
    bit_in, start, cnt = (slice(0, n), n, n + 1) if layout == "deepmind" else (slice(2, n + 2), 1, 0)
    bit_out, end = (slice(0, n), n) if layout == "deepmind" else (slice(1, n + 1), 0)
    x[0, start] = 1
    for i in range(L):
        x[1 + i, bit_in] = pattern[i]
    x[L + 1, cnt] = R / norm_max if layout == "deepmind" else R
    t = L + 2
    for _ in range(R):
        for i in range(L):
            y[t, bit_out] = pattern[i]
            m[t] = 1
            t += 1
    y[t, end] = 1
    m[t] = 1
    if not mask_input_phase:
        m[:] = 1
    return x, y, m


patterns_st = st.integers(1, 4).flatmap(lambda n: st.lists(
    st.tuples(st.lists(st.lists(st.integers(0, 1), min_size=n, max_size=n), min_size=1, max_size=4),
              st.integers(1, 3)), min_size=1, max_size=4))


@given(patterns_st, st.sampled_from(["deepmind", "numpy"]), st.booleans(), st.sampled_from([1, 4, 10]))
def test_layout_matches_loop_oracle(seqs, layout, mask_input_phase, norm_max):
    pats = [onp.array(p, dtype=float) for p, _ in seqs]
    reps = [r for _, r in seqs]
    b = repeat_copy_batch(pats, reps, norm_max=norm_max, layout=layout, mask_input_phase=mask_input_phase)
    T = max(len(p) * (r + 1) + 3 for p, r in zip(pats, reps))
    n = pats[0].shape[1]
    assert b.inputs.shape == (len(pats), T, n + 2) and b.targets.shape == (len(pats), T, n + 1) and b.mask.shape == (len(pats), T)
    assert all(a.dtype == onp.float64 for a in b)
    for i, (p, r) in enumerate(zip(pats, reps)):
        x, y, m = oracle_sequence(p, r, layout, norm_max, mask_input_phase)
        Tb = len(m)
        onp.testing.assert_array_equal(b.inputs[i, :Tb], x)
        onp.testing.assert_array_equal(b.targets[i, :Tb], y)
        onp.testing.assert_array_equal(b.mask[i, :Tb], m)
        # padding: zero in all three arrays
        assert not b.inputs[i, Tb:].any() and not b.targets[i, Tb:].any() and not b.mask[i, Tb:].any()


def test_deepmind_mask_counts_and_copy_length():
    b = repeat_copy_batch([onp.ones((3, 2)), onp.ones((1, 2))], [2, 4])
    onp.testing.assert_array_equal(b.mask.sum(1), [3 * 2 + 1, 1 * 4 + 1])     # LR + 1 scored steps
    assert b.mask[0, :5].sum() == 0                                           # the first L+2 are not
    c = copy_task(onp.random.default_rng(0), batch_size=8, min_length=5, max_length=5)
    assert c.inputs.shape[1] == 2 * 5 + 3
    onp.testing.assert_allclose(c.inputs[:, 6, -1], 0.1)                     # DeepMind's go signal: 1/norm_max


def test_numpy_layout_copy_is_the_projects_seq_function():
    "The NumPy project's copy: inputs[0,1]=1, inputs[L+1,0]=1, inputs[1:L+1,2:]=bits; targets[-1,0]=1, targets[L+2:-1,1:]=bits."
    bits = onp.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0]], dtype=float)
    L = len(bits)
    x = onp.zeros((2 * L + 3, 6)); x[0, 1] = 1; x[L + 1, 0] = 1; x[1:L + 1, 2:] = bits
    y = onp.zeros((2 * L + 3, 5)); y[-1, 0] = 1; y[L + 2:-1, 1:] = bits
    b = repeat_copy_batch([bits], [1], layout="numpy", mask_input_phase=False)
    onp.testing.assert_array_equal(b.inputs[0], x)
    onp.testing.assert_array_equal(b.targets[0], y)
    onp.testing.assert_array_equal(b.mask[0], onp.ones(2 * L + 3))


@pytest.mark.parametrize("layout", ["deepmind", "numpy"])
def test_same_seed_same_batch_and_different_seeds_differ(layout):
    kw = dict(batch_size=8, num_bits=5, min_length=1, max_length=6, min_repeats=1, max_repeats=3, layout=layout)
    a = repeat_copy_task(onp.random.default_rng(42), **kw)
    b = repeat_copy_task(onp.random.default_rng(42), **kw)
    c = repeat_copy_task(onp.random.default_rng(43), **kw)
    for x, y in zip(a, b):
        onp.testing.assert_array_equal(x, y)
    assert any(x.shape != z.shape or not onp.array_equal(x, z) for x, z in zip(a, c))


def test_copy_is_repeat_copy_with_one_repeat():
    a = copy_task(onp.random.default_rng(7), batch_size=5, num_bits=3, min_length=2, max_length=4)
    b = repeat_copy_task(onp.random.default_rng(7), batch_size=5, num_bits=3, min_length=2, max_length=4,
                         min_repeats=1, max_repeats=1)
    for x, y in zip(a, b):
        onp.testing.assert_array_equal(x, y)


def test_sampled_lengths_and_repeats_cover_their_ranges():
    b = repeat_copy_task(onp.random.default_rng(0), batch_size=400, num_bits=3, min_length=2, max_length=5,
                         min_repeats=1, max_repeats=4, layout="numpy")
    count = b.inputs[..., 0]                                   # NumPy layout: raw repeat count in channel 0
    L = count.argmax(1) - 1
    R = count.max(1)
    assert set(L.tolist()) == {2, 3, 4, 5} and set(R.tolist()) == {1, 2, 3, 4}
    assert b.inputs.shape[1] == (L * (R + 1) + 3).max()
    assert set(onp.unique(b.inputs[..., 2:])) <= {0.0, 1.0}
    bits_mean = b.inputs[..., 2:].sum() / (L.sum() * 3)
    assert 0.45 < bits_mean < 0.55                               # fair bits


def test_batch_repr_is_one_line():
    r = repr(copy_task(onp.random.default_rng(0), batch_size=2))
    assert r.startswith("Batch(B=2") and "\n" not in r
    assert isinstance(copy_task(onp.random.default_rng(0)), Batch)


@pytest.mark.parametrize("kwargs, name", [
    (dict(batch_size=0), "batch_size"), (dict(batch_size=2.0), "batch_size"), (dict(batch_size=True), "batch_size"),
    (dict(num_bits=0), "num_bits"), (dict(num_bits="4"), "num_bits"),
    (dict(min_length=0), "min_length"), (dict(min_length=3, max_length=2), "max_length"),
    (dict(max_length=-1), "max_length"),
    (dict(min_repeats=0), "min_repeats"), (dict(min_repeats=3, max_repeats=2), "max_repeats"),
    (dict(norm_max=0), "norm_max"), (dict(layout="ntm"), "layout"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        repeat_copy_task(onp.random.default_rng(0), **kwargs)


def test_bad_generator_and_patterns():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        copy_task(0)
    with pytest.raises(ValueError, match=r"patterns\[1\]"):
        repeat_copy_batch([onp.ones((2, 3)), onp.ones((2, 4))], [1, 1])
    with pytest.raises(ValueError, match="repeats must have one count per pattern"):
        repeat_copy_batch([onp.ones((2, 3))], [1, 2])
    with pytest.raises(ValueError, match=r"repeats\[0\]"):
        repeat_copy_batch([onp.ones((2, 3))], [0])
    with pytest.raises(ValueError, match="at least one pattern"):
        repeat_copy_batch([], [])


def bit_errors_loop(logits, targets, mask):
    "Bit errors per sequence, one bit at a time."
    B, T, Y = targets.shape
    out = onp.zeros(B)
    for b in range(B):
        for t in range(T):
            if mask[b, t]:
                for j in range(Y):
                    out[b] += (logits[b, t, j] > 0) != (targets[b, t, j] > 0.5)
    return out


@given(st.integers(0, 10_000), st.integers(1, 4), st.integers(1, 6), st.integers(1, 4))
def test_bit_errors_match_loop(seed, B, T, Y):
    r = onp.random.default_rng(seed)
    logits = r.standard_normal((B, T, Y))
    logits[r.random((B, T, Y)) < 0.1] = 0.0                       # exactly 0 counts as "predict 0"
    targets = (r.random((B, T, Y)) < 0.5).astype(float)
    mask = (r.random((B, T)) < 0.6).astype(float)
    e = bit_errors(logits, targets, mask)
    assert e.shape == (B,) and e.dtype == onp.float64
    onp.testing.assert_array_equal(e, bit_errors_loop(logits, targets, mask))
    batch = Batch(onp.zeros((B, T, 1)), targets, mask)
    assert mean_bit_errors(logits, batch) == pytest.approx(e.mean())


def test_bit_errors_extremes_and_shape_errors():
    b = repeat_copy_task(onp.random.default_rng(1), batch_size=6, max_length=4, max_repeats=3)
    perfect = onp.where(b.targets > 0.5, 3.0, -3.0)
    onp.testing.assert_array_equal(bit_errors(perfect, b.targets, b.mask), onp.zeros(6))
    wrong = -perfect
    onp.testing.assert_array_equal(bit_errors(wrong, b.targets, b.mask), b.mask.sum(1) * b.targets.shape[-1])
    with pytest.raises(ValueError, match="logits must have the shape"):
        bit_errors(perfect[:, :-1], b.targets, b.mask)
    with pytest.raises(ValueError, match="mask must have shape"):
        bit_errors(perfect, b.targets, b.mask[:, :-1])


# ---------------------------------------------------------------- a series of copies (Extended Data Fig. 1)
@given(seed=st.integers(0, 2**32 - 1), B=st.integers(1, 4), K=st.integers(1, 5),
       lo=st.integers(1, 3), extra=st.integers(0, 3), bits=st.integers(1, 5))
def test_copy_series_is_copies_back_to_back(seed, B, K, lo, extra, bits):
    """Each row is K copy episodes laid end to end, each exactly the loop oracle's copy sequence of its
    own length (read off the start flags), then zero padding; lengths in range; same seed, same batch."""
    hi = lo + extra
    b = copy_series_task(onp.random.default_rng(seed), batch_size=B, num_bits=bits, num_episodes=K,
                         min_length=lo, max_length=hi)
    again = copy_series_task(onp.random.default_rng(seed), batch_size=B, num_bits=bits, num_episodes=K,
                             min_length=lo, max_length=hi)
    for x, y in zip(b, again): onp.testing.assert_array_equal(x, y)
    assert b.inputs.shape[-1] == bits + 2 and b.targets.shape[-1] == bits + 1
    for r in range(B):
        starts = onp.flatnonzero(b.inputs[r, :, bits])
        assert len(starts) == K and starts[0] == 0
        t = 0
        for k in range(K):
            L = int(onp.flatnonzero(b.inputs[r, t:, bits + 1])[0]) - 1       # the count step is at L + 1
            assert lo <= L <= hi
            pattern = b.inputs[r, t + 1:t + 1 + L, :bits]
            x, y, m = oracle_sequence(pattern, 1, "deepmind", 10, True)
            T = len(m)
            onp.testing.assert_array_equal(b.inputs[r, t:t + T], x)
            onp.testing.assert_array_equal(b.targets[r, t:t + T], y)
            onp.testing.assert_array_equal(b.mask[r, t:t + T], m)
            t += T
        assert not b.inputs[r, t:].any() and not b.targets[r, t:].any() and not b.mask[r, t:].any()


def test_copy_series_bad_arguments():
    rng = onp.random.default_rng(0)
    with pytest.raises(ValueError, match="num_episodes"): copy_series_task(rng, num_episodes=0)
    with pytest.raises(ValueError, match="max_length"): copy_series_task(rng, min_length=4, max_length=3)
    with pytest.raises(TypeError, match="rng"): copy_series_task(0)
