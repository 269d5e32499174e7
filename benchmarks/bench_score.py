"""Batch scoring: `workbench.score.score_data` (read in chunks, contract check, predict, write Parquet) against calling
the pipeline's `predict_proba` directly on the same rows already in memory, in the same run; and the peak memory of
scoring 10M rows with the default chunking (goal: flat, under 1 GB) next to the size of those rows in memory.

Goals: throughput ≥ 0.9× the direct call; peak memory flat and under 1 GB. Each case runs in a fresh process, so
its peak memory (ru_maxrss) is its own.

    python benchmarks/bench_score.py [--rows 1000000] [--memory-rows 10000000] [--candidate gradient_boosting]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CASE = textwrap.dedent("""
    import json, resource, sys, time
    import pandas as pd
    from workbench.registry import Registry
    from workbench.score import score_data
    from workbench.settings import load_settings
    what, project, data = sys.argv[1], sys.argv[2], sys.argv[3]
    s = load_settings(project)
    if what == "direct":
        est = Registry.of(s).load("churn").estimator
        X = pd.read_parquet(data)
        t = time.perf_counter(); est.predict_proba(X); sec = time.perf_counter() - t
        out = dict(rows=len(X), frame_mib=X.memory_usage(deep=True).sum() / 2**20)
    else:
        t = time.perf_counter(); r = score_data(s, "churn", data, project + "/out.parquet"); sec = time.perf_counter() - t
        out = dict(rows=r.rows, scored=r.scored, rejected=r.rejected, chunks=r.chunks)
    out.update(seconds=sec, peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))
""")



def case(what, project, data):
    p = subprocess.run([sys.executable, "-c", CASE, what, str(project), str(data)], capture_output=True, text=True)
    if p.returncode: raise SystemExit(p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def write_rows(path: Path, rows: int, block):
    "A Parquet file of `rows` rows written block by block (row groups of the block's size)."
    import pyarrow as pa
    import pyarrow.parquet as pq
    t = pa.Table.from_pandas(block, preserve_index=False)
    with pq.ParquetWriter(path, t.schema) as w:
        for i in range(0, rows, len(block)): w.write_table(t.slice(0, min(len(block), rows - i)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--memory-rows", type=int, default=10_000_000, help="rows for the peak-memory case (0: skip it)")
    ap.add_argument("--candidate", default="gradient_boosting", help="the model to score with (a [train] candidate)")
    a = ap.parse_args()
    from workbench.example import make_customers, write_model_project
    from workbench.registry import train_project
    from workbench.settings import load_settings
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        write_model_project(d, 5000, candidates=a.candidate)
        train_project(load_settings(d))
        block = make_customers(100_000, months=1, seed=1).drop(columns="churned")
        write_rows(d / "rows.parquet", a.rows, block)
        direct, ours = case("direct", d, d / "rows.parquet"), case("workbench", d, d / "rows.parquet")
        print(f"model: {a.candidate}; {a.rows:,} rows × {block.shape[1]} columns")
        print(f"direct predict_proba (rows in memory): {direct['seconds']:.2f} s  {a.rows / direct['seconds']:,.0f} rows/s")
        print(f"workbench score (read, check, predict, write): {ours['seconds']:.2f} s  {a.rows / ours['seconds']:,.0f} rows/s "
              f"in {ours['chunks']} chunks, {ours['rejected']} rejected")
        print(f"throughput ratio: {direct['seconds'] / ours['seconds']:.2f}× the direct call (goal ≥ 0.9×)")
        if a.memory_rows:
            write_rows(d / "many.parquet", a.memory_rows, block)
            m = case("workbench", d, d / "many.parquet")
            in_memory = block.memory_usage(deep=True).sum() / 2**20 * a.memory_rows / len(block)
            print(f"peak memory scoring {a.memory_rows:,} rows: {m['peak_mib']:,.0f} MiB (the rows alone would take "
                  f"{in_memory:,.0f} MiB in memory); {m['seconds']:.1f} s, {a.memory_rows / m['seconds']:,.0f} rows/s; "
                  f"goal: under 1,024 MiB")
            small = case("workbench", d, d / "rows.parquet")
            print(f"peak memory scoring {a.rows:,} rows: {small['peak_mib']:,.0f} MiB (flat: "
                  f"{m['peak_mib'] / small['peak_mib']:.2f}× for {a.memory_rows / a.rows:.0f}× the rows)")


if __name__ == "__main__":
    main()
