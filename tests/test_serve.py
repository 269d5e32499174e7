"""`workbench serve`: the real command in a subprocess, a real model trained into a temporary project, real HTTP."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from workbench.example import make_customers, write_model_project
from workbench.registry import Registry, train_project
from workbench.serve import read_prediction_log
from workbench.settings import load_settings

WORKBENCH = str(Path(sys.executable).with_name("workbench"))
TOKEN = "s3cret-token"
ENV = {k: v for k, v in os.environ.items() if k != "WORKBENCH_TOKEN"}
SERVE = "[serve]\nreload_seconds = 0.5\nmax_rows = 300\nmax_body_mb = 0.5\nlog_dir = predlog\nlog_sample = 1\n"



class Server:
    "`workbench serve` in a subprocess on 127.0.0.1 and a free port; its output gathered by threads."
    def __init__(self, project, *args, env=None):
        self.proc = subprocess.Popen([WORKBENCH, "--project", str(project), "serve", *args, "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or ENV)
        self.out, self.err = [], []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, ls=lines: ls.extend(iter(s.readline, "")), daemon=True).start()
        deadline = time.time() + 60
        while not any("http://" in line for line in self.out):
            assert self.proc.poll() is None and time.time() < deadline, f"the server did not start:\n{''.join(self.err)}"
            time.sleep(0.05)
        self.url = re.search(r"(http://\S+)", "".join(self.out)).group(1)
        self.client = httpx.Client(base_url=self.url, timeout=30)
        while self.client.get("/health").status_code != 200: time.sleep(0.05)

    def stop(self):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try: self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("the server did not stop on SIGTERM within 120 s:\n" + "".join(self.err)) from None
        return self.proc.returncode


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    "A project with a champion churn/1 trained on the example data (plus an e-mail column the model does not read)."
    d = tmp_path_factory.mktemp("serve")
    df = make_customers(600, months=4, seed=3)
    df["email"] = [f"person{i}@example.com" for i in range(len(df))]
    write_model_project(d, data=df, extra=SERVE)
    run = train_project(load_settings(d))
    assert run.decision.promoted and run.version.ref == "churn/1"
    return d


@pytest.fixture(scope="module")
def server(project):
    s = Server(project)   # the champion, no token
    yield s
    s.stop()


@pytest.fixture(scope="module")
def locked(project):
    s = Server(project, "churn/1", "--token", TOKEN)   # a fixed version, with a token
    yield s
    s.stop()


def wait_for(check, what, server, seconds=20):
    deadline = time.time() + seconds
    while not check():
        assert time.time() < deadline, f"{what} did not happen; the server's log:\n{''.join(server.err)}"
        time.sleep(0.1)


def frame(n, seed=9):
    df = make_customers(n, months=1, seed=seed).drop(columns="churned")
    df["email"] = [f"client{i}@example.org" for i in range(len(df))]
    return df


def records(df):
    return json.loads(df.to_json(orient="records", date_format="iso"))


def expected(project, version, df):
    return Registry.of(load_settings(project)).load(f"churn/{version}").predict(df)


def same(predictions, want):
    got = pd.DataFrame(predictions)
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    assert (got.prediction.to_numpy() == want.prediction.to_numpy()).all()
    np.testing.assert_allclose(got.probability, want.probability, rtol=1e-12)


def metric(client, name, **labels):
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.mark.parametrize("n", [1, 100])
def test_predict_matches_the_model_in_process(project, server, n):
    df = frame(n)
    r = server.client.post("/predict", json={"rows": records(df)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "churn" and list(body) == ["model", "version", "predictions"]
    same(body["predictions"], expected(project, body["version"], df))


def test_invocations_speaks_mlflow(project, server):
    df = frame(30, seed=11)
    rows = records(df)
    split = {"columns": list(rows[0]), "data": [list(r.values()) for r in rows]}
    version = server.client.get("/health").json()["version"]
    for payload in ({"dataframe_split": split}, {"dataframe_records": rows}, {"inputs": rows},
                    {"inputs": {c: [r[c] for r in rows] for c in rows[0]}}):
        r = server.client.post("/invocations", json=payload)
        assert r.status_code == 200, r.text
        assert list(r.json()) == ["predictions"]
        same(r.json()["predictions"], expected(project, version, df))
    body = json.dumps({"dataframe_records": rows[:2]}).replace('"age": null', '"age": NaN').replace('"age": 23.0', '"age": NaN')
    r = server.client.post("/invocations", content=body.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text   # NaN is how MLflow's clients write a missing value
    r = server.client.post("/invocations", content=b'{"dataframe_records": [{"age": Infinity}]}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON has no NaN or Infinity" in r.json()["message"]
    mlflow_models = pytest.importorskip("mlflow.models")   # the payload MLflow's own client code builds
    payload = mlflow_models.convert_input_example_to_serving_input(df.drop(columns="email"))
    r = server.client.post("/invocations", content=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    same(r.json()["predictions"], expected(project, version, df))


BAD = [   # (what, body bytes or rows, extra headers, status, words in the message)
    ("malformed JSON", b'{"rows": [{"age": 4', {}, 400, ["not valid JSON"]),
    ("NaN literal", b'{"rows": [{"age": NaN}]}', {}, 400, ["JSON has no NaN", "null"]),
    ("Infinity literal", b'{"rows": [{"age": Infinity}]}', {}, 400, ["JSON has no NaN or Infinity"]),
    ("not rows", b'{"data": []}', {}, 400, ['"rows"']),
    ("empty rows", b'{"rows": []}', {}, 422, ["no rows"]),
    ("missing column", lambda rows: [{k: v for k, v in r.items() if k != "age"} for r in rows], {}, 422, ["missing input column", "'age'"]),
    ("text in a numeric column", lambda rows: [rows[0], {**rows[1], "monthly_charges": "lots"}], {}, 422,
     ["'monthly_charges'", "row 1", '"lots"']),
    ("list as a value", lambda rows: [{**rows[0], "plan": ["basic"]}], {}, 422, ["'plan'", "row 0"]),
    ("bad date", lambda rows: [{**rows[0], "signup_date": "someday"}], {}, 422, ["'signup_date'", "ISO 8601", '"someday"']),
    ("too many rows", lambda rows: rows * 151, {}, 413, ["302 rows", "300 allowed", "max_rows"]),
    ("wrong content type", b'{"rows": []}', {"Content-Type": "text/plain"}, 415, ["text/plain", "application/json"]),
    ("form content type", b"rows=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415, ["application/json"]),
    ("huge body", b'{"rows": [' + b" " * 600_000 + b"]}", {}, 413, ["MB", "max_body_mb"]),
]


@pytest.mark.parametrize("what, body, headers, status, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_naming_the_problem(server, what, body, headers, status, words):
    if callable(body): body = json.dumps({"rows": body(records(frame(2)))}).encode()
    r = server.client.post("/predict", content=body, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == status, r.text
    err = r.json()
    assert set(err) >= {"error_code", "message"}
    for w in words: assert w in err["message"], err["message"]


def test_huge_body_without_length_is_cut_while_reading(server):
    def chunks():
        yield b'{"rows": ['
        for _ in range(100): yield b" " * 10_000
        yield b"]}"
    r = server.client.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "max_body_mb" in r.json()["message"]


def test_contract_breaking_rows_reject_the_request_and_are_counted(server):
    before = metric(server.client, "workbench_rejected_rows_total", reason="contract")
    rows = records(frame(5))
    rows[1]["monthly_charges"] = -80.0      # never negative in the training data
    rows[3]["total_charges"] = 1e12         # far outside its range
    rows[4]["unknown_extra"] = "ignored"    # extra columns are ignored
    r = server.client.post("/predict", json={"rows": rows})
    assert r.status_code == 422, r.text
    err = r.json()
    assert [x["row"] for x in err["rejected_rows"]] == [1, 3] and "2 of 5 row(s)" in err["message"]
    assert "monthly_charges" in err["rejected_rows"][0]["reason"] and "total_charges" in err["rejected_rows"][1]["reason"]
    assert metric(server.client, "workbench_rejected_rows_total", reason="contract") == before + 2
    ok = server.client.post("/invocations", json={"dataframe_records": [rows[0], rows[2], rows[4]]})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 3


def test_errors_are_json_everywhere(server):
    r = server.client.post("/invocations", json={"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}})
    assert r.status_code == 400 and r.json()["error_code"] == "MALFORMED_REQUEST" and "data[0]" in r.json()["message"]
    r = server.client.get("/nowhere")
    assert r.status_code == 404 and r.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert server.client.get("/predict").status_code == 405


def test_health_metrics_and_openapi(server):
    h = server.client.get("/health").json()
    assert h["status"] == "ok" and h["model"] == "churn" and h["ref"] == "churn@champion" and "loaded_since" in h
    n = metric(server.client, "workbench_requests_total", endpoint="/predict", status="200")
    for _ in range(3): server.client.post("/predict", json={"rows": records(frame(1))})
    server.client.post("/predict", content=b"{", headers={"Content-Type": "application/json"})
    assert metric(server.client, "workbench_requests_total", endpoint="/predict", status="200") == n + 3
    assert metric(server.client, "workbench_requests_total", endpoint="/predict", status="400") >= 1
    assert metric(server.client, "workbench_request_seconds_count", endpoint="/predict") >= n + 4
    assert metric(server.client, "workbench_predictions_total") >= 3
    assert metric(server.client, "workbench_model_info", model="churn") == 1
    spec = server.client.get("/openapi.json").json()
    assert {"/predict", "/invocations", "/health", "/metrics"} <= set(spec["paths"])
    assert "rows" in spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["example"]


def test_token_is_required_and_checked(locked):
    rows = records(frame(1))
    c = locked.client
    assert "127.0.0.1" in locked.url
    assert c.get("/health").status_code == 200   # the only open endpoint
    for path in ("/predict", "/invocations", "/metrics", "/openapi.json"):
        r = c.post(path, json={"rows": rows}) if path == "/predict" else c.get(path)
        assert r.status_code == 401 and "Bearer" in r.json()["message"], (path, r.text)
    r = c.post("/predict", json={"rows": rows}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "not valid" in r.json()["message"]
    r = c.post("/predict", json={"rows": rows}, headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status_code == 401
    r = c.post("/predict", json={"rows": rows}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["version"] == 1


def test_no_token_on_all_interfaces_is_refused(project):
    p = subprocess.run([WORKBENCH, "--project", str(project), "serve", "--host", "0.0.0.0", "--port", "0"],
                       capture_output=True, text=True, timeout=60, env=ENV)
    assert p.returncode == 2 and "without a token" in p.stderr and "--token" in p.stderr, p.stderr


def test_no_token_listens_on_loopback_and_says_so(server):
    assert server.url.startswith("http://127.0.0.1:")
    wait_for(lambda: any("no token: listening on 127.0.0.1 (loopback) only" in line for line in server.err), "the log line", server, 5)


def test_prediction_log_drops_sensitive_columns(project):
    s = Server(project)
    df = frame(40, seed=21)
    rows = records(df)
    assert s.client.post("/predict", json={"rows": rows[:25]}).status_code == 200
    assert s.client.post("/invocations", json={"dataframe_records": rows[25:]}).status_code == 200
    pid = s.proc.pid
    s.stop()
    files = sorted((project / "predlog").glob(f"predictions-*-{pid}-*.parquet"))
    assert files, list((project / "predlog").iterdir())
    log = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    assert len(log) == 40 and "email" not in log.columns
    assert {"_served_at", "_model", "_version", "_request", "_row", "customer_id", "age", "prediction", "probability"} <= set(log.columns)
    assert log.customer_id.tolist() == df.customer_id.tolist() and log._request.nunique() == 2
    assert len(read_prediction_log(project / "predlog")) >= 40


def test_alias_move_is_picked_up_without_restart(project, server, locked):
    s = load_settings(project)
    reg = Registry.of(s)
    v2 = train_project(s, promote=False).version
    assert server.client.get("/health").json()["version"] == 1
    reg.promote(v2.ref, "champion", force=True, reason="test: move the alias")
    wait_for(lambda: server.client.get("/health").json()["version"] == v2.version, "the swap", server)
    df = frame(10, seed=5)
    r = server.client.post("/predict", json={"rows": records(df)})
    assert r.json()["version"] == v2.version
    same(r.json()["predictions"], expected(project, v2.version, df))
    wait_for(lambda: any(f"churn@champion: churn/1 -> {v2.ref}" in line for line in server.err), "the swap's log line", server, 5)
    assert metric(server.client, "workbench_model_info", model="churn", version=str(v2.version)) == 1
    # a model named by NAME/VERSION never changes
    time.sleep(1.0)
    r = locked.client.post("/predict", json={"rows": records(df)}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.json()["version"] == 1


def test_a_version_that_fails_to_load_is_not_served(project, server):
    s = load_settings(project)
    reg = Registry.of(s)
    current = server.client.get("/health").json()["version"]
    v3 = train_project(s, promote=False).version
    (v3.path / "model.skops").write_bytes(b"tampered")   # its sha256 no longer matches
    reg.set_alias("churn", "champion", v3.version, "promote", "test: a broken version")
    wait_for(lambda: "reload_error" in server.client.get("/health").json(), "the failed reload", server)
    h = server.client.get("/health").json()
    assert h["version"] == current and v3.ref in h["reload_error"]
    assert server.client.post("/predict", json={"rows": records(frame(1))}).json()["version"] == current
    wait_for(lambda: any(f"{v3.ref}, which cannot be loaded" in line and "still serving" in line for line in server.err),
             "the failed reload's log line", server, 5)
