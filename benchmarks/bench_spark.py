"""Spark scale-out: batch scoring, contract validation and drift summaries on Spark local[1] and local[2] against the
pandas path (`score_data`, `validate_source`, `pandas_summaries`), on the same rows, in the same run. Each case runs in a fresh process; Spark's
session start (a JVM) is timed apart from the work.

Expectations on one small machine: Spark is slower than the pandas path (the JVM, Arrow transfers between the JVM
and the Python workers, a second pass for the row positions, writing through Spark's committer); local[2] over
local[1] shows how the Spark path scales with cores. The printed ratios are the figures to watch.

    python benchmarks/bench_spark.py [--rows 1000000] [--files 10] [--candidate linear] [--skip-validate]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CASE = textwrap.dedent("""
    import json, os, sys, time
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from workbench.contract import load_contract
    from workbench.settings import load_settings
    what, engine, project, data, out = sys.argv[1:6]
    s = load_settings(project)
    res = dict(engine=engine)
    kw = {}
    if engine != "pandas":
        from workbench.spark import spark_session
        t = time.perf_counter()
        kw["spark"] = spark_session(s, engine, {"spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "4"})
        kw["spark"].range(10).count()
        res["startup_s"] = time.perf_counter() - t
    from workbench.engines import get
    e = get("pandas" if engine == "pandas" else "spark")
    t = time.perf_counter()
    if what == "score":
        r = e.score(s, "churn", data, out, **kw)
        res.update(rows=r.rows, scored=r.scored, rejected=r.rejected)
    elif what == "drift":
        from workbench.drift import Reference
        summ = e.summaries(Reference.load(project + "/reference.json"), data, s, **kw)
        res.update(columns=len(summ), rows=max(v.n + v.missing for v in summ.values()))
    else:
        v = e.validate(data, load_contract(project + "/contract.json"), s, **kw)
        res.update(rows=v.rows, kept=v.kept, quarantined=v.quarantined)
    res["seconds"] = time.perf_counter() - t
    print(json.dumps(res))
""")


def case(what, engine, project, data, out):
    p = subprocess.run([sys.executable, "-c", CASE, what, engine, str(project), str(data), str(out)], capture_output=True, text=True)
    if p.returncode: raise SystemExit(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=10, help="the rows are a folder of this many Parquet files (Spark's partitions)")
    ap.add_argument("--candidate", default="linear", help="the model to score with (a [train] candidate)")
    ap.add_argument("--skip-validate", action="store_true", help="only the scoring cases (no validation, no drift summaries)")
    a = ap.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workbench.contract import infer_contract
    from workbench.example import make_customers, write_model_project
    from workbench.registry import train_project
    from workbench.settings import load_settings
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        write_model_project(d, 5000, candidates=a.candidate)
        train_project(load_settings(d), progress=False)
        block = make_customers(100_000, months=1, seed=1).drop(columns="churned")
        infer_contract(block, keys=["customer_id"]).save(d / "contract.json")
        from workbench.drift import fit_reference
        fit_reference(block.drop(columns="customer_id")).save(d / "reference.json")
        (d / "rows").mkdir()
        per, k = -(-a.rows // a.files), 0
        for i in range(a.files):
            n = min(per, a.rows - i * per)
            with pq.ParquetWriter(d / "rows" / f"part-{i:03}.parquet", pa.Table.from_pandas(block, preserve_index=False).schema) as w:
                for j in range(0, n, len(block)):   # every row its own customer: the key stays unique
                    k += 1
                    b = block.assign(customer_id=block.customer_id + f"-{k}")
                    w.write_table(pa.Table.from_pandas(b, preserve_index=False).slice(0, min(len(block), n - j)))
        print(f"model: {a.candidate}; {a.rows:,} rows × {block.shape[1]} columns in {a.files} Parquet files")
        for what in ("score",) + (() if a.skip_validate else ("validate", "drift")):
            got = {}
            for engine in ("pandas", "local[1]", "local[2]"):
                out = d / f"out-{what}-{engine.replace('[', '').replace(']', '')}" / ("p.parquet" if engine == "pandas" else "")
                out.parent.mkdir(exist_ok=True)
                r = got[engine] = case(what, engine, d, d / "rows", out if engine == "pandas" else out.parent / "spark")
                start = f" (+ {r['startup_s']:.1f} s session start)" if "startup_s" in r else ""
                print(f"{what:8} {engine:9} {r['seconds']:7.2f} s  {a.rows / r['seconds']:>10,.0f} rows/s{start}  {json.dumps({k: v for k, v in r.items() if k in ('scored', 'rejected', 'kept', 'quarantined', 'columns')})}")
            p, s1, s2 = (got[k]["seconds"] for k in ("pandas", "local[1]", "local[2]"))
            print(f"{what:8} Spark local[2] / pandas time: {s2 / p:.2f}×   local[1] → local[2] speed-up: {s1 / s2:.2f}×")


if __name__ == "__main__":
    main()
