"""CI check: the exported library and the cleaned notebooks must already be committed.

Runs `nbdev-export` and `nbdev-clean`, then asks git whether anything under dnc_lit/ or nbs/ changed.
On drift it names the files and says what to run, and exits 1.
"""
import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def changed(paths):
    out = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [line[3:] for line in out.splitlines()]

def main():
    before = set(changed(["dnc_lit", "nbs"]))
    if before:
        print("check: uncommitted changes already present before exporting:", *sorted(before), sep="\n  ")
    subprocess.run([str(BIN / "nbdev-export")], cwd=ROOT, check=True)
    lib = sorted(set(changed(["dnc_lit"])) - before)
    subprocess.run([str(BIN / "nbdev-clean")], cwd=ROOT, check=True)
    nbs = sorted(set(changed(["nbs"])) - before)
    ok = True
    if lib:
        ok = False
        print("check FAILED: dnc_lit/ does not match the notebooks. These files change when exported:",
              *lib, sep="\n  ")
        print("The notebooks are the source. Run `make export` (nbdev-export) and commit "
              "dnc_lit/.")
    if nbs:
        ok = False
        print("check FAILED: these notebooks are not clean:", *nbs, sep="\n  ")
        print("Run `make clean-nbs` (nbdev-clean) and commit nbs/.")
    if before:
        ok = False
    if ok: print("check: exported library and cleaned notebooks are committed")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
