"""Help wrap a notebook's code cells to 88 characters: the mechanical part only.

    .venv/bin/python tools/wrap_cells.py [--format] nbs/45_fast.ipynb [...]

For every code line longer than 88 characters it
- moves a trailing comment onto its own line(s) above the code, at the code's indentation;
- re-fills a docstring (of a module, class or function) to the width, one paragraph at a time
  (a one-line docstring becomes a triple-quoted one);
and, with --format, hands each statement that still has a long line to `ruff format` (at
the width left after its indentation); then it lists the lines that are still too long, to be
wrapped by hand. Cells that do not parse as Python (cell magics) are left alone. The notebook is
rewritten in place (outputs, metadata and cell ids kept). Not run by any make target."""
import ast, inspect, io, json, subprocess, sys, textwrap, tokenize
from pathlib import Path

WIDTH = 88


def _comment_splits(src):
    "{line number: column where its trailing comment starts}, for lines with code before it."
    out = {}
    try: toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError): return out
    for t in toks:
        if t.type == tokenize.COMMENT:
            line = t.line.splitlines()[0] if t.line else ""
            if line[:t.start[1]].strip(): out[t.start[0]] = t.start[1]
    return out


def move_comments(src):
    "Long lines with a trailing comment: the comment goes above, wrapped if it must."
    splits, lines = _comment_splits(src), src.split("\n")
    new = []
    for n, line in enumerate(lines, 1):
        if len(line) <= WIDTH or n not in splits:
            new.append(line); continue
        code, comment = line[:splits[n]].rstrip(), line[splits[n]:].lstrip("#").strip()
        indent = line[:len(line) - len(line.lstrip())]
        if not comment.startswith("|"):
            new += textwrap.wrap(comment, WIDTH, initial_indent=indent + "# ",
                                 subsequent_indent=indent + "# ", break_on_hyphens=False)
        new.append(code)
    return "\n".join(new)


def fill_docstrings(src):
    "Docstrings with a line over WIDTH, re-filled (paragraph by paragraph)."
    try: tree = ast.parse(src)
    except SyntaxError: return src
    lines = src.split("\n")
    jobs = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        body = node.body
        if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)): continue
        d = body[0]
        span = lines[d.lineno - 1:d.end_lineno]
        raw = "\n".join(span)[d.col_offset:]
        if all(len(l) <= WIDTH for l in span) or "\\" in raw or raw.startswith(("r", "f", "b")):
            continue
        if d.end_col_offset != len(lines[d.end_lineno - 1].rstrip().encode()):
            continue                                       # code after it on its line
        jobs.append((d.lineno, d.end_lineno, d.col_offset, inspect.cleandoc(d.value.value)))
    for start, end, col, text in sorted(jobs, reverse=True):
        indent = " " * col
        paras = [p for p in text.split("\n\n")]
        out = []
        for i, p in enumerate(paras):
            first = indent + ('"""' if i == 0 else "")
            out += textwrap.wrap(" ".join(p.split()), WIDTH, initial_indent=first,
                                 subsequent_indent=indent, break_on_hyphens=False,
                                 break_long_words=False) or [first]
            if i < len(paras) - 1: out.append("")
        if len(out[-1]) + 3 > WIDTH:
            last = out[-1].split(" ")
            out[-1:] = [" ".join(last[:-1]), indent + last[-1]]
        out[-1] += '"""'
        prefix = lines[start - 1][:col]
        if prefix.strip(): continue                        # something before it on its line
        lines[start - 1:end] = out
    return "\n".join(lines)


RUFF = Path(sys.executable).parent / "ruff"


def ruff_format(code, width):
    "`code` (one statement, dedented) formatted by ruff at `width`, or None if it fails."
    r = subprocess.run([str(RUFF), "format", "--line-length", str(width), "--stdin-filename",
                        "cell.py", "-"], input=code, capture_output=True, text=True)
    return r.stdout.rstrip("\n") if r.returncode == 0 else None


def format_long_statements(src):
    "Each smallest statement holding a line over WIDTH, reformatted by ruff where that helps."
    tried = set()
    for _ in range(100):                                    # one statement per round
        try: tree = ast.parse(src)
        except SyntaxError: return src
        lines = src.split("\n")
        long = [n for n, l in enumerate(lines, 1) if len(l) > WIDTH]
        best = None
        for node in ast.walk(tree):
            if not isinstance(node, ast.stmt) or (node.lineno, node.end_lineno) in tried:
                continue
            simple = not hasattr(node, "body")
            last = node.end_lineno if simple else max(node.body[0].lineno - 1, node.lineno)
            for n in long:
                if node.lineno <= n <= last and (best is None or node.end_lineno - node.lineno
                                                 < best.end_lineno - best.lineno):
                    best = node
        if best is None: return src
        tried.add((best.lineno, best.end_lineno))
        start = best.lineno - 1
        while start > 0 and lines[start - 1].lstrip().startswith("@"): start -= 1
        indent = len(lines[best.lineno - 1]) - len(lines[best.lineno - 1].lstrip())
        code = textwrap.dedent("\n".join(lines[start:best.end_lineno]))
        new = ruff_format(code, WIDTH - indent)
        if new is None or new == code: continue
        new_lines = [(" " * indent + l) if l else l for l in new.split("\n")]
        candidate = "\n".join(lines[:start] + new_lines + lines[best.end_lineno:])
        try: ast.parse(candidate)
        except SyntaxError: continue
        if sum(len(l) > WIDTH for l in new_lines) >= sum(
                len(l) > WIDTH for l in lines[start:best.end_lineno]): continue
        src, tried = candidate, set()                      # line numbers moved: start over
    return src


def main(paths):
    fmt = "--format" in paths
    paths = [p for p in paths if p != "--format"]
    for p in map(Path, paths):
        nb = json.loads(p.read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code": continue
            src = "".join(cell["source"])
            if src.lstrip().startswith("%%"): continue
            new = fill_docstrings(move_comments(src))
            if fmt: new = format_long_statements(new)
            try: ast.parse(new)
            except SyntaxError:
                try: ast.parse(src)
                except SyntaxError: new = src        # it never parsed: leave it
                else: raise SystemExit(f"{p} cell {i}: the wrapping broke the code")
            if new != src:
                cell["source"] = [l + "\n" for l in new.split("\n")]
                cell["source"][-1] = cell["source"][-1][:-1]
            for line in new.split("\n"):
                if len(line) > WIDTH: print(f"{p.name}: cell {i}: {len(line)}: {line}")
        p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
