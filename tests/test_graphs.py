"""Property tests of dnc_lit.graphs: the random graphs, the encoding, the three tasks'
answers (checked against searches written here), the loss and the evaluation, and the
structured prediction of the shortest-path task."""
import math

import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st

from dnc_lit import DNC
from dnc_lit import graphs as G
from helpers import check_grad

SETTINGS = settings(max_examples=40, deadline=None)


def ranges(low, high, max_width=None):
    "A strategy for inclusive (lo, hi) ranges within [low, high]."
    def pair(lo):
        top = high if max_width is None else min(high, lo + max_width)
        return st.tuples(st.just(lo), st.integers(lo, top))
    return st.integers(low, high).flatmap(pair)


graph_args = st.fixed_dictionaries(dict(
    seed=st.integers(0, 2 ** 32 - 1), num_nodes=ranges(2, 14, 8),
    out_degree=ranges(1, 5), label_lo=st.integers(0, 900),
    edge_range=st.one_of(st.none(), ranges(0, 40, 20))))


def make_graph(a):
    """A random graph from drawn arguments (the label range made wide enough for the
    nodes)."""
    labels = (a["label_lo"], min(999, a["label_lo"] + a["num_nodes"][1] + 50))
    edges = a["edge_range"]
    if edges is not None and edges[1] - edges[0] + 1 < min(a["out_degree"][1],
                                                           a["num_nodes"][1] - 1):
        edges = (edges[0], edges[0] + 10)
    rng = onp.random.default_rng(a["seed"])
    g = G.random_graph(rng, a["num_nodes"], a["out_degree"], labels, edges)
    return g, labels, edges


# ---------------------------------------------------------------- random graphs

@SETTINGS
@given(graph_args)
def test_random_graph_labels(a):
    g, (l_lo, l_hi), edges = make_graph(a)
    n = len(g.nodes)
    assert a["num_nodes"][0] <= n <= a["num_nodes"][1]
    assert len(set(g.nodes)) == n and all(l_lo <= x <= l_hi for x in g.nodes)
    pairs = [(s, e) for s, e, _ in g.triples]
    assert len(set(pairs)) == len(pairs), "edge labels must be unique per source node"
    used = {e for _, e, _ in g.triples}
    if edges is None:          # the paper's pool: at most n labels, all in label_range
        assert len(used) <= n and all(l_lo <= e <= l_hi for e in used)
    else:
        assert all(edges[0] <= e <= edges[1] for e in used)


@SETTINGS
@given(graph_args)
def test_random_graph_is_k_nearest_neighbours(a):
    g, _, _ = make_graph(a)
    n, (k_lo, k_hi) = len(g.nodes), a["out_degree"]
    pos = dict(zip(g.nodes, g.positions))
    assert g.positions.shape == (n, 2)
    assert ((0 <= g.positions) & (g.positions < 1)).all()
    for s in g.nodes:
        out = g.out_edges(s)
        K = len(out)
        assert min(k_lo, n - 1) <= K <= min(k_hi, n - 1)
        by_distance = sorted(g.nodes, key=lambda x: math.dist(pos[s], pos[x]))
        assert by_distance[0] == s
        assert set(out.values()) == set(by_distance[1:K + 1]), f"node {s}"


@SETTINGS
@given(st.integers(0, 2 ** 32 - 1), ranges(2, 30, 20), ranges(1, 5), ranges(1, 40, 10))
def test_edge_pool_bounds_the_labels_a_graph_uses(seed, num_nodes, out_degree, pool):
    """With edge_pool=(lo, hi) a graph uses at most max(hi, its largest out-degree)
    edge labels of label_range, still distinct per source, and the graph itself (nodes,
    positions, edges without their labels) is the one drawn without edge_pool."""
    labels = (100, 199)
    g = G.random_graph(onp.random.default_rng(seed), num_nodes, out_degree, labels,
                       edge_pool=pool)
    plain = G.random_graph(onp.random.default_rng(seed), num_nodes, out_degree, labels)
    assert g.nodes == plain.nodes and (g.positions == plain.positions).all()
    assert [(s, d) for s, _, d in g.triples] == [(s, d) for s, _, d in plain.triples]
    pairs = [(s, e) for s, e, _ in g.triples]
    assert len(set(pairs)) == len(pairs), "edge labels must be unique per source node"
    used = {e for _, e, _ in g.triples}
    K = max(len(g.out_edges(s)) for s in g.nodes)
    assert len(used) <= max(pool[1], K) and all(100 <= e <= 199 for e in used)


def test_edge_pool_errors_and_small_pools():
    rng = onp.random.default_rng(0)
    with pytest.raises(ValueError, match="edge_pool is for edge_range=None"):
        G.random_graph(rng, edge_range=(0, 9), edge_pool=(4, 4))
    with pytest.raises(ValueError, match="edge_pool must be a pair"):
        G.random_graph(rng, edge_pool=(0, 4))
    gs = [G.random_graph(rng, (20, 30), (4, 4), edge_pool=(4, 4)) for _ in range(20)]
    assert all(len({e for _, e, _ in g.triples}) == 4 for g in gs)   # every node: all 4
    b = G.traversal_task(rng, 8, (10, 12), (2, 3), (1, 3), edge_pool=(3, 3))
    assert all(len({e for _, e, _ in q.graph.triples}) == 3 for q in b.questions)


def test_same_seed_same_graph_and_batch():
    a = G.random_graph(onp.random.default_rng(3))
    b = G.random_graph(onp.random.default_rng(3))
    assert a == b and (a.positions == b.positions).all()
    x = G.traversal_task(onp.random.default_rng(4), path_length=(1, 4))
    y = G.traversal_task(onp.random.default_rng(4), path_length=(1, 4))
    assert all((u == v).all() for u, v in zip(x[:3], y[:3]))


# ---------------------------------------------------------------- encoding

@SETTINGS
@given(st.lists(st.tuples(*[st.integers(-1, 999)] * 3), min_size=1, max_size=10))
def test_encode_decode_round_trip(labels):
    arr = onp.array(labels).reshape(-1, 3)
    code = G.encode_triples(arr)
    assert code.shape == (len(arr), 90) and code.dtype == onp.float64
    assert set(onp.unique(code)) <= {0.0, 1.0}
    # each present label has exactly one 1 per digit, a blank none
    per_digit = code.reshape(len(arr), 3, 3, 10).sum(-1)
    assert (per_digit == (arr >= 0)[..., None]).all()
    assert (G.decode_triples(code) == arr).all()
    for row, c in zip(arr, code):
        triple = tuple(None if x < 0 else int(x) for x in row)
        assert (G.encode_triple(*triple) == c).all()
        assert G.decode_triple(c) == triple
        assert G.decode_label(c[:30]) == triple[0]


@SETTINGS
@given(st.integers(0, 999), st.integers(0, 2 ** 32 - 1))
def test_decode_reads_logits(label, seed):
    noise = onp.random.default_rng(seed).uniform(-0.4, 0.4, 30)
    assert G.decode_label(G.encode_label(label) + noise) == label
    digits = [label // 100, label // 10 % 10, label % 10]
    assert G.label_digits(label).tolist() == digits


def test_encoding_errors():
    for bad in (1000, -1, 2.5, True, "7"):
        with pytest.raises(ValueError, match="label must be an integer in 0..999"):
            G.encode_label(bad)
    with pytest.raises(ValueError, match="destination must be"):
        G.encode_triple(1, 2, 1000)
    with pytest.raises(ValueError, match=r"vector must have shape \(90,\)"):
        G.decode_triple(onp.zeros(30))


# ---------------------------------------------------------------- the three tasks

def floyd_warshall(graph):
    "All-pairs shortest path lengths (inf where there is no path), independent of BFS."
    idx = {x: i for i, x in enumerate(graph.nodes)}
    n = len(idx)
    d = onp.full((n, n), onp.inf)
    onp.fill_diagonal(d, 0)
    for s, _, t in graph.triples: d[idx[s], idx[t]] = min(d[idx[s], idx[t]], 1)
    for k in range(n):
        d = onp.minimum(d, d[:, k:k + 1] + d[k:k + 1, :])
    return d, idx


def walk(graph, node, edges):
    """Follow edge labels from node with a plain dict of the triples; None if an edge is
    missing."""
    table = {(s, e): t for s, e, t in graph.triples}
    path = []
    for e in edges:
        if (node, e) not in table: return None
        path.append((node, e, table[node, e]))
        node = table[node, e]
    return path


task_args = st.fixed_dictionaries(dict(
    seed=st.integers(0, 2 ** 32 - 1), batch_size=st.integers(1, 4),
    num_nodes=ranges(3, 12, 6), out_degree=ranges(1, 4), length=ranges(1, 4),
    label_range=st.sampled_from([(0, 19), (0, 999), (500, 620)])))


def as_tuples(labels):
    "Rows of decoded labels as tuples of ints."
    return [tuple(int(v) for v in row) for row in labels]


def check_batch(batch):
    """Shapes, the mask (1 exactly at scored answer steps), the targets there, the
    channels."""
    B, T, X = batch.inputs.shape
    assert X == G.INPUT_SIZE == 92 and batch.targets.shape == (B, T, G.OUTPUT_SIZE)
    assert batch.mask.shape == (B, T) and batch.inputs.dtype == onp.float64
    for b, q in enumerate(batch.questions):
        t0, wanted = G.answer_start(q), G.answer_targets(q)
        expected = onp.zeros(T)
        for k, z in enumerate(wanted):
            if z is not None: expected[t0 + k] = 1
        assert (batch.mask[b] == expected).all()
        assert not batch.targets[b][expected == 0].any()
        scored = as_tuples(G.decode_triples(batch.targets[b][expected > 0]))
        assert scored == [z for z in wanted if z is not None]
        D = len(q.description)
        shown = as_tuples(G.decode_triples(batch.inputs[b, :D, :90]))
        assert shown == list(q.description) and sorted(shown) == sorted(q.graph.triples)
        assert (batch.inputs[b, :, 91] > 0).sum() >= 1 and batch.inputs[b, t0, 91] == 1
        assert not batch.inputs[b, :t0, 91].any()
        assert batch.inputs[b, D, 90] == 1 and batch.inputs[b, t0, 90] == 1


@SETTINGS
@given(task_args)
def test_traversal_answers_are_walks_of_the_query(a):
    batch = G.traversal_task(onp.random.default_rng(a["seed"]), a["batch_size"],
                             a["num_nodes"], a["out_degree"], a["length"],
                             a["label_range"])
    check_batch(batch)
    for q in batch.questions:
        start, edges = q.query[0][0], [t[1] for t in q.query]
        assert q.query[0][2] is None
        assert all(t[0] is None and t[2] is None for t in q.query[1:])
        assert a["length"][0] <= len(q.answer) <= a["length"][1]
        assert list(q.answer) == walk(q.graph, start, edges)
        assert all(t in q.graph.triples for t in q.answer)
        assert all(u[2] == v[0] for u, v in zip(q.answer, q.answer[1:]))


@SETTINGS
@given(task_args)
def test_shortest_path_answers_are_minimal(a):
    lengths = (1, a["length"][1])        # (every graph has two nodes one edge apart)
    batch = G.shortest_path_task(onp.random.default_rng(a["seed"]), a["batch_size"],
                                 a["num_nodes"], a["out_degree"], lengths,
                                 a["label_range"])
    check_batch(batch)
    for b, q in enumerate(batch.questions):
        (s, e, t), = q.query
        assert e is None and s != t
        d, idx = floyd_warshall(q.graph)
        assert len(q.answer) == d[idx[s], idx[t]]
        assert 1 <= len(q.answer) <= lengths[1]
        assert q.answer[0][0] == s and q.answer[-1][2] == t
        assert all(x in q.graph.triples for x in q.answer)
        assert all(u[2] == v[0] for u, v in zip(q.answer, q.answer[1:]))
        assert len(q.coins) == len(q.answer) + 1
        # teacher-forced stored sequence: answer step k > 0 shows planner move k - 1
        t0 = G.answer_start(q)
        fed = G.decode_triples(batch.inputs[b, t0 + 1:t0 + len(q.answer), :90])
        assert as_tuples(fed) == list(q.answer[:-1])


@SETTINGS
@given(st.integers(0, 2 ** 32 - 1), ranges(2, 3), ranges(3, 10, 4))
def test_inference_answers_compose_the_relation(seed, lengths, num_nodes):
    batch = G.inference_task(onp.random.default_rng(seed), 3, num_nodes, (2, 4),
                             lengths, planning_steps=4)
    check_batch(batch)
    for q in batch.questions:
        (s, r, end), = q.answer
        assert q.query == ((s, r, None),) and G.RELATIONS[r] == q.relation
        assert lengths[0] <= len(q.relation) <= lengths[1]
        assert all(0 <= e <= 9 for _, e, _ in q.graph.triples)
        assert walk(q.graph, s, q.relation)[-1][2] == end
        assert G.answer_start(q) == len(q.description) + 1 + 4


def test_relations_table():
    R = G.RELATIONS
    assert sorted(R) == list(range(10, 410)) and len(set(R.values())) == 400
    for lo, L in ((10, 2), (110, 3), (210, 4), (310, 5)):
        assert all(len(R[r]) == L for r in range(lo, lo + 100))
    pairs = [(i, j) for i in range(10) for j in range(10)]
    assert sorted(R[r] for r in range(10, 110)) == pairs
    assert all(0 <= e <= 9 for v in R.values() for e in v)
    assert G.relation_table() == R and G.relation_table(seed=1) != R
    assert G.RELATION_LABELS[R[123]] == 123


def splitmix64_numpy(state):
    """SplitMix64 in wrapping uint64 arithmetic: an implementation independent of the
    library's."""
    u = onp.uint64
    with onp.errstate(over="ignore"):
        state = u(state) + u(0x9E3779B97F4A7C15)
        z = (state ^ (state >> u(30))) * u(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> u(27))) * u(0x94D049BB133111EB)
    return int(state), int(z ^ (z >> u(31)))


def test_relations_can_be_rebuilt_from_their_description():
    """The table as the chapter describes it: never to change, since trained networks
    know it."""
    assert splitmix64_numpy(0)[1] == 0xE220A8397B1DCDAF      # SplitMix64's first output
    state, label, table = G.RELATION_SEED, 10, {}
    for L in (2, 3, 4, 5):
        chosen = []
        while len(chosen) < 100:
            state, r = splitmix64_numpy(state)
            if r % 10 ** L not in chosen: chosen.append(r % 10 ** L)
        for v in chosen:
            table[label] = tuple(int(c) for c in str(v).zfill(L))
            label += 1
    assert table == G.RELATIONS


def test_encode_question_planning_override():
    g = G.Graph((1, 2, 3), ((1, 0, 2), (2, 0, 3), (3, 0, 1)))
    q = G.traversal_question(g, 1, [0, 0])
    for P in (0, 3):
        x, z, m = G.encode_question(q, planning_steps=P)
        assert len(x) == 3 + 2 + P + 3 and m.sum() == 3 and (m[-3:] == 1).all()
        assert not x[5:5 + P, :90].any() and not x[5:5 + P, 91].any()
        assert x[5, 90] == 1               # the planning phase (or the answer) begins
    with pytest.raises(ValueError, match="planning_steps"):
        G.encode_question(q, planning_steps=-1)


# ---------------------------------------------------------------- loss and evaluation

def brute_force_loss(y, z, m):
    "The paper's loss, one digit at a time in plain Python, averaged over the batch."
    total = 0.0
    B, T, _ = y.shape
    for b in range(B):
        for t in range(T):
            for d in range(9):
                digit = slice(10 * d, 10 * d + 10)
                logits, target = y[b, t, digit], z[b, t, digit]
                top = max(logits)
                log_norm = top + math.log(sum(math.exp(v - top) for v in logits))
                for k in range(10):
                    total -= m[b, t] * target[k] * (logits[k] - log_norm)
    return total / B


@SETTINGS
@given(st.integers(0, 2 ** 32 - 1), st.floats(0.1, 30))
def test_graph_loss_matches_brute_force(seed, scale):
    batch = G.traversal_task(onp.random.default_rng(seed), 3, (3, 5), (1, 2), (1, 3))
    y = scale * onp.random.default_rng(seed + 1).standard_normal(batch.targets.shape)
    loss = G.graph_loss(y, batch.targets, batch.mask)
    expected = brute_force_loss(y, batch.targets, batch.mask)
    assert math.isclose(loss, expected, rel_tol=1e-9)
    m2 = batch.mask.copy()
    m2[0] = 0
    assert G.graph_loss(y, batch.targets, m2) <= loss + 1e-9


def test_graph_loss_gradient_matches_finite_differences():
    batch = G.traversal_task(onp.random.default_rng(1), 2, (3, 4), (1, 2), (1, 2))
    y = onp.random.default_rng(2).standard_normal(batch.targets.shape)
    loss = lambda y: G.graph_loss(y, batch.targets, batch.mask)
    check_grad(loss, [y], name="graph_loss")


def test_graph_loss_float32_and_extreme_logits():
    batch = G.traversal_task(onp.random.default_rng(1), 2, (3, 4))
    y32 = (1e4 * (2 * batch.targets - 1)).astype(onp.float32)
    loss = G.graph_loss(y32, batch.targets, batch.mask)
    assert onp.isfinite(loss) and abs(float(loss)) < 1e-3
    worst = G.graph_loss(-1e4 * (2 * batch.targets - 1), batch.targets, batch.mask)
    assert onp.isfinite(worst) and worst > 1e4
    with pytest.raises(ValueError, match="logits and targets"):
        G.graph_loss(y32[..., :80], batch.targets, batch.mask)
    with pytest.raises(ValueError, match="mask must have shape"):
        G.graph_loss(y32, batch.targets, batch.mask[:, :-1])


@SETTINGS
@given(st.integers(0, 2 ** 32 - 1), st.data())
def test_one_wrong_digit_fails_the_sequence(seed, data):
    batch = G.traversal_task(onp.random.default_rng(seed), 4, (3, 6), (1, 3), (1, 3))
    perfect = 5.0 * batch.targets
    assert G.sequences_correct(perfect, batch.targets, batch.mask).all()
    right = G.triples_correct(perfect, batch.targets, batch.mask)
    assert (right == (batch.mask > 0)).all()
    steps = onp.argwhere(batch.mask > 0)
    b, t = steps[data.draw(st.integers(0, len(steps) - 1))]
    d = data.draw(st.integers(0, 8))
    wrong = perfect.copy()
    wrong[b, t, 10 * d:10 * d + 10] = onp.roll(wrong[b, t, 10 * d:10 * d + 10],
                                               data.draw(st.integers(1, 9)))
    ok = G.sequences_correct(wrong, batch.targets, batch.mask)
    assert not ok[b] and ok.sum() == len(ok) - 1
    right = G.triples_correct(wrong, batch.targets, batch.mask)
    assert right.sum() == batch.mask.sum() - 1
    # a wrong digit outside the answer phase changes nothing
    off = onp.argwhere(batch.mask == 0)[0]
    noisy = perfect.copy()
    noisy[off[0], off[1], :10] = onp.arange(10)
    assert G.sequences_correct(noisy, batch.targets, batch.mask).all()


def test_decode_answers_stops_at_termination():
    batch = G.traversal_task(onp.random.default_rng(0), 5, path_length=(1, 4))
    answers = G.decode_answers(batch.targets, batch.mask)
    assert answers == [q.answer for q in batch.questions]


# ---------------------------------------------------------------- structured prediction

MODEL = DNC(input_size=92, output_size=90, hidden_size=8, memory_size=6, word_size=4,
            num_reads=1)
PARAMS = MODEL.init(seed=0)


def reached_nodes_by_network(batch, logits, b):
    "Replay the walk of sequence b with β = 0 from the logits, independently of _walk."
    q = batch.questions[b]
    (node, _, dst), = q.query
    nodes = [node]
    t0 = G.answer_start(q)
    for k in range(len(q.answer) + 1):
        if node == dst: break
        y = logits[b, t0 + k]
        logp = [y[10 * d:10 * d + 10] - onp.log(onp.exp(y[10 * d:10 * d + 10]).sum())
                for d in range(9)]
        legal = [(node, e, t) for e, t in q.graph.out_edges(node).items()]
        def score(triple):
            digits = "".join(f"{x:03d}" for x in triple)
            return sum(logp[d][int(c)] for d, c in enumerate(digits))
        node = max(legal, key=score)[2]          # (ties: the first, as in the library)
        nodes.append(node)
    return nodes


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_shortest_path_targets_are_planner_moves_from_where_the_walk_is(seed):
    batch = G.shortest_path_task(onp.random.default_rng(seed), 2, (4, 7), (1, 3),
                                 (1, 3), label_range=(0, 30), planning_steps=2,
                                 beta=0.0)
    logits, targets, mask = G.shortest_path_forward(MODEL, PARAMS, batch)
    logits = onp.asarray(logits)
    for b, q in enumerate(batch.questions):
        dst = q.query[0][2]
        nodes = reached_nodes_by_network(batch, logits, b)
        t0 = G.answer_start(q)
        scored = as_tuples(G.decode_triples(targets[b][mask[b] > 0]))
        d, idx = floyd_warshall(q.graph)
        for k, target in enumerate(scored):
            node = nodes[k]
            assert target[0] == node and target in q.graph.triples
            assert d[idx[target[2]], idx[dst]] == d[idx[node], idx[dst]] - 1
            assert target == q.graph.planner_step(node, dst)
            assert mask[b, t0 + k] == 1
        assert not mask[b, :t0].any()
    ev = G.evaluate_shortest_path(MODEL, PARAMS, batch)
    assert (ev["optimal"] <= ev["within_one"]).all()
    shortest = onp.array([len(q.answer) for q in batch.questions])
    assert ((ev["moves"] == -1) | (ev["moves"] >= shortest)).all()


def test_all_planner_coins_reproduce_the_teacher_forced_batch():
    batch = G.shortest_path_task(onp.random.default_rng(5), 3, (4, 7), (1, 3),
                                 (1, 3), label_range=(0, 30), planning_steps=3,
                                 beta=1.0)
    logits, targets, mask = G.shortest_path_forward(MODEL, PARAMS, batch)
    assert onp.allclose(logits, MODEL.apply(PARAMS, batch.inputs), atol=1e-10)
    assert (targets == batch.targets).all() and (mask == batch.mask).all()


class Oracle:
    """A stand-in model that knows the graphs: at each answer step it outputs the
    planner's move from the node its inputs say it has reached (with `bad`, some other
    legal move where there is one)."""
    def __init__(self, batch, bad=False):
        self.config = MODEL.config
        self.batch, self.bad = batch, bad

    def unroll(self, params, x, state=None):
        qs = self.batch.questions
        if state is None: state = [q.query[0][0] for q in qs]
        out = onp.zeros(x.shape[:2] + (90,))
        for t in range(x.shape[1]):
            for b, q in enumerate(qs):
                move = G.decode_triple(x[b, t, :90])
                if x[b, t, 91] and move[2] is not None: state[b] = move[2]
                if not x[b, t, 91]: continue
                dst = q.query[0][2]
                choice = q.graph.planner_step(state[b], dst)
                if self.bad:
                    edges = q.graph.out_edges(state[b]).items()
                    others = [(state[b], e, d) for e, d in edges
                              if (state[b], e, d) != choice]
                    choice = others[0] if others else choice
                if choice is not None: out[b, t] = 10.0 * G.encode_triple(*choice)
        return out, state


def test_evaluate_shortest_path_with_an_oracle():
    batch = G.shortest_path_task(onp.random.default_rng(2), 6, (5, 9), (2, 3), (2, 3),
                                 label_range=(0, 60))
    ev = G.evaluate_shortest_path(Oracle(batch), None, batch)
    assert ev["optimal"].all() and ev["within_one"].all()
    assert (ev["moves"] == [len(q.answer) for q in batch.questions]).all()
    logits, targets, mask = G.shortest_path_forward(Oracle(batch), None, batch)
    assert G.sequences_correct(logits, targets, mask).all()
    worse = G.evaluate_shortest_path(Oracle(batch, bad=True), None, batch)
    assert not worse["optimal"].all()


def test_shortest_path_gradient_flows():
    from autograd import grad
    batch = G.shortest_path_task(onp.random.default_rng(7), 1, (4, 6), (1, 3), (1, 2),
                                 label_range=(0, 20))
    g = grad(lambda p: G.graph_loss(*G.shortest_path_forward(MODEL, p, batch)))(PARAMS)
    assert set(g) == set(PARAMS) and all(onp.isfinite(v).all() for v in g.values())
    assert any(onp.abs(v).sum() > 0 for v in g.values())


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("call, match", [
    (lambda r: G.random_graph(r, num_nodes=(5, 20), label_range=(0, 9)),
     "label_range .* fewer than the 20 distinct nodes"),
    (lambda r: G.random_graph(r, num_nodes=(5, 3)), "num_nodes must be a pair"),
    (lambda r: G.random_graph(r, out_degree=(0, 2)), "out_degree must be a pair"),
    (lambda r: G.random_graph(r, label_range=(10, 5)), "label_range must be a pair"),
    (lambda r: G.random_graph(r, label_range=(0, 1000)), "label_range must be a pair"),
    (lambda r: G.random_graph(r, out_degree=(3, 5), edge_range=(0, 2)),
     "edge_range .* fewer than the 5 distinct out-edges"),
    (lambda r: G.random_graph(r, num_nodes="ten"), "num_nodes must be a pair"),
    (lambda r: G.random_graph(r, num_nodes=(1, 4)), "num_nodes must be a pair"),
    (lambda r: G.traversal_task(r, batch_size=0), "batch_size"),
    (lambda r: G.traversal_task(r, path_length=(0, 2)), "path_length"),
    (lambda r: G.inference_task(r, relation_length=(2, 6)), "relation_length"),
    (lambda r: G.inference_task(r, out_degree=(1, 11)), "out_degree"),
    (lambda r: G.shortest_path_task(r, beta=1.5), "beta must be a number in"),
    (lambda r: G.shortest_path_task(r, num_nodes=(2, 2), path_length=(3, 3)),
     "no two nodes"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises((ValueError, RuntimeError), match=match):
        call(onp.random.default_rng(0))


def test_bad_graphs_and_calls():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        G.random_graph(0)
    with pytest.raises(ValueError, match="nodes must be distinct"):
        G.Graph((1, 1), ())
    with pytest.raises(ValueError, match="names a node that is not in nodes"):
        G.Graph((1, 2), ((1, 0, 3),))
    with pytest.raises(ValueError, match="reserved termination pattern"):
        G.Graph((999, 1), (G.TERMINATION,))
    with pytest.raises(ValueError, match="already leaves node 1"):
        G.Graph((1, 2, 3), ((1, 0, 2), (1, 0, 3)))
    g = G.Graph((1, 2, 3), ((1, 0, 2), (2, 0, 1)))
    with pytest.raises(ValueError, match="cannot be reached"):
        g.shortest_path(1, 3)
    with pytest.raises(ValueError, match="node 7 is not in this graph"):
        g.out_edges(7)
    with pytest.raises(ValueError, match="source and destination must differ"):
        G.shortest_path_question(g, 1, 1)
    with pytest.raises(TypeError, match="questions\\[0\\] must be a Question"):
        G.graph_batch([("not", "a", "question")])
    tb = G.traversal_task(onp.random.default_rng(0), 1)
    with pytest.raises(ValueError, match="shortest-path questions"):
        G.shortest_path_forward(MODEL, PARAMS, tb)
    small = DNC(input_size=4, output_size=3)
    sb = G.shortest_path_task(onp.random.default_rng(0), 1)
    with pytest.raises(ValueError, match="input_size=92"):
        G.evaluate_shortest_path(small, small.init(0), sb)
