"""Job overhead: `workbench run` of a trivial notebook vs bare papermill + `jupyter nbconvert --no-input`.

Both sides execute the same two-cell notebook in a fresh python3 kernel and produce an HTML page; workbench also
checks parameters, records the run in SQLite, writes the executed notebook and rebuilds the catalog.
Goal: ratio <= 1.2. Also prints the HTML size of each side (nbconvert's default template inlines ~277 KB of CSS).

    python benchmarks/bench_job_overhead.py [--repeat 5]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

BIN = Path(sys.executable).parent


def timed(cmd, cwd):
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t


def main(repeat: int):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        p = nbformat.v4.new_code_cell("n = 1"); p.metadata["tags"] = ["parameters"]
        nb.cells = [nbformat.v4.new_markdown_cell("# Trivial"), p, nbformat.v4.new_code_cell("print('hello', n)")]
        nbformat.write(nb, d / "trivial.ipynb")
        (d / "settings.ini").write_text("[project]\nname = bench\n[job:trivial]\nnotebook = trivial.ipynb\n")
        ours, base = [], []
        wb = [str(BIN / "workbench"), "--project", str(d), "run", "trivial", "--no-progress"]
        pm = [str(BIN / "papermill"), "trivial.ipynb", "out.ipynb", "--no-progress-bar"]
        nbc = [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", "out.ipynb"]
        timed(wb, d); timed(pm, d)            # warm the file cache once on each side
        for _ in range(repeat):
            ours.append(timed(wb, d))
            base.append(timed(pm, d) + timed(nbc, d))
        o, b = statistics.median(ours), statistics.median(base)
        ours_html = max((d / "reports" / "trivial").glob("*.html"), key=lambda p: p.stat().st_mtime)
        print(f"job overhead ({repeat} runs each, median):")
        print(f"  workbench run            {o:6.2f} s")
        print(f"  papermill + nbconvert    {b:6.2f} s")
        print(f"  ratio                    {o / b:6.2f}x   (goal <= 1.2x)")
        print("report HTML size of the trivial run:")
        print(f"  workbench                {ours_html.stat().st_size / 1024:7.1f} KB")
        print(f"  nbconvert default        {(d / 'out.html').stat().st_size / 1024:7.1f} KB")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    main(ap.parse_args().repeat)
