"""Drift engine: time and peak memory of `fit_reference` + `drift_report` on generated data of 15 columns (10 numeric,
5 categorical as text with 3 to 800 categories), a reference of 100k and of 1M rows against 1M current rows (three
columns drifted), against Evidently's DataDriftPreset Report and NannyML's UnivariateDriftCalculator on the same
files, all measured in this run.

Each case runs in a fresh process that reads the two Parquet files and imports its library first; then its peak
resident memory is reset (/proc/self/clear_refs) and the drift step alone is timed. "before MiB" is the resident set
when the step starts (the interpreter, the libraries and both tables; what Arrow's allocator kept from reading the
files is released first); "peak MiB" is the process's largest resident set during the step, data included, read from
getrusage(RUSAGE_SELF).ru_maxrss; "step MiB" is the difference, the step's own working memory.

The goal: the per-column drift result at 1M + 1M in under 1.5 s and under 0.6 GB peak.

The peers are measured where they can be imported: by this interpreter, or by the one given with --peer-python
(e.g. a separate venv: `python -m venv /tmp/peers && /tmp/peers/bin/pip install evidently nannyml`, never the
project's own environment); otherwise they are reported as not installed and skipped.

    python benchmarks/bench_drift.py [--reference 100000 1000000] [--current 1000000] [--peer-python /tmp/peers/bin/python]
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _isolated import available, measure, program

CASES = {
    "workbench": dict(
        imports="import scipy.stats; from workbench.drift import fit_reference, drift_report   # scipy: imported lazily by the engine",
        fit="r = fit_reference(ref)",
        report="res = drift_report(r, cur); drifted = [c.column for c in res.drifted]"),
    "evidently": dict(
        imports="from evidently import Report; from evidently.presets import DataDriftPreset",
        fit="pass   # no separate fit: the reference is read by each run",
        report=("snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref); d = snap.dict()\n"
                "drifted = [m['config']['column'] for m in d['metrics'] if m['config'].get('column') is not None\n"
                "           and (m['value'] < m['config']['threshold'] if 'p_value' in m['config']['method']\n"
                "                else m['value'] >= m['config']['threshold'])]"),
        check="import evidently"),
    "nannyml": dict(
        imports="import nannyml as nml",
        fit="calc = nml.UnivariateDriftCalculator(column_names=list(ref.columns)).fit(ref)   # its defaults: Jensen-Shannon, 10 chunks",
        report=("res = calc.calculate(cur).filter(period='analysis').to_df()\n"
                "drifted = sorted({c[0] for c in res.columns if c[-1] == 'alert' and res[c].any()})"),
        check="import nannyml"),
}


def make_data(n, seed, drifted):
    "15 columns: 10 numeric (normal, lognormal, integers, uniform, gamma with 5% missing), 5 text ones (3–800 categories)."
    import numpy as np
    import pandas as pd
    r = np.random.default_rng(seed)
    d = {}
    for i in range(10):
        kind = i % 5
        if kind == 0: x = r.normal(50 + (5 if drifted and i == 0 else 0), 10, n)          # num0: +0.5 sd
        elif kind == 1: x = r.lognormal(3, 1, n)
        elif kind == 2: x = r.integers(0, 1000, n)
        elif kind == 3: x = r.uniform(0, 1 + (0.2 if drifted and i == 3 else 0), n)        # num3: stretched by 20%
        else: x = np.where(r.random(n) < 0.05, np.nan, r.gamma(2, 2, n))
        d[f"num{i}"] = x
    for j, k in enumerate((3, 10, 50, 200, 800)):
        labels = np.array([f"{chr(97 + j)}_{i:04d}" for i in range(k)], dtype=object)
        p = np.arange(1, k + 1) ** -1.0
        p /= p.sum()
        if drifted and j == 0: p = p[::-1]                                                  # cat0: shares reversed
        d[f"cat{j}"] = labels[r.choice(k, n, p=p)]
    return pd.DataFrame(d)


def run_case(python, case, ref, cur, timeout):
    return measure(python, program(CASES[case], "report", "drifted=sorted(drifted)"), ref, cur, timeout)


def main(references, current, peer_python, timeout):
    pythons = {"workbench": sys.executable}
    for case in ("evidently", "nannyml"):
        for python in (sys.executable, peer_python):
            if python and available(python, CASES[case]):
                pythons[case] = python
                break
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        # written by a child: a child's ru_maxrss starts from its parent's, so this process stays small
        files = [(current, 1, True, d / "current.parquet")] + [(n, 0, False, d / f"reference_{n}.parquet") for n in references]
        write = "import sys; sys.path.insert(0, sys.argv[1]); from bench_drift import make_data\n"
        write += "".join(f"make_data({n}, {seed}, {drifted}).to_parquet({str(f)!r}, index=False)\n" for n, seed, drifted, f in files)
        subprocess.run([sys.executable, "-c", write, str(Path(__file__).parent)], check=True)
        print(f"drift: 15 columns (10 numeric, 5 text), reference against {current:,} current rows; "
              "drifted by design: num0, num3, cat0")
        print(f"  {'case':34} {'fit s':>6} {'report s':>8} {'total s':>7} {'before MiB':>10} {'peak MiB':>8} {'step MiB':>8}  drifted")
        results = {}
        for n in references:
            for case in CASES:
                label = f"{case}, {n:,} + {current:,}"
                if case not in pythons:
                    print(f"  {label:34} not installed: skipped (see --peer-python)")
                    continue
                r = run_case(pythons[case], case, d / f"reference_{n}.parquet", d / "current.parquet", timeout)
                if "error" in r:
                    print(f"  {label:34} failed: {r['error']}")
                    continue
                results[(case, n)] = r
                total = r["fit"] + r["report"]
                print(f"  {label:34} {r['fit']:6.2f} {r['report']:8.2f} {total:7.2f} {r['before']:10.0f} {r['peak']:8.0f} {r['step']:8.0f}  "
                      f"{', '.join(r['drifted']) or '-'}")
        for n in references:
            ours = results.get(("workbench", n))
            for case in ("evidently", "nannyml"):
                theirs = results.get((case, n))
                if ours and theirs:
                    t = (theirs["fit"] + theirs["report"]) / (ours["fit"] + ours["report"])
                    print(f"  {case} / workbench at {n:,} + {current:,}: {t:.1f}× the time, "
                          f"{theirs['peak'] / ours['peak']:.1f}× the peak memory, {theirs['step'] / max(ours['step'], 1):.1f}× the step's own memory")
        big = results.get(("workbench", max(references)))
        if big:
            total, gb = big["fit"] + big["report"], big["peak"] * 2**20 / 1e9
            print(f"  goal at {max(references):,} + {current:,}: under 1.5 s and 0.6 GB peak (data included) — "
                  f"{total:.2f} s, {gb:.2f} GB: {'met' if total < 1.5 and gb < 0.6 else 'NOT met'}")
        if not all(r.get("reset") for r in results.values()):
            print("  (/proc/self/clear_refs was not writable: peaks include reading the files)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--current", type=int, default=1_000_000)
    ap.add_argument("--peer-python", help="an interpreter with evidently and/or nannyml installed (not the project's)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per case")
    a = ap.parse_args()
    main(a.reference, a.current, a.peer_python, a.timeout)
