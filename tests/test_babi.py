"""dnc_lit.babi: the bAbI loader, the paper's preprocessing, batches, loss, errors.
Every test writes its own small files in the bAbI format (and archives in the official
layout) in tmp_path; the one test of the real data skips when the shared copy is
absent."""
import io, math, tarfile
from pathlib import Path
import numpy as onp
import pytest
from hypothesis import given, strategies as st
from autograd import grad
from dnc_lit.babi import (
    TASK_FILES, SYMBOLS, BabiFormatError, Question, tokenize, parse_babi, story_words,
    story_answers, load_babi, find_babi, Lexicon, build_lexicon, pooled, babi_batch,
    babi_batches, babi_sampler, babi_loss, log_softmax, question_errors, babi_errors,
    answer_groups, split_validation, evaluate_babi, mean_error, failed_tasks,
    error_table, answer_story, TaskError, PAPER_DNC1)
from dnc_lit.model import DNC, DNCConfig
from helpers import check_grad

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["mary", "john", "went", "moved", "to", "the", "kitchen", "garden", "apple",
         "milk", "where", "is", "what", "carrying", "yes", "no", "s", "e"]


# --- writing bAbI text ----------------------------------------------------------------

def render(lines):
    """bAbI text of a story: lines are ('s', words) or ('q', words, answer, support)."""
    out = []
    for i, line in enumerate(lines, 1):
        words = [line[1][0].capitalize(), *line[1][1:]]
        if line[0] == "s": out.append(f"{i} {' '.join(words)}.")
        else:
            ids = " ".join(map(str, line[3]))
            out.append(f"{i} {' '.join(words)}?\t{','.join(line[2])}\t{ids}")
    return "\n".join(out) + "\n"

@st.composite
def stories(draw, max_lines=6):
    "A random story: sentences and questions (at least one) with answers of 1-3 words."
    n = draw(st.integers(1, max_lines))
    lines, q_at = [], draw(st.integers(0, n - 1))
    for i in range(n):
        words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5))
        if i == q_at or draw(st.booleans()):
            answer = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
            support = draw(st.lists(st.integers(1, i), max_size=2)) if i else []
            lines.append(("q", words, answer, support))
        else: lines.append(("s", words))
    return lines

def write_tar(path, files):
    "A tar.gz holding {member name: text}."
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path

STORY = ("1 Mary got the milk there.\n2 John moved to the kitchen.\n"
         "3 What is Mary carrying? \tmilk\t1\n4 Mary took the apple there.\n"
         "5 What is Mary carrying? \tmilk,apple\t1 4\n1 John went to the garden.\n"
         "2 Where is John?\tgarden\t1\n")

def official(tasks=range(1, 21), version="en-10k", skip=(), extra=None):
    "{member: text} of an archive in the official layout with STORY in every file."
    files = {f"tasks_1-20_v1-2/{version}/qa{t}_{TASK_FILES[t]}_{s}.txt": STORY
             for t in tasks for s in ("train", "test") if (t, s) not in skip}
    files["tasks_1-20_v1-2/README.txt"] = "not a task file\n"
    return {**files, **(extra or {})}


# --- tokenisation ---------------------------------------------------------------------

@given(st.lists(st.sampled_from(WORDS + list(SYMBOLS)), max_size=30))
def test_tokenize_round_trip(words):
    "Joining tokens with spaces and tokenising gives them back."
    assert tokenize(" ".join(words)) == words

@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8), st.integers(1, 999),
       st.sampled_from([".", "?"]))
def test_tokenize_removes_numbers_and_case(words, number, end):
    "Capitals, the line number, punctuation glued to the last word: the paper's tokens."
    mixed = " ".join(w.upper() if i % 2 else w for i, w in enumerate(words))
    text = f"{number} {mixed}{end}"
    assert tokenize(text) == words + [end]

def test_tokenize_paper_example_and_other_characters():
    assert tokenize("3 What is John carrying? \tmilk,apple\t1 4") == \
        ["what", "is", "john", "carrying", "?", "milk", "apple"]
    assert tokenize("Mary's bag, 42kg!") == ["mary", "s", "bag", "kg"]


# --- parsing --------------------------------------------------------------------------

@given(stories())
def test_parse_round_trip_and_dashes(lines):
    "Parsing a rendered story gives its lines back; one '-' per answer word, after '?'."
    (story,) = parse_babi(render(lines), 2, "t.txt")
    for got, line in zip(story.lines, lines):
        if line[0] == "s": assert list(got) == line[1] + ["."]
        else: assert got == Question(tuple(line[1] + ["?"]), tuple(line[2]),
                                     tuple(line[3]))
    words, answers = story_words(story), story_answers(story)
    assert words.count("-") == sum(len(a) for a in answers)
    assert [a for line in lines if line[0] == "q" for a in [tuple(line[2])]] == answers
    for t, w in enumerate(words):
        if w == "-": assert words[t - 1] in ("?", "-")

def test_parse_ids_restart_stories():
    stories = parse_babi(STORY, 8, "lists.txt")
    assert [len(s.lines) for s in stories] == [5, 2]
    assert stories[1].where == "lists.txt, line 6"
    assert story_answers(stories[0]) == [("milk",), ("milk", "apple")]

@pytest.mark.parametrize("text, line, message", [
    ("Mary moved to the bathroom.\n", 1, "not bAbI format"),
    ("1 Mary moved.\n2 Where is Mary?\n", 2, "a question without an answer"),
    ("1 Mary moved.\n2 Where is Mary?\t\t1\n", 2, "a question without an answer"),
    ("1 Mary moved.\n3 Where is Mary?\tkitchen\t1\n", 2, "line id 3 after 1"),
    ("1 Mary moved.\n2 Where is Mary?\tkitchen\t2\n", 2, "not an earlier line"),
    ("1 Mary moved.\n2 Where is Mary?\tkitchen\tone\n", 2, "must be line ids"),
    ("1 Mary moved.\n2 Mary moved\tkitchen\t1\n", 2, "not a question"),
    ("1 Mary moved - fast.\n2 Where is Mary?\tkitchen\t1\n", 1, "'-' in the text"),
    ("1 Mary moved.\n2 Where is Mary?\tkitchen\t1\n1 John went.\n", 3,
     "without a question"),
])
def test_parse_errors_name_file_and_line(text, line, message):
    expected = f"qa1_train.txt, line {line}: .*{message}"
    with pytest.raises(BabiFormatError, match=expected):
        parse_babi(text, 1, "qa1_train.txt")

def test_parse_empty_file():
    with pytest.raises(BabiFormatError, match="empty.txt: no stories"):
        parse_babi("\n\n", 1, "empty.txt")
    assert issubclass(BabiFormatError, ValueError)


# --- loading archives and folders -----------------------------------------------------

def test_load_archive_all_tasks(tmp_path):
    path = write_tar(tmp_path / "tasks_1-20_v1-2.tar.gz", official())
    data = load_babi(path)
    assert sorted(data.train) == sorted(data.test) == list(range(1, 21))
    assert all(len(v) == 2 for v in data.train.values()) and data.substituted == ()
    assert data.files[7, "test"].endswith("en-10k/qa7_counting_test.txt")
    assert data.train[19][0].task == 19
    assert load_babi(path, tasks=[4, 2]).train.keys() == {2, 4}

def test_load_version_en_and_fallback(tmp_path):
    files = official(skip={(3, "train")})
    files.update({k.replace("en-10k", "en"): v for k, v in official(tasks=[3]).items()})
    path = write_tar(tmp_path / "a.tar.gz", files)
    data = load_babi(path)
    assert data.substituted == ((3, "train"),)
    assert "/en/qa3_three-supporting-facts_train.txt" in data.files[3, "train"]
    with pytest.raises(BabiFormatError, match="no en-10k/qa3_three-supporting-facts_"
                                              "train.txt in it .a missing task file"):
        load_babi(path, fallback=None)
    assert load_babi(path, version="en", tasks=[3]).substituted == ()

def test_load_folder_three_ways(tmp_path):
    for name, text in official().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    top = tmp_path / "tasks_1-20_v1-2"
    for p in (tmp_path, top, top / "en-10k"):
        data = load_babi(p, tasks=[1, 20])
        assert [len(data.test[t]) for t in (1, 20)] == [2, 2]

def test_load_missing_file_names_it(tmp_path):
    path = write_tar(tmp_path / "a.tar.gz", official(skip={(12, "test")}))
    with pytest.raises(BabiFormatError, match="a.tar.gz: no en-10k/qa12_conjunction_"
                                              "test.txt"):
        load_babi(path)

def test_load_bad_line_names_member_and_line(tmp_path):
    bad = "tasks_1-20_v1-2/en-10k/qa5_three-arg-relations_train.txt"
    path = write_tar(tmp_path / "a.tar.gz",
                     official(extra={bad: STORY + "8 Where is Mary?\n"}))
    with pytest.raises(BabiFormatError, match=f"a.tar.gz:{bad}, line 8: a question "
                                              "without"):
        load_babi(path)

def test_load_truncated_and_not_an_archive(tmp_path):
    good = write_tar(tmp_path / "good.tar.gz", official())
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(BabiFormatError, match="cut.tar.gz: a truncated or unreadable"):
        load_babi(cut)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive\n" * 50)
    with pytest.raises(BabiFormatError, match="junk.tar.gz: a truncated or unreadable"):
        load_babi(junk)
    with pytest.raises(BabiFormatError, match="nowhere: no such file or folder"):
        load_babi(tmp_path / "nowhere")

def test_load_not_utf8_names_line(tmp_path):
    d = tmp_path / "en-10k"
    d.mkdir()
    for t in (1,):
        for s in ("train", "test"):
            (d / f"qa{t}_{TASK_FILES[t]}_{s}.txt").write_bytes(
                b"1 Mary moved.\n2 Where is \xff?\tkitchen\t1\n" if s == "test" else
                STORY.encode())
    with pytest.raises(BabiFormatError, match=r"qa1_single-supporting-fact_test.txt, "
                                              "line 2: not a UTF-8"):
        load_babi(d, tasks=[1])

def test_load_bad_tasks_argument(tmp_path):
    with pytest.raises(ValueError, match="tasks must be task numbers from 1 to 20"):
        load_babi(tmp_path, tasks=[0, 21])

def test_find_babi(tmp_path, monkeypatch):
    monkeypatch.delenv("DNC_LIT_BABI", raising=False)
    project = tmp_path / "project"
    (project / "nbs").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    assert find_babi(project / "nbs") is None
    archive = tmp_path / "shared" / "data" / "babi" / "tasks_1-20_v1-2.tar.gz"
    archive.parent.mkdir(parents=True)
    write_tar(archive, official(tasks=[1]))
    assert find_babi(project / "nbs") == archive
    monkeypatch.setenv("DNC_LIT_BABI", str(tmp_path / "elsewhere"))
    with pytest.raises(BabiFormatError, match="DNC_LIT_BABI=.*elsewhere: no such file"):
        find_babi(project)
    monkeypatch.setenv("DNC_LIT_BABI", str(archive))
    assert find_babi(tmp_path) == archive


# --- lexicon and batches --------------------------------------------------------------

@given(st.lists(stories(), min_size=1, max_size=4))
def test_batch_encoding_properties(many):
    "One-hot inputs, mask exactly at the '-' steps, targets only there, answers decode."
    parsed = [parse_babi(render(lines), 1 + i % 20, "t.txt")[0] for i, lines in
              enumerate(many)]
    lex = build_lexicon(parsed)
    b = babi_batch(parsed, lex)
    dash = lex.words.index("-")
    assert b.inputs.shape == b.targets.shape == (len(parsed), b.lengths.max(), len(lex))
    assert onp.array_equal(b.mask, b.inputs[..., dash])
    assert onp.array_equal(b.targets.sum(-1), b.mask)
    for i, s in enumerate(parsed):
        T = len(story_words(s))
        assert b.lengths[i] == T and onp.all(b.inputs[i, :T].sum(-1) == 1)
        assert not b.inputs[i, T:].any() and not b.mask[i, T:].any()
        assert lex.decode(b.inputs[i, :T].argmax(-1)) == story_words(s)
        said = lex.decode(b.targets[i][b.mask[i] > 0].argmax(-1))
        assert said == [w for a in story_answers(s) for w in a]
        assert (answer_groups(b.mask[i:i + 1]).max() + 1) == len(story_answers(s))

def test_lexicon_symbols_first_and_unknown_words():
    lex = build_lexicon(parse_babi(STORY, 8))
    assert lex.words[:3] == (".", "?", "-")
    assert list(lex.words[3:]) == sorted(lex.words[3:])
    assert "apple" in lex.words                                   # answer words too
    with pytest.raises(ValueError, match=f"not in the lexicon of {len(lex)}: 'flew', "
                                         "'florida'"):
        lex.encode(["mary", "flew", "to", "florida"])
    with pytest.raises(ValueError, match="starts with"):
        Lexicon(("a", ".", "?", "-"))
    assert Lexicon(list(lex.words)) == lex

def test_babi_batches_cover_every_story_once():
    stories = parse_babi(STORY * 3, 8)
    lex = build_lexicon(stories)
    in_order = list(babi_batches(stories, lex, batch_size=4))
    assert [b.inputs.shape[0] for b in in_order] == [4, 2]
    shuffled = list(babi_batches(stories, lex, 4, rng=onp.random.default_rng(0)))
    assert sorted(l for b in shuffled for l in b.lengths.tolist()) == \
        sorted(len(story_words(s)) for s in stories)

def test_sampler_protocol_and_checks():
    stories = {1: parse_babi(STORY, 1), 2: parse_babi(STORY, 2)}
    lex = build_lexicon(stories)
    sample = babi_sampler(stories, lex)
    a, b = sample(onp.random.default_rng(3), batch_size=5), \
        sample(onp.random.default_rng(3), batch_size=5)
    assert onp.array_equal(a.inputs, b.inputs) and a.inputs.shape[0] == 5
    assert set(a.tasks.tolist()) <= {1, 2}
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        sample(onp.random.default_rng(0), batch_size=0)
    small = Lexicon(SYMBOLS + ("mary",))
    with pytest.raises(ValueError, match="not in the lexicon"):
        babi_sampler(stories, small)


def test_sampler_one_length_group_draws_as_plain_uniform():
    stories = {1: parse_babi(STORY * 2, 1), 8: parse_babi(STORY, 8)}
    lex, pool = build_lexicon(stories), pooled(stories)
    got = babi_sampler(stories, lex, length_groups=1)(onp.random.default_rng(5), 6)
    idx = onp.random.default_rng(5).integers(len(pool), size=6)
    assert onp.array_equal(got.inputs, babi_batch([pool[i] for i in idx], lex).inputs)


def length_story(n, task):
    "A story of `n` statements and one question: 6n + 5 tokens."
    lines = [("s", ["mary", "went", "to", "the", "kitchen"])] * n
    return render(lines + [("q", ["where", "is", "mary"], ["kitchen"], [n])])


def test_length_groups_keep_every_place_uniform_and_cut_padding():
    # six stories of six different lengths; batches of 2 from 3 groups
    stories = {t: parse_babi(length_story(t, t), t) for t in range(1, 7)}
    lex = build_lexicon(stories)
    plain, grouped = babi_sampler(stories, lex), babi_sampler(stories, lex, 3)
    rng, n = onp.random.default_rng(0), 6000
    counts = onp.zeros((2, 7))
    pad = {"plain": 0, "grouped": 0}
    for _ in range(n):
        b = grouped(rng, batch_size=2)
        for place, t in enumerate(b.tasks.tolist()): counts[place, t] += 1
        pad["grouped"] += int((b.inputs.shape[1] - b.lengths).sum())
        b = plain(rng, batch_size=2)
        pad["plain"] += int((b.inputs.shape[1] - b.lengths).sum())
    share = counts[:, 1:] / n            # each place: every story about 1/6
    assert onp.all(onp.abs(share - 1 / 6) < 0.03), share
    assert pad["grouped"] < 0.6 * pad["plain"], pad
    with pytest.raises(ValueError, match="length_groups must be an integer >= 1"):
        babi_sampler(stories, lex, length_groups=0)


# --- loss -----------------------------------------------------------------------------

def brute_loss(y, z, m):
    "The loss by plain loops: −(1/B) Σ_b Σ_t m Σ_k z log softmax."
    total = 0.0
    for b in range(y.shape[0]):
        for t in range(y.shape[1]):
            if not m[b, t]: continue
            top = max(y[b, t])
            log_sum = math.log(sum(math.exp(v - top) for v in y[b, t]))
            for k in range(y.shape[2]):
                if z[b, t, k]:
                    total -= m[b, t] * z[b, t, k] * (y[b, t, k] - top - log_sum)
    return total / y.shape[0]

def random_outputs(rng, B=2, T=5, V=6, scale=3.0):
    y = scale * rng.standard_normal((B, T, V))
    m = (rng.random((B, T)) < 0.5).astype(float)
    z = onp.zeros((B, T, V))
    z[onp.arange(B)[:, None], onp.arange(T)[None, :], rng.integers(0, V, (B, T))] = 1.0
    return y, z * m[..., None], m

@given(st.integers(0, 10 ** 6))
def test_loss_equals_brute_force(seed):
    y, z, m = random_outputs(onp.random.default_rng(seed))
    assert abs(float(babi_loss(y, z, m)) - brute_loss(y, z, m)) < 1e-10

def test_loss_gradient_matches_finite_differences(rng):
    y, z, m = random_outputs(rng, B=2, T=3, V=4)
    check_grad(lambda y_: babi_loss(y_, z, m), (y,), name="babi_loss")
    g = grad(babi_loss)(y, z, m)
    assert onp.all(g[m == 0] == 0)                        # unscored steps: no gradient
    soft = onp.exp(log_softmax(y))
    assert onp.allclose(g, (soft - z) * m[..., None] / y.shape[0])

def test_loss_is_stable_and_checks_shapes(rng):
    y, z, m = random_outputs(rng)
    assert onp.isclose(babi_loss(y + 1e4, z, m), babi_loss(y, z, m))  # exp(1e4) = inf
    assert onp.isclose(babi_loss(1e3 * y, z, m), brute_loss(1e3 * y, z, m))
    with pytest.raises(ValueError, match="mask must have shape"):
        babi_loss(y, z, m[:, :-1])
    with pytest.raises(ValueError, match="logits and targets must both have shape"):
        babi_loss(y[..., :-1], z, m)


# --- question error -------------------------------------------------------------------

@given(st.lists(stories(), min_size=1, max_size=4), st.integers(0, 10 ** 6))
def test_question_errors_equal_a_loop_over_questions(many, seed):
    "A question is right only if every answer word is the modal output."
    parsed = [parse_babi(render(lines), 1, "t.txt")[0] for lines in many]
    lex = build_lexicon(parsed)
    b = babi_batch(parsed, lex)
    rng = onp.random.default_rng(seed)
    y = b.targets * 5 + rng.standard_normal(b.targets.shape) * rng.choice([0.1, 3.0])
    wrong, asked = question_errors(y, b.targets, b.mask)
    for i, s in enumerate(parsed):
        words = story_words(s)
        steps = [t for t, w in enumerate(words) if w == "-"]
        said = lex.decode(y[i, steps].argmax(-1)) if steps else []
        k, bad = 0, 0
        for a in story_answers(s):
            bad += said[k:k + len(a)] != list(a)
            k += len(a)
        assert (wrong[i], asked[i]) == (bad, len(story_answers(s)))
    assert onp.allclose(babi_errors(y, b.targets, b.mask), wrong / asked)


class Oracle:
    "A stand-in network that outputs the right answers except on chosen stories."
    def __init__(self, stories, lexicon, spoil=()):
        self.answers, self.V = {}, len(lexicon)
        for i, s in enumerate(stories):
            b = babi_batch([s], lexicon)
            key = b.inputs[0].tobytes()
            self.answers[key] = b.targets[0] * 5 + (i in spoil) * b.inputs[0] * 10
    def apply(self, params, inputs):
        out = onp.zeros(inputs.shape)
        for i, x in enumerate(inputs):
            T = int((x.sum(-1) > 0).sum())
            out[i, :T] = self.answers[x[:T].tobytes()]
        return out

def test_evaluate_per_task_counts():
    other = (STORY.replace("Mary", "Sandra").replace("John", "Daniel") +
             "1 Daniel went to the kitchen.\n2 Where is Daniel?\tkitchen\t1\n")
    by_task = {1: parse_babi(STORY, 1), 2: parse_babi(other, 2)}   # 2 + 1, 2 + 1 + 1 q.
    pool = pooled(by_task)
    lex = build_lexicon(by_task)
    perfect = evaluate_babi(Oracle(pool, lex), None, by_task, lex, batch_size=3)
    assert perfect == {1: TaskError(3, 0), 2: TaskError(4, 0)}
    spoilt = evaluate_babi(Oracle(pool, lex, spoil={0, 3}), None, by_task, lex)
    assert spoilt == {1: TaskError(3, 2), 2: TaskError(4, 1)}
    assert spoilt[1].error == pytest.approx(200 / 3)
    assert mean_error(spoilt) == pytest.approx((200 / 3 + 25) / 2)
    assert failed_tasks(spoilt) == [1, 2] and failed_tasks(perfect) == []
    assert failed_tasks({1: TaskError(100, 5)}) == []             # 5 % is not > 5 %

def test_error_table_rows():
    res = {t: TaskError(1000, 10 * t) for t in range(1, 21)}
    table = error_table(res, "mine").splitlines()
    assert table[0].startswith("| task | mine | DNC1 | DNC2 | LSTM | MemN2N |")
    assert len(table) == 2 + 20 + 2
    assert "| 19: path finding | 19.0 | 64.6 ± 37.4 |" in table[20]
    assert table[-2].startswith("| mean error (%) | 10.5 | 16.7 ± 7.6 (best 4.3)")
    assert table[-1].startswith("| failed tasks (> 5 %) | 15 |")
    assert round(sum(m for m, s in PAPER_DNC1.values()) / 20, 1) == 16.7


# --- validation split -----------------------------------------------------------------

@given(st.dictionaries(st.integers(1, 20), st.integers(0, 60), min_size=1, max_size=5),
       st.integers(0, 100))
def test_split_validation(sizes, seed):
    stories = {t: [f"{t}:{i}" for i in range(n)] for t, n in sizes.items()}
    train, valid = split_validation(stories, 0.1, seed)
    for t, n in sizes.items():
        assert len(valid[t]) == round(0.1 * n)
        assert sorted(train[t] + valid[t]) == sorted(stories[t])
        assert train[t] == [s for s in stories[t] if s in train[t]]    # file order kept
    alone = split_validation({t: stories[t] for t in list(sizes)[:1]}, 0.1, seed)[1]
    assert all(alone[t] == valid[t] for t in alone)       # independent of other tasks
    assert split_validation(stories, 0.1, seed)[1] == valid


# --- asking a question ----------------------------------------------------------------

def test_answer_story():
    stories = parse_babi(STORY, 8)
    lex = build_lexicon(stories)
    model = DNC.from_config(DNCConfig.tiny(input_size=len(lex), output_size=len(lex)))
    params = model.init(seed=0)
    one = answer_story(model, params, "Mary got the milk there. Where is Mary?", lex)
    assert len(one) == 1 and one[0] in lex.words
    two = answer_story(model, params, "Mary got the milk there. Where is Mary?", lex,
                       num_words=2)
    assert len(two) == 2 and two[0] == one[0]      # the network only looks backwards
    typed = answer_story(model, params, "mary got the milk . where is mary ? - john "
                         "went to the garden . where is john ? -", lex)
    assert len(typed) == 2
    with pytest.raises(ValueError, match="not in the lexicon of .*: 'flew', 'florida'"):
        answer_story(model, params, "mary flew to florida . where is mary ?", lex)
    with pytest.raises(ValueError, match="must end with a question"):
        answer_story(model, params, "mary got the milk there .", lex)
    other = DNC.from_config(DNCConfig.tiny(input_size=5, output_size=5))
    with pytest.raises(ValueError, match="the network reads 5"):
        answer_story(other, other.init(0), "where is mary ?", lex)


# --- the real data (skips without the shared copy) ------------------------------------

# stories per task of en-10k (train, test): most tasks have 5 questions per story
STORIES = {1: (2000, 200), 2: (2000, 200), 3: (2000, 200), 4: (10000, 1000),
           5: (2000, 200), 6: (2000, 200), 7: (2000, 200), 8: (2000, 200),
           9: (2000, 200), 10: (2000, 200), 11: (2000, 200), 12: (2000, 200),
           13: (2000, 200), 14: (2000, 200), 15: (2500, 250), 16: (10000, 1000),
           17: (1250, 125), 18: (1978, 199), 19: (10000, 1000), 20: (933, 93)}

def test_shared_copy_lexicon_and_counts():
    path = find_babi(ROOT)
    if path is None:
        pytest.skip("the bAbI data is not at ../shared/data/babi (nor DNC_LIT_BABI)")
    data = load_babi(path)
    assert len(build_lexicon(data.train)) == 159           # 156 words + '.', '?', '-'
    assert build_lexicon(data.train) == build_lexicon(pooled(data.train) +
                                                      pooled(data.test))   # no new word
    for t in range(1, 21):
        small = (t, "train") in data.substituted                  # the 1k file instead
        q_train = sum(len(story_answers(s)) for s in data.train[t])
        assert q_train == (1000 if small else 10000), t
        assert sum(len(story_answers(s)) for s in data.test[t]) == 1000, t
        assert len(data.train[t]) == STORIES[t][0] // (10 if small else 1), t
        assert len(data.test[t]) == STORIES[t][1], t
    assert set(data.substituted) <= {(3, "train")}
