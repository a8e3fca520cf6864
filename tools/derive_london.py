"""Derive the London Underground test graph of the chapter "The test graphs".

Reads london.stations.csv, london.connections.csv and london.lines.csv of the tubemaps
package by Nicola Greco (github.com/nicola/tubemaps, ISC licence) and writes three CSV
files, each with a comment header that says where it came from and carries the licence:

  london_zone1.csv           source,edge,destination
                             (station, "<line>, <direction>bound", station)
  london_zone1_stations.csv  station,latitude,longitude,zone
  london_lines.csv           line,colour (of the lines in the graph)

Run from the repository root, by a developer who has the data (users never need it):

  .venv/bin/python tools/derive_london.py --source ../shared/data/london-underground

--out (default dnc_lit/data) says where to write; --zones (default 1) which fare zones
to keep, e.g. --zones 1 1.5 to add the zone-1/2 boundary stations. The direction rule is
dnc_lit.testgraphs.line_edges, so a change to the rule in the chapter changes the file.
"""
import argparse, csv, io, sys, textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dnc_lit.testgraphs import TUBEMAPS_NOTICE, line_edges  # noqa: E402

RENAMES = {"Picadilly Circus": "Piccadilly Circus",    # a spelling mistake in the data
           "Edgware Road (B)": "Edgware Road (Bakerloo line)",
           "Edgware Road (C)": "Edgware Road (Circle line)"}
CANDIDATES = [ROOT.parent / "shared/data/london-underground",
              Path("/work/shared/data/london-underground")]


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def line_name(name):
    "'Victoria Line' -> 'Victoria line' (the paper's and TfL's running-text style)."
    return name[:-5] + " line" if name.endswith(" Line") else name


def derive(source, zones=("1",)):
    "The tables (edges, stations, lines), and the stations dropped for want of an edge."
    stations = {r["id"]: r for r in read(source / "london.stations.csv")}
    lines = {r["line"]: r for r in read(source / "london.lines.csv")}
    keep = {i for i, r in stations.items() if r["zone"] in zones}
    conns = {(min(a, b), max(a, b), r["line"])
             for r in read(source / "london.connections.csv")
             for a, b in [(r["station1"], r["station2"])] if a in keep and b in keep}
    used = {x for a, b, _ in conns for x in (a, b)}
    name = lambda i: RENAMES.get(stations[i]["name"], stations[i]["name"])
    where = {name(i): (float(stations[i]["latitude"]), float(stations[i]["longitude"]))
             for i in used}
    edges = line_edges(where, [(name(a), name(b), line_name(lines[l]["name"]))
                               for a, b, l in conns])
    table = sorted((name(i), stations[i]["latitude"], stations[i]["longitude"],
                    stations[i]["zone"]) for i in used)
    colours = sorted({(line_name(lines[l]["name"]), lines[l]["colour"])
                      for _, _, l in conns})
    dropped = sorted(name(i) for i in keep - used)
    return edges, table, colours, dropped


def header(what, zones, dropped, renames):
    "A derived file's comment header: its origin, what was kept and changed, licence."
    zone_text = ("zone " if len(zones) == 1 else "zones ") + ", ".join(zones)
    paras = [f"The London Underground, {zone_text}: {what}.",
             "Derived by tools/derive_london.py (dnc_lit) from london.stations.csv, "
             "london.connections.csv and london.lines.csv of the tubemaps package by "
             "Nicola Greco (github.com/nicola/tubemaps), a dated snapshot of the "
             "network (it still lists the East London line as a tube line).",
             f"Kept: the stations of {zone_text} with a connection to another of "
             "them, and every line-labelled connection between two of them, as an edge "
             "each way."]
    if dropped:
        paras.append("Left out for want of such a connection: " + ", ".join(dropped)
                     + ".")
    if renames:
        paras.append("Renamed: " + "; ".join(f"{a} -> {b}" for a, b in renames) + ".")
    if what.startswith("edges"):
        paras.append("Edge names: '<line>, <direction>bound', the direction the "
                     "compass point (of 4) nearest the bearing from source to "
                     "destination; 8 points where 4 would give a station two out-edges "
                     "of one name "
                     "(dnc_lit.testgraphs.line_edges).")
    lines = [l for para in paras
             for l in textwrap.wrap(para, 86, break_on_hyphens=False)]
    lines += ["", "The data's licence (ISC):", ""] + TUBEMAPS_NOTICE.splitlines()
    return "".join(f"# {l}".rstrip() + "\n" for l in lines)


def to_csv(head, columns, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return head + buf.getvalue()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=Path, default=None,
                   help="the tubemaps CSV files "
                        "(default: ../shared/data/london-underground)")
    p.add_argument("--out", type=Path, default=ROOT / "dnc_lit" / "data")
    p.add_argument("--zones", nargs="+", default=["1"],
                   help="fare zones to keep (default 1)")
    a = p.parse_args(argv)
    source = a.source or next((c for c in CANDIDATES if c.is_dir()), None)
    if source is None or not (source / "london.stations.csv").is_file():
        p.error(f"no tubemaps data at {source or CANDIDATES[0]}; pass --source")
    edges, stations, colours, dropped = derive(source, tuple(a.zones))
    names = {r[0] for r in stations}
    renames = [(k, v) for k, v in RENAMES.items() if v in names]
    a.out.mkdir(parents=True, exist_ok=True)
    files = {"london_zone1.csv": ("edges (directed, named by line and direction)",
                                  ("source", "edge", "destination"), edges),
             "london_zone1_stations.csv": (
                 "stations", ("station", "latitude", "longitude", "zone"), stations),
             "london_lines.csv": (
                 "lines and their colours", ("line", "colour"), colours)}
    for fname, (what, columns, rows) in files.items():
        text = to_csv(header(what, a.zones, dropped, renames), columns, rows)
        (a.out / fname).write_text(text, encoding="utf-8")
        print(f"wrote {a.out / fname}: {len(rows)} rows")


if __name__ == "__main__":
    main()
