"""Serving throughput: `workbench serve` (`POST /predict`: JSON checks, dtype conversion, the data contract, metrics)
against a bare FastAPI endpoint that calls the same loaded model's `predict_proba` on `pd.DataFrame(rows)`, measured in
the same run. Both run in uvicorn subprocesses with one worker, no access log, on loopback; the load comes from a
Python client (a thread pool, one keep-alive httpx client per thread). Prints requests/s and p50/p99 latency for
1-row and 100-row requests, and the throughput ratio. Goal: ratio >= 0.8.

    python benchmarks/bench_serve.py [--seconds 8] [--clients 4]
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent

BARE = textwrap.dedent("""
    import os
    import pandas as pd
    from fastapi import Body, FastAPI
    from workbench.registry import Registry
    from workbench.settings import load_settings

    model = Registry.of(load_settings(os.environ["BENCH_PROJECT"])).load(os.environ["BENCH_MODEL"]).estimator
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict = Body(...)):
        return {"predictions": model.predict_proba(pd.DataFrame(body["rows"]))[:, 1].tolist()}
""")



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, proc, path):
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None: sys.exit(f"the server at {url} exited: {proc.stderr.read()}")
        try:
            if httpx.get(url + path, timeout=1).status_code < 500: return
        except httpx.HTTPError: pass
        time.sleep(0.1)
    sys.exit(f"the server at {url} did not start")


def start_ours(project):
    proc = subprocess.Popen([str(BIN / "workbench"), "--project", str(project), "serve", "churn/1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "http://" not in line: sys.exit(f"workbench serve did not start: {line}{proc.stderr.read()}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()   # drain its log
    url = line.split(" at ")[-1].strip()
    wait_healthy(url, proc, "/health")
    return proc, url


def start_bare(project, folder):
    (folder / "bare_app.py").write_text(BARE)
    port = free_port()
    env = {**os.environ, "BENCH_PROJECT": str(project), "BENCH_MODEL": "churn/1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(folder), "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, "/docs")
    return proc, url


def load(url, body, seconds, clients):
    "Requests/s and the latencies (s) of `clients` threads posting `body` for `seconds`."
    stop, lat, errors = time.perf_counter() + seconds, [], []
    def worker():
        mine = []
        with httpx.Client(base_url=url, timeout=30, headers={"Content-Type": "application/json"}) as c:
            while (t := time.perf_counter()) < stop:
                r = c.post("/predict", content=body)
                mine.append(time.perf_counter() - t)
                if r.status_code != 200: errors.append(r.text)
        lat.extend(mine)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads: t.start()
    for t in threads: t.join()
    if errors: sys.exit(f"{url}: {len(errors)} failed requests, e.g. {errors[0]}")
    return len(lat) / (time.perf_counter() - t0), lat


def pct(values, q):
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main(seconds: float, clients: int):
    from workbench.example import make_customers, write_model_project
    from workbench.registry import train_project
    from workbench.settings import load_settings
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        write_model_project(d)
        run = train_project(load_settings(d))
        rows = json.loads(make_customers(100, months=1, seed=9).drop(columns="churned").to_json(orient="records", date_format="iso"))
        servers = {"workbench serve": start_ours(d), "bare FastAPI": start_bare(d, d)}
        try:
            bodies = {n: json.dumps({"rows": rows[:n]}).encode() for n in (1, 100)}
            ours = httpx.post(servers["workbench serve"][1] + "/predict", content=bodies[100], headers={"Content-Type": "application/json"})
            bare = httpx.post(servers["bare FastAPI"][1] + "/predict", content=bodies[100], headers={"Content-Type": "application/json"})
            same = [p["probability"] for p in ours.json()["predictions"]] == bare.json()["predictions"]
            print(f"model {run.version.ref} ({run.evaluation.train.best}, {len(run.version.meta['features'])} input columns); one uvicorn "
                  f"worker per server; {clients} client threads; {seconds:g} s per case in two halves (order alternated); "
                  f"same probabilities from both: {same}")
            print(f"{'rows/request':>12}  {'server':<16} {'req/s':>8} {'rows/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
            for n, body in bodies.items():
                res = {name: [0.0, []] for name in servers}
                for order in (list(servers), list(servers)[::-1]):
                    for name in order:
                        load(servers[name][1], body, 1.0, clients)   # warm-up
                        rate, lat = load(servers[name][1], body, seconds / 2, clients)
                        res[name][0] += rate / 2
                        res[name][1] += lat
                for name, (rate, lat) in res.items():
                    print(f"{n:>12}  {name:<16} {rate:>8.1f} {rate * n:>9,.0f} {1000 * pct(lat, 50):>8.2f} {1000 * pct(lat, 99):>8.2f}")
                ratio = res["workbench serve"][0] / res["bare FastAPI"][0]
                print(f"{n:>12}  throughput ratio workbench / bare = {ratio:.2f}x  (goal >= 0.8x: {'met' if ratio >= 0.8 else 'MISSED'})")
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(20)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per case (server × request size)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    a = ap.parse_args()
    main(a.seconds, a.clients)
