"""Validation throughput: `workbench.contract.validate` on 1M rows × 19 columns of the example data against a
naive pandas validator doing the same checks row by row (a loop over rows, as hand-written checks usually are),
measured in the same run; plus contract inference time. Goal: validation of 1M rows in under 2 s.

Each case runs in a fresh process, so its peak memory (ru_maxrss, loading the table included) is its own.

    python benchmarks/bench_validate.py [--rows 1000000] [--naive-rows 100000]
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
    import numpy as np, pandas as pd
    from workbench.contract import infer_contract, load_contract, validate
    what, data, contract, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    df = pd.read_parquet(data).head(n)
    frame_mib = df.memory_usage(deep=True).sum() / 2**20
    t = time.perf_counter()
    if what == "infer":
        infer_contract(df, keys=["customer_id", "snapshot_month"]).save(contract); out = {}
    elif what == "workbench":
        v = validate(df, load_contract(contract)); out = dict(kept=v.kept, quarantined=v.quarantined)
    else:   # naive: every rule checked value by value in a Python loop over rows
        c = load_contract(contract)
        reasons, seen = [], set()
        cols = list(c.columns)
        for row in df[cols].itertuples(index=False):
            bad = []
            for name, r, v in zip(cols, c.columns.values(), row):
                if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
                    if not r.nullable: bad.append(name + ": missing")
                    continue
                if r.dtype in ("int", "float") and r.min is not None:
                    band = r.tolerance * (r.max - r.min)
                    if v < r.min - band or v > r.max + band: bad.append(name + ": far outside the range")
                elif r.dtype == "datetime" and r.min is not None and v < pd.Timestamp(r.min): bad.append(name + ": too early")
                elif r.categories is not None and str(v) not in r.categories: bad.append(name + ": unknown category")
            key = (row[0], row[1])
            if key in seen: bad.append("duplicate key")
            seen.add(key)
            reasons.append("; ".join(bad))
        q = sum(1 for x in reasons if x)
        out = dict(kept=len(df) - q, quarantined=q)
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(seconds=secs, peak_mib=peak, frame_mib=frame_mib, rows=len(df), **out)))
""")


def case(*args):
    out = subprocess.run([sys.executable, "-c", CASE, *map(str, args)], capture_output=True, text=True)
    if out.returncode: sys.exit(out.stderr)
    return json.loads(out.stdout)


def main(rows, naive_rows):
    from workbench.example import make_customers
    with tempfile.TemporaryDirectory() as d:
        data, contract = Path(d) / "customers.parquet", Path(d) / "contract.json"
        df = make_customers(n_customers=-(-rows // 12), months=12).head(rows)
        df.to_parquet(data, index=False)
        months = sorted(df.snapshot_month.unique())
        df[df.snapshot_month <= months[5]].to_parquet(Path(d) / "ref.parquet", index=False)
        inf = case("infer", data, contract, rows)
        case("infer", Path(d) / "ref.parquet", contract, rows)   # the contract used: the first six months
        ours = case("workbench", data, contract, rows)
        naive = case("naive", data, contract, naive_rows)
        ours_small = case("workbench", data, contract, naive_rows)
        print(f"validation of {rows:,} rows × {df.shape[1]} columns (the example data; a contract from its first six months)")
        print(f"  workbench validate      {ours['seconds']:7.2f} s  {rows / ours['seconds']:>12,.0f} rows/s  "
              f"peak RSS {ours['peak_mib']:,.0f} MiB (the table itself: {ours['frame_mib']:,.0f} MiB)   kept {ours['kept']:,} / quarantined {ours['quarantined']:,}   (goal < 2 s)")
        print(f"  naive pandas, {naive_rows:,} rows {naive['seconds']:5.2f} s  {naive_rows / naive['seconds']:>12,.0f} rows/s  "
              f"peak RSS {naive['peak_mib']:,.0f} MiB")
        print(f"  workbench, same {naive_rows:,} rows {ours_small['seconds']:5.2f} s  -> {naive['seconds'] / ours_small['seconds']:,.0f}x faster than naive")
        print(f"contract inference on {rows:,} rows: {inf['seconds']:.2f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--naive-rows", type=int, default=100_000)
    a = ap.parse_args()
    main(a.rows, a.naive_rows)
