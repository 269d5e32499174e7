"""Performance estimation without labels: time and peak memory of confidence-based performance estimation (CBPE) of a
binary classifier on 1M scored rows in monthly chunks (12 months), calibrated on a labelled reference of 250k rows,
against NannyML's CBPE on the same files, all measured in this run; and how far apart the two estimates are.

The scores are miscalibrated on purpose (the model is over-confident), so both calibrate them on the reference with
isotonic regression; the inputs drift month by month (a covariate shift), so the estimates move. Metrics: ROC AUC, F1,
precision, recall, accuracy.

Cases, each in a fresh process that reads the two Parquet files and imports its library first, then resets its peak
resident memory (/proc/self/clear_refs) and times the step alone:

- `workbench`: `workbench.performance.performance(reference, current, ...)`, the whole call: checks, calibration,
  estimates with intervals per chunk, the reference's realized figures, the chunk records;
- `workbench (CBPE only)`: `CBPE(...).fit(...)` then `.estimate(...)` on arrays, chunked by `chunk_codes`;
- `nannyml`: `nannyml.CBPE(..., chunk_period='M').fit(reference)` then `.estimate(current)` (NannyML 0.13).

"fit s" is calibration on the reference, "estimate s" the estimates over the current chunks. "before MiB" is the
resident set when the step starts (interpreter, libraries and both tables); "peak MiB" the largest during the step,
data included (getrusage ru_maxrss); "step MiB" the difference.

The goal: ≥ 10× faster than NannyML, with every estimate within 0.01 of NannyML's.

NannyML is measured where it can be imported: by this interpreter, or by the one given with --peer-python (a separate
venv: `python -m venv /tmp/peers && /tmp/peers/bin/pip install nannyml`, never the project's own environment).

    python benchmarks/bench_performance.py [--reference 250000] [--current 1000000] [--peer-python /tmp/peers/bin/python]
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _isolated import available, measure, program

METRICS = ["roc_auc", "f1", "precision", "recall", "accuracy"]

CASES = {
    "workbench": dict(
        imports="import scipy.stats, sklearn.isotonic; from workbench.performance import performance   # imported lazily by the library",
        fit="pass   # one call does both: timed as the estimate",
        estimate=("res = performance(ref, cur, 'target', 'probability', 'prediction', metrics=METRICS, time_column='timestamp')\n"
                  "keys = [c['key'] for c in res.chunks]\n"
                  "estimates = {m: [c['estimated'][m] for c in res.chunks] for m in METRICS}")),
    "workbench (CBPE only)": dict(
        imports="import scipy.stats, sklearn.isotonic; from workbench.estimators import CBPE, chunk_codes",
        fit="cb = CBPE(METRICS).fit(ref.target.to_numpy(), ref.probability.to_numpy())",
        estimate=("keys, codes, _ = chunk_codes(cur, 'timestamp', 'M')\n"
                  "est = cb.estimate(cur.probability.to_numpy(), cur.prediction.to_numpy(), codes, len(keys))\n"
                  "estimates = {m: e[0] for m, e in est.items()}")),
    "nannyml": dict(
        imports="import nannyml as nml",
        fit=("calc = nml.CBPE(y_pred_proba='probability', y_pred='prediction', y_true='target', timestamp_column_name='timestamp',\n"
             "                metrics=METRICS, chunk_period='M', problem_type='classification_binary').fit(ref)"),
        estimate=("df = calc.estimate(cur).filter(period='analysis').to_df()\n"
                  "keys = df[('chunk', 'key')].tolist()\n"
                  "estimates = {m: df[(m, 'value')].tolist() for m in METRICS}"),
        check="import nannyml"),
}


def make_data(n, seed, start, months, labels):
    "Scored rows over `months` months from `start`: an over-confident score of a latent input that drifts upward month by month."
    import numpy as np
    import pandas as pd
    r = np.random.default_rng(seed)
    t = np.sort((pd.Timestamp(start) + pd.to_timedelta(r.uniform(0, months * 30.4, n), unit="D")).values)
    month = (pd.DatetimeIndex(t).year - 2024) * 12 + pd.DatetimeIndex(t).month
    x = r.normal(0, 1, n) + 0.04 * month                               # the covariate shift
    z = -1.5 + 1.5 * x                                                 # the true log-odds
    s = 1 / (1 + np.exp(-(1.6 * z + 0.3)))                             # the model's score: over-confident
    df = pd.DataFrame({"timestamp": t, "probability": s, "prediction": (s >= 0.5).astype("int64")})
    if labels: df["target"] = (r.random(n) < 1 / (1 + np.exp(-z))).astype("int64")
    return df


def run_case(python, case, ref, cur, timeout):
    fields = "keys=[str(k) for k in keys], estimates={m: [float(v) for v in e] for m, e in estimates.items()}"
    return measure(python, program(CASES[case], "estimate", fields, preamble=f"METRICS = {METRICS!r}"), ref, cur, timeout)


def compare(ours, theirs):
    "The largest difference of any estimate between the two, and where."
    if ours["keys"] != theirs["keys"]: return None, f"different chunks: {ours['keys']} / {theirs['keys']}"
    worst = max(((abs(a - b), m, k) for m in METRICS for k, a, b in zip(ours["keys"], ours["estimates"][m], theirs["estimates"][m])),
                key=lambda x: x[0])
    return worst[0], f"{worst[1]} in {worst[2]}"


def main(n_ref, n_cur, peer_python, timeout):
    pythons = {"workbench": sys.executable, "workbench (CBPE only)": sys.executable}
    for python in (sys.executable, peer_python):
        if python and available(python, CASES["nannyml"]):
            pythons["nannyml"] = python
            break
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        ref, cur = d / "reference.parquet", d / "current.parquet"
        # written by a child: a child's ru_maxrss starts from its parent's, so this process stays small
        write = ("import sys; sys.path.insert(0, sys.argv[1]); from bench_performance import make_data\n"
                 f"make_data({n_ref}, 0, '2024-11-01', 2, True).to_parquet({str(ref)!r}, index=False)\n"
                 f"make_data({n_cur}, 1, '2025-01-01', 12, False).to_parquet({str(cur)!r}, index=False)\n")
        subprocess.run([sys.executable, "-c", write, str(Path(__file__).parent)], check=True)
        print(f"performance estimation (CBPE, binary): reference {n_ref:,} labelled rows, {n_cur:,} current rows without labels "
              f"in 12 monthly chunks; metrics {', '.join(METRICS)}")
        print(f"  {'case':24} {'fit s':>6} {'estimate s':>10} {'total s':>7} {'before MiB':>10} {'peak MiB':>8} {'step MiB':>8}")
        results = {}
        for case in CASES:
            if case not in pythons:
                print(f"  {case:24} not installed: skipped (see --peer-python)")
                continue
            r = run_case(pythons[case], case, ref, cur, timeout)
            if "error" in r:
                print(f"  {case:24} failed: {r['error']}")
                continue
            results[case] = r
            print(f"  {case:24} {r['fit']:6.2f} {r['estimate']:10.2f} {r['fit'] + r['estimate']:7.2f} {r['before']:10.0f} "
                  f"{r['peak']:8.0f} {r['step']:8.0f}")
        theirs = results.get("nannyml")
        for case in ("workbench", "workbench (CBPE only)"):
            ours = results.get(case)
            if not (ours and theirs): continue
            speed = (theirs["fit"] + theirs["estimate"]) / (ours["fit"] + ours["estimate"])
            diff, where = compare(ours, theirs)
            print(f"  nannyml / {case}: {speed:.1f}× the time, {theirs['peak'] / ours['peak']:.1f}× the peak memory; "
                  + (f"largest difference of the estimates {diff:.2g} ({where})" if diff is not None else where))
            if case == "workbench":
                print(f"  goal: ≥ 10× faster than NannyML with estimates within 0.01 — {speed:.1f}×, {diff:.2g}: "
                      f"{'met' if speed >= 10 and diff is not None and diff <= 0.01 else 'NOT met'}")
        if "workbench" in results:
            w = results["workbench"]
            print("  workbench's estimates per chunk: " + "; ".join(
                f"{k} " + " ".join(f"{m} {w['estimates'][m][i]:.3f}" for m in METRICS[:2]) for i, k in enumerate(w["keys"][:3])) + " …")
        if not all(r.get("reset") for r in results.values()):
            print("  (/proc/self/clear_refs was not writable: peaks include reading the files)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", type=int, default=250_000, help="labelled reference rows")
    ap.add_argument("--current", type=int, default=1_000_000, help="current rows, without labels")
    ap.add_argument("--peer-python", help="an interpreter with nannyml installed (not the project's)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per case")
    a = ap.parse_args()
    main(a.reference, a.current, a.peer_python, a.timeout)
