"""bench/babi_widen.py, which starts joint bAbI training from a network trained on
task 1 alone: on task-1 stories the widened network gives task 1's words the scores the
task-1 network gave them (every trained weight is where its word now is), the new words
get a fresh network's weights, and the result is a step-0 run, trained on all 20 tasks
and resumed keeping where it came from."""
import numpy as onp

from dnc_lit import babi
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.train import build_model, config_from_json, NETWORKS, network_name
from helpers import load_tool



def test_widened_networks_answer_task_1_as_before_and_resume_jointly(tmp_path):
    from test_babi_cli import write_archive          # a small archive of all 20 tasks
    bp, bw = load_tool("babi_permute", "bench"), load_tool("babi_widen", "bench")
    data = write_archive(tmp_path / "tasks_1-20_v1-2.tar.gz")
    stories = babi.load_babi(data, "en-10k", [1]).train[1][:4]
    for preset in ("tiny", "lstm-tiny"):
        src, wide = tmp_path / f"{preset}.npz", tmp_path / f"{preset}-wide.npz"
        assert bp.main(["--out", str(src), "--log", str(tmp_path / f"{preset}.jsonl"),
                        "--steps", "3", "--validate-every", "3", "--validate-stories",
                        "1", "--preset", preset, "--data", str(data)]) == 0
        run = ["--out", str(wide), "--log", str(tmp_path / f"{preset}-wide.jsonl"),
               "--validate-every", "2", "--validate-stories", "1"]
        assert bw.main(run + ["--steps", "0", "--start-from", str(src), "--data",
                              str(data), "--batch-size", "2", "--lr", "1e-3"]) == 0
        a, b = load_checkpoint(src), load_checkpoint(wide)
        old, new = a.metadata["lexicon"], b.metadata["lexicon"]
        assert len(new) > len(old) and new != old[:len(new)]   # the words moved
        assert b.metadata["step"] == 0 and b.metadata["tasks"] == list(range(1, 21))
        w = b.metadata["widened_from"]
        assert w["step"] == 3 and w["lexicon_size"] == len(old)
        assert w["stories_seen"] == 3 * a.metadata["task_args"]["batch_size"]
        assert b.metadata["optimiser"]["hyper"]["lr"] == 1e-3
        ya = build_model(config_from_json(a.config)).apply(
            a.params, babi.babi_batch(stories, babi.Lexicon(old)).inputs)
        yb = build_model(config_from_json(b.config)).apply(
            b.params, babi.babi_batch(stories, babi.Lexicon(new)).inputs)
        where = [new.index(x) for x in old]
        assert onp.allclose(onp.asarray(yb)[..., where], ya, atol=1e-5)
        config = config_from_json(b.config)
        fresh = NETWORKS[network_name(config)].init_params(config, 0)
        others = [i for i in range(len(new)) if i not in where]
        assert onp.array_equal(b.params["lstm1_W"][others], fresh["lstm1_W"][others])
        assert onp.array_equal(b.params["W_y"][:, others], fresh["W_y"][:, others])
        assert not onp.array_equal(b.params["lstm1_W"][where], fresh["lstm1_W"][where])
        assert bw.main(run + ["--steps", "2"]) == 0           # resumed: all 20 tasks
        m = load_checkpoint(wide).metadata
        assert m["step"] == 2 and m["widened_from"] == w and m["tasks"] == b.metadata[
            "tasks"] and m["optimiser"]["hyper"]["lr"] == 1e-3
        assert m["resumed"][0]["step"] == 0
        valid = open(f"{wide}.valid.jsonl").read().splitlines()
        assert len(valid) == 1 and '"step": 2' in valid[0]
        shipped = tmp_path / f"{preset}-shipped.npz"          # the cost travels along
        ship = load_tool("ship_weights")
        assert ship.main([str(wide), str(shipped)]) == 0
        assert load_checkpoint(shipped).metadata["widened_from"] == w
