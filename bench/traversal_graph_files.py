"""A traversal checkpoint on graphs of names written as CSV files, as a user asks them.

Writes twelve graphs of different kinds (all within 30 nodes and four out-edges per
node, the largest of the traversal lessons up to lesson 14) as CSV files, then runs
`dnc-lit evaluate CHECKPOINT --graph FILE --map-seed S --lengths 1-L --json` on each,
for each map seed, with L the longest path of the last lesson the checkpoint passed.
Records the share of walks answered exactly per graph, map seed and length, with the
command, the machine and the date. A measurement, not a test.

The graphs: three random graphs of 12, 20 and 30 nodes whose edges share six colour
names; a 5 x 5 grid with compass edges; a ring of 20 with next, prev and jump edges; a
binary tree of 15 with left, right and up edges; a graph of 18 nodes with a name of its
own for every edge; a line of 15 stations both ways; four hubs in a ring with two leaves
each; a 4 x 6 torus; 28 points each linked to its three nearest neighbours by five
colour names; eight nodes with four out-edges each.

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/traversal_graph_files.py \\
    [--checkpoint dnc_lit/weights/traversal.npz] [--out FILE.json] [--num-sequences 30]
"""
import argparse, contextlib, datetime, io, itertools, json, os, platform, sys, tempfile
from importlib.resources import files
from pathlib import Path

import numpy as onp

from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.cli import main as dnc_lit_main
from dnc_lit.curriculum import Curriculum


def graph_files(rng):
    "name -> rows (source, edge, destination) of the twelve graphs."
    out = {}
    colours = ["red", "blue", "green", "gold", "grey", "pink"]
    for k, n in enumerate((12, 20, 30)):
        rows = []
        for i in range(n):
            deg = int(rng.integers(2, 5))
            names = rng.choice(colours, deg, replace=False)
            dests = rng.choice([j for j in range(n) if j != i], deg, replace=False)
            rows += [(f"n{i}", str(e), f"n{d}") for e, d in zip(names, dests)]
        out[f"random {n}"] = rows
    compass = dict(north=(0, 1), south=(0, -1), east=(1, 0), west=(-1, 0))
    out["grid 5 x 5"] = [(f"c{x}{y}", e, f"c{x + dx}{y + dy}")
                         for x, y in itertools.product(range(5), range(5))
                         for e, (dx, dy) in compass.items()
                         if 0 <= x + dx < 5 and 0 <= y + dy < 5]
    out["ring of 20"] = [(f"s{i}", e, f"s{(i + d) % 20}") for i in range(20)
                         for e, d in (("next", 1), ("prev", -1), ("jump", 7))]
    children = lambda i: (("left", 2 * i + 1), ("right", 2 * i + 2))
    out["tree of 15"] = [r for i in range(15) for e, c in children(i) if c < 15
                         for r in ((f"t{i}", e, f"t{c}"), (f"t{c}", "up", f"t{i}"))]
    rows, k = [], 0
    for i in range(18):
        for d in rng.choice([j for j in range(18) if j != i], int(rng.integers(1, 5)),
                            replace=False):
            k += 1
            rows.append((f"v{i}", f"road {k}", f"v{d}"))
    out["a name per edge"] = rows
    out["line of 15"] = [r for i in range(14)
                         for r in ((f"st{i}", "next", f"st{i + 1}"),
                                   (f"st{i + 1}", "prev", f"st{i}"))]
    rows = []
    for h in range(4):
        rows += [(f"hub{h}", "clockwise", f"hub{(h + 1) % 4}"),
                 (f"hub{h}", "anticlockwise", f"hub{(h - 1) % 4}")]
        for l in range(2):
            rows += [(f"hub{h}", f"spoke{l}", f"leaf{h}_{l}"),
                     (f"leaf{h}_{l}", "home", f"hub{h}")]
    out["hubs"] = rows
    sides = dict(up=(0, 1), down=(0, -1), right=(1, 0), left=(-1, 0))
    out["torus 4 x 6"] = [(f"t{x}_{y}", e, f"t{(x + dx) % 4}_{(y + dy) % 6}")
                          for x, y in itertools.product(range(4), range(6))
                          for e, (dx, dy) in sides.items()]
    pts, rows = rng.random((28, 2)), []
    for i in range(28):
        d = ((pts - pts[i]) ** 2).sum(1)
        d[i] = onp.inf
        for e, j in zip(rng.choice(colours[:5], 3, replace=False), onp.argsort(d)[:3]):
            rows.append((f"p{i}", str(e), f"p{j}"))
    out["nearest neighbours"] = rows
    out["dense 8"] = [(f"q{i}", e, f"q{j}") for i in range(8) for e, j in zip(
        "abcd", rng.choice([x for x in range(8) if x != i], 4, replace=False))]
    return out


def evaluate(checkpoint, path, map_seed, L, n):
    "`dnc-lit evaluate ... --json` in this process: {length: share solved}."
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = dnc_lit_main(["evaluate", str(checkpoint), "--graph", str(path),
                             "--map-seed", str(map_seed), "--lengths", f"1-{L}",
                             "--num-sequences", str(n), "--json"])
    if code != 0: raise SystemExit(f"dnc-lit evaluate failed on {path}")
    return {int(k): v["solved"] for k, v in json.loads(out.getvalue()).items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=str(files("dnc_lit") / "weights" /
                                                "traversal.npz"))
    ap.add_argument("--out", help="write the record as JSON here")
    ap.add_argument("--num-sequences", type=int, default=30, help="walks per length")
    ap.add_argument("--map-seeds", type=int, nargs="+", default=[0, 1])
    a = ap.parse_args(argv)
    m = load_checkpoint(a.checkpoint).metadata
    last = max(p["lesson"] for p in m["curriculum_state"]["passed"])
    lesson = Curriculum.from_json(m["curriculum"]).lessons[last - 1]
    L = lesson["path_length"][1]
    work, results = Path(tempfile.mkdtemp()), {}
    for name, rows in graph_files(onp.random.default_rng(777)).items():
        path = work / (name.replace(" ", "_") + ".csv")
        path.write_text("source,edge,destination\n"
                        + "".join(",".join(r) + "\n" for r in rows))
        results[name] = {"nodes": len({x for s, _, d in rows for x in (s, d)}),
                         "edges": len(rows), "edge_names": len({e for _, e, _ in rows}),
                         "maps": {}}
        for s in a.map_seeds:
            by_length = evaluate(a.checkpoint, path, s, L, a.num_sequences)
            results[name]["maps"][str(s)] = by_length
            mean = onp.mean(list(by_length.values()))
            print(f"{name:20s} map {s}: {100 * mean:5.1f} %  " + " ".join(
                f"{100 * v:3.0f}" for v in by_length.values()), flush=True)
    means = [onp.mean(list(v.values())) for r in results.values()
             for v in r["maps"].values()]
    longest = [v[L] for r in results.values() for v in r["maps"].values()]
    print(f"all: mean {100 * onp.mean(means):.1f} %, lowest graph and map "
          f"{100 * min(means):.1f} %; walks of {L} steps "
          f"{100 * onp.mean(longest):.1f} %")
    if a.out:
        record = {
            "recorded": {
                "date": datetime.datetime.now(datetime.timezone.utc)
                .strftime("%Y-%m-%d %H:%M UTC"),
                "command": "OMP_NUM_THREADS=1 .venv/bin/python bench/"
                           "traversal_graph_files.py " + " ".join(argv or sys.argv[1:]),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                           f"{platform.python_version()}, one BLAS thread"},
            "checkpoint_step": m["step"], "last_passed": last, "lesson": lesson,
            "num_sequences": a.num_sequences, "graphs": results,
            "mean": float(onp.mean(means)), "lowest": float(min(means)),
            "longest_walks": float(onp.mean(longest))}
        Path(a.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
