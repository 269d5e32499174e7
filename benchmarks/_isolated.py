"""Shared by the benchmarks that compare with peer libraries: run one step in a fresh process and measure it alone.

The process reads the reference and current Parquet files (argv 1 and 2) as `ref` and `cur`, imports its library,
releases what Arrow's allocator kept from reading, resets its peak resident memory (/proc/self/clear_refs), then
times `fit` and the second step. It prints one JSON line: both times, "before" (the resident set when the step
starts), "peak" (getrusage ru_maxrss, data included), "step" (the difference), whether the reset worked, and the
case's own fields.
"""
import json
import subprocess

PROGRAM = """\
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
{preamble}
{imports}
import pyarrow
pyarrow.default_memory_pool().release_unused()   # what reading the files left in Arrow's allocator is not the step's
def rss():
    with open("/proc/self/statm") as f: return int(f.read().split()[1]) * resource.getpagesize() / 2**20
try:
    with open("/proc/self/clear_refs", "w") as f: f.write("5")   # peak := now: measure the step alone
    reset = True
except OSError:
    reset = False
before = rss()
t0 = time.perf_counter()
{fit}
t1 = time.perf_counter()
{step}
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(fit=t1 - t0, {step_name}=t2 - t1, peak=peak, before=before, step=peak - before, reset=reset, {fields})))
"""


def program(case: dict, step_name: str, fields: str, preamble: str = "") -> str:
    "The measuring program for a case: a dict of `imports`, `fit` and the code of the step named `step_name`."
    return PROGRAM.format(preamble=preamble, imports=case["imports"], fit=case["fit"], step=case[step_name],
                          step_name=step_name, fields=fields)


def available(python: str, case: dict) -> bool:
    "Whether `python` can import what the case needs (its `check` code; a case without one always can)."
    return "check" not in case or subprocess.run([python, "-c", case["check"]], capture_output=True).returncode == 0


def measure(python: str, code: str, ref, cur, timeout: float) -> dict:
    "Run a measuring program on the two files: its JSON line, or {'error': why}."
    try:
        p = subprocess.run([python, "-c", code, str(ref), str(cur)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout} s"}
    if p.returncode: return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(p.stdout.strip().splitlines()[-1])
