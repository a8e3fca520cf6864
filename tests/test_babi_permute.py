"""bench/babi_permute.py, the experiment that renames the people and places of every
task-1 story it draws: a renamed story keeps its logic (each answer is still where the
person asked about went last), the renaming is a permutation within names and within
places, and the draws are fresh stories, not copies of the training stories."""
import importlib.util
from pathlib import Path
import numpy as onp

from dnc_lit.babi import Question, Story, build_lexicon, story_answers, story_words

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["daniel", "john", "mary", "sandra"]
PLACES = ["bathroom", "bedroom", "garden", "hallway", "kitchen", "office"]


def permute_module():
    spec = importlib.util.spec_from_file_location(
        "babi_permute", ROOT / "bench" / "babi_permute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
