"""Profile job: time and peak memory of `workbench run profile` on 100k and 1M rows of the example data,
against ydata-profiling's default settings on the same 100k rows, all measured in this run.

Peak memory is the largest resident set of any process of the run (the CLI or its kernel), read from
getrusage(RUSAGE_CHILDREN) in a fresh wrapper process per measurement.

    python benchmarks/bench_profile.py [--sizes 100000 1000000]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

BIN = Path(sys.executable).parent

WRAP = textwrap.dedent("""
    import resource, subprocess, sys, time
    t = time.perf_counter()
    p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    if p.returncode: sys.exit(p.stdout + p.stderr)
    print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
""")

YDATA_DEFAULT = textwrap.dedent("""
    import sys, warnings; warnings.simplefilter("ignore")
    import pandas as pd
    from ydata_profiling import ProfileReport
    df = pd.read_parquet(sys.argv[1])
    ProfileReport(df, progress_bar=False).to_html()
""")


def measure(cmd):
    out = subprocess.run([sys.executable, "-c", WRAP, *cmd], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main(sizes):
    from workbench.example import make_customers
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "settings.ini").write_text("[project]\nname = bench\n")
        for n in sizes:
            df = make_customers(n_customers=-(-n // 12), months=12, seed=0).head(n)
            df.to_parquet(d / f"customers_{n}.parquet", index=False)
        print(f"profile job ({', '.join(f'{n:,}' for n in sizes)} rows × 19 columns of the example data)")
        print(f"  {'case':44} {'wall s':>8} {'peak MiB':>9} {'profile s':>10}")
        for n in sizes:
            wall, rss = measure([str(BIN / "workbench"), "--project", str(d), "run", "profile", "-p", "data",
                                 f"customers_{n}.parquet", "--no-progress"])
            runs = json.loads(subprocess.run([str(BIN / "workbench"), "--project", str(d), "runs", "--json", "--limit", "1"],
                                             capture_output=True, text=True, check=True).stdout)
            m = runs[0]["metrics"]
            label = f"workbench run profile, {n:,} rows ({m['profile_mode']})"
            print(f"  {label:44} {wall:8.1f} {rss:9.0f} {m['profile_seconds']:10.1f}")
        base_n = min(sizes)
        wall, rss = measure([sys.executable, "-c", YDATA_DEFAULT, str(d / f"customers_{base_n}.parquet")])
        label = f"ydata-profiling defaults, {base_n:,} rows"
        print(f"  {label:44} {wall:8.1f} {rss:9.0f}")
        print("  (wall s of the workbench runs includes kernel start, loading and the HTML report)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    main(ap.parse_args().sizes)
