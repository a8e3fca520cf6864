"""bench/babi_permute.py, the experiment that renames the people and places of every
task-1 story it draws: a renamed story keeps its logic (each answer is still where the
person asked about went last), the renaming is a permutation within names and within
places, and the draws are fresh stories, not copies of the training stories."""
import json
import numpy as onp

from dnc_lit.babi import Question, Story, build_lexicon, story_answers, story_words
from dnc_lit.checkpoint import load_checkpoint
from helpers import load_tool

NAMES = ["daniel", "john", "mary", "sandra"]
PLACES = ["bathroom", "bedroom", "garden", "hallway", "kitchen", "office"]


def permute_module():
    return load_tool("babi_permute", "bench")


def task1_story(rng, moves=6):
    "A made-up task-1 story: people move, and after every second move one is asked."
    where, lines = {}, []
    for k in range(moves):
        who, to = rng.choice(NAMES), rng.choice(PLACES)
        where[who] = to
        lines.append((who, "went", "to", "the", to, "."))
        if k % 2:
            asked = rng.choice(sorted(where))
            lines.append(Question(("where", "is", asked, "?"), (where[asked],), ()))
    return Story(1, tuple(lines), "made up")


def last_place(story):
    "The answers a correct reader gives: where the person asked about went last."
    where, out = {}, []
    for line in story.lines:
        if isinstance(line, Question): out.append((where[line.words[2]],))
        else: where[line[0]] = line[4]
    return out


def test_renamed_stories_keep_their_logic_and_are_new():
    bp, rng = permute_module(), onp.random.default_rng(0)
    stories = [task1_story(rng) for _ in range(30)]
    assert all(story_answers(s) == last_place(s) for s in stories)
    names, places = bp.entities(stories)
    assert set(names) <= set(NAMES) and set(places) <= set(PLACES)
    mapping = dict(zip(names, names[1:] + names[:1]))
    mapping.update(zip(places, places[1:] + places[:1]))
    s = bp.renamed(stories[0], mapping)
    assert story_answers(s) == last_place(s) != story_answers(stories[0])
    assert len(story_words(s)) == len(story_words(stories[0]))

    lexicon = build_lexicon(stories)
    sample = bp.permuting_sampler(stories, lexicon, length_groups=2)
    originals = {tuple(story_words(st)) for st in stories}
    fresh = 0
    for _ in range(10):
        b = sample(rng, batch_size=4)
        for x, z, m, n in zip(b.inputs, b.targets, b.mask, b.lengths):
            words = lexicon.decode(x[:n].argmax(-1))
            answers = [w for w, k in zip(lexicon.decode(z[:n].argmax(-1)), m[:n]) if k]
            # read back as a story: its answers are where the asked person went last
            where, expect = {}, []
            for i, w in enumerate(words):
                if w == "?": expect.append(where[words[i - 1]])
                elif w == "." and words[i - 5] in NAMES:   # "who went to the place ."
                    where[words[i - 5]] = words[i - 1]
            assert answers == expect
            fresh += tuple(words) not in originals
    assert fresh > 20                   # most draws are renamed, not training stories


def test_runs_with_the_papers_optimiser_and_resumes_with_it(tmp_path):
    """--optimiser rmsprop --momentum 0.9 and --questions: recorded in the checkpoint
    and kept on resume."""
    from test_babi_cli import write_archive          # a small archive
    bp, data = permute_module(), write_archive(tmp_path / "tasks_1-20_v1-2.tar.gz")
    out, log = tmp_path / "p.npz", tmp_path / "p.jsonl"
    common = ["--out", str(out), "--log", str(log), "--validate-every", "2",
              "--validate-stories", "1"]
    assert bp.main(common + ["--steps", "2", "--data", str(data), "--preset", "tiny",
                             "--optimiser", "rmsprop", "--lr", "1e-4",
                             "--momentum", "0.9", "--batch-size", "1",
                             "--questions", "1"]) == 0
    m = load_checkpoint(out).metadata
    assert m["step"] == 2 and m["tasks"] == [1] and m["renamed"]
    assert m["optimiser"]["name"] == "rmsprop"
    assert m["optimiser"]["hyper"]["momentum"] == 0.9
    assert m["optimiser"]["hyper"]["lr"] == 1e-4
    assert bp.main(common + ["--steps", "4"]) == 0             # resumed: no --data
    m = load_checkpoint(out).metadata
    assert m["step"] == 4 and m["optimiser"]["hyper"]["momentum"] == 0.9
    assert m["questions"] == 1                                  # stories still cut
    assert load_checkpoint(out).config["hidden_size"] == 16     # the tiny preset
    lstm = tmp_path / "lstm.npz"                                # the LSTM baseline
    assert bp.main(["--out", str(lstm), "--log", str(tmp_path / "l.jsonl"), "--steps",
                    "2", "--validate-every", "2", "--validate-stories", "1",
                    "--preset", "lstm-tiny", "--data", str(data)]) == 0
    assert load_checkpoint(lstm).config["network"] == "lstm"
    assert bp.main(["--out", str(lstm), "--log", str(tmp_path / "l.jsonl"), "--steps",
                    "4", "--validate-every", "2", "--validate-stories", "1"]) == 0
    assert load_checkpoint(lstm).metadata["step"] == 4
    valid = [json.loads(x) for x in open(f"{out}.valid.jsonl")]
    assert [v["step"] for v in valid] == [2, 4]


def test_stories_cut_after_their_first_questions():
    "--questions K: each drawn story ends at its K-th question, and keeps its logic."
    bp, rng = permute_module(), onp.random.default_rng(1)
    stories = [task1_story(rng, moves=8) for _ in range(20)]      # 4 questions each
    s = bp.first_questions(stories[0], 2)
    assert s.lines == stories[0].lines[:6] and isinstance(s.lines[-1], Question)
    assert bp.first_questions(stories[0], 9) == stories[0]
    lexicon = build_lexicon(stories)
    for k in (1, 3):
        b = bp.permuting_sampler(stories, lexicon, length_groups=2, questions=k)(rng, 4)
        for x, z, m, n in zip(b.inputs, b.targets, b.mask, b.lengths):
            words = lexicon.decode(x[:n].argmax(-1))
            assert words.count("?") == k == int(m[:n].sum())
            assert words[-1] == "-" and words[-2] == "?"
            where = {}
            for i, w in enumerate(words):
                if w == "." and words[i - 5] in NAMES:
                    where[words[i - 5]] = words[i - 1]
            asked = words[-3]
            assert lexicon.decode([z[n - 1].argmax()]) == [where[asked]]


def test_lessons_move_on_when_the_training_batches_are_right(tmp_path):
    "--lessons: the stories lengthen once a chunk's training error is below the bar."
    from test_babi_cli import write_archive
    bp, data = permute_module(), write_archive(tmp_path / "tasks_1-20_v1-2.tar.gz")
    out, log = tmp_path / "p.npz", tmp_path / "p.jsonl"
    common = ["--out", str(out), "--log", str(log), "--validate-every", "2",
              "--validate-stories", "1", "--preset", "tiny", "--data", str(data)]
    assert bp.main(common + ["--steps", "4", "--lessons", "1,2",
                             "--advance-below", "2"]) == 0     # every chunk passes
    m = load_checkpoint(out).metadata
    assert m["advanced"] == [[0, 1], [2, 2]] and m["questions"] == 2
    assert m["lessons"] == [1, 2]                  # the last lesson is not left
    out2, log2 = tmp_path / "q.npz", tmp_path / "q.jsonl"
    assert bp.main([*common[4:], "--out", str(out2), "--log", str(log2), "--steps", "4",
                    "--lessons", "1,2", "--advance-below", "0"]) == 0   # none passes
    m = load_checkpoint(out2).metadata
    assert m["advanced"] == [[0, 1]] and m["questions"] == 1
    rows = [{"step": k, "question_errors": e} for k, e in ((1, .5), (2, .3), (3, .1))]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert bp.training_error(tmp_path / "r.jsonl", 1, 3) == (.3 + .1) / 2
    assert bp.training_error(tmp_path / "r.jsonl", 3, 8) == 1.0   # nothing logged
