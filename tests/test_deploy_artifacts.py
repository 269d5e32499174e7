"""Deployment artifacts on a small real model: the container recipe (its files, hashes, entry point, health check and
the registry inside it), the MLflow export (loaded back and compared), the registry browser widget, and the CLI."""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")   # before mlflow is imported: nothing goes to the network
os.environ.setdefault("DO_NOT_TRACK", "true")

import numpy as np
import pandas as pd
import pytest

from workbench.container import copy_version, write_container
from workbench.core import MissingExtraError, WorkbenchError, file_sha256
from workbench.example import make_customers, write_model_project
from workbench.export import export_mlflow, input_example, mlflow_type
from workbench.registry import Registry, train_project
from workbench.registry_browser import RegistryBrowser
from workbench.settings import load_settings

WORKBENCH = str(Path(sys.executable).with_name("workbench"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "A project with one trained model, churn/1, promoted to champion."
    d = tmp_path_factory.mktemp("deploy")
    write_model_project(d, seed=0)
    run = train_project(load_settings(d))
    assert run.decision.promoted, run.decision.summary()
    return d


@pytest.fixture(scope="module")
def two_versions(trained, tmp_path_factory):
    "A copy of the project trained again: churn/2 registered, not promoted (champion stays churn/1)."
    d = tmp_path_factory.mktemp("two") / "p"
    shutil.copytree(trained, d)
    train_project(load_settings(d), promote=False)
    return d


@pytest.fixture(autouse=True)
def _local_mlflow(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())


def holdout_inputs(reg, ref="churn/1"):
    m = reg.load(ref)
    return m, m.version.holdout().drop(columns="__target__")


# ---------------------------------------------------------------- container recipe

def test_container_recipe_files_hashes_and_user(trained, tmp_path):
    s = load_settings(trained)
    v = Registry.of(s).get("churn/1")
    out = tmp_path / "deploy"
    files = write_container(s, "churn@champion", out)   # the alias is resolved now: the recipe pins churn/1
    rel = {str(f.relative_to(out)) for f in files}
    assert {"Dockerfile", ".dockerignore", "serve.sh", "project/settings.ini", "project/state/registry/registry.sqlite",
            "project/state/registry/churn/1/model.skops", "wheels/README.md"} <= rel
    assert all(f.is_file() for f in files)
    assert not (out / "project/state/registry/churn/1/holdout.parquet").exists()   # rows of real data stay home

    docker = (out / "Dockerfile").read_text()
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    import workbench
    assert re.search(rf"^FROM python:{re.escape(py)}-slim$", docker, re.M)
    assert f"ARG WORKBENCH_SPEC=workbench=={workbench.__version__}\n" in docker
    assert f'"scikit-learn=={v.meta["code"]["sklearn"]}"' in docker
    assert "--build-arg WORKBENCH_SPEC=/wheels/" in docker   # how to use a local wheel is documented
    users = re.findall(r"^USER (\d+):(\d+)$", docker, re.M)
    assert users and all(int(u) > 0 and int(g) > 0 for u, g in users)
    lines = docker.splitlines()
    first = lambda prefix: next(i for i, x in enumerate(lines) if x.startswith(prefix))   # noqa: E731
    assert first("USER") < first("EXPOSE") < first("ENTRYPOINT") and first("COPY --chown") < first("USER")
    assert "EXPOSE 8000" in docker and "HEALTHCHECK" in docker and "/health" in docker and "curl" not in docker

    # pinned by hash: the Dockerfile names each copied artifact's recorded sha256, and the copies have it
    pairs = re.findall(r"'([0-9a-f]{64})  ([\w.]+)'", docker)
    assert dict((f, h) for h, f in pairs) == {f: h for f, h in v.files.items() if f != "holdout.parquet"}
    home = out / "project/state/registry/churn/1"
    assert all(file_sha256(home / f) == h for h, f in pairs)
    check = "".join(f"{h}  {f}\n" for h, f in pairs)   # the build step, run here as docker would run it
    assert subprocess.run(["sha256sum", "--check", "--strict", "-"], input=check, text=True, cwd=home,
                          capture_output=True).returncode == 0
    tampered = tmp_path / "tampered"
    shutil.copytree(home, tampered)
    data = (tampered / "model.skops").read_bytes()
    (tampered / "model.skops").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))   # one bit changed
    assert subprocess.run(["sha256sum", "--check", "--strict", "-"], input=check, text=True, cwd=tampered,
                          capture_output=True).returncode != 0

    ignore = (out / ".dockerignore").read_text().splitlines()
    assert ignore[1:5] == ["*", "!serve.sh", "!project", "!wheels"] and "**/*.lock" in ignore

    # the container's project: valid settings, served on all interfaces, no token written anywhere
    cs = load_settings(out / "project")
    assert (cs.project.name, cs.serve.host, cs.serve.port, cs.serve.token) == ("churn", "0.0.0.0", 8000, "")
    assert cs.project.state_dir == (out / "project/state").resolve()

    with pytest.raises(WorkbenchError, match="is not empty") as e:
        write_container(s, "churn/1", out)
    assert str(out) in str(e.value)


def test_container_with_a_local_wheel(trained, tmp_path):
    import workbench
    s = load_settings(trained)
    wheel = tmp_path / f"workbench-{workbench.__version__}-py3-none-any.whl"
    wheel.write_bytes(b"PK\x05\x06" + bytes(18))
    files = write_container(s, "churn/1", tmp_path / "w", wheel=wheel)
    assert tmp_path / "w" / "wheels" / wheel.name in files
    assert (tmp_path / "w" / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    assert f"ARG WORKBENCH_SPEC=/wheels/{wheel.name}\n" in (tmp_path / "w" / "Dockerfile").read_text()
    other = tmp_path / "workbench-0.0.1-py3-none-any.whl"
    other.write_bytes(b"PK")
    with pytest.raises(WorkbenchError, match=f"expected a file workbench-{re.escape(workbench.__version__)}-"):
        write_container(s, "churn/1", tmp_path / "w2", wheel=other)
    assert not (tmp_path / "w2").exists()


def test_container_registry_is_valid_and_predicts_identically(trained, tmp_path):
    s = load_settings(trained)
    reg = Registry.of(s)
    out = tmp_path / "deploy"
    write_container(s, "churn/1", out)
    inside = Registry(out / "project/state/registry")
    a, b = reg.get("churn/1"), inside.get("churn/1")
    assert (b.ref, b.created_at, b.run_id, b.task, b.metrics, b.threshold, b.meta["signature"]) == \
           (a.ref, a.created_at, a.run_id, a.task, a.metrics, a.threshold, a.meta["signature"])
    assert inside.names() == ["churn"] and [v.version for v in inside.versions("churn")] == [1]
    original, X = holdout_inputs(reg)
    new = make_customers(80, months=1, seed=11).drop(columns="churned")
    for rows in (X, new):
        pd.testing.assert_frame_equal(inside.load("churn/1").predict(rows), original.predict(rows))
    [event] = inside.events("churn")
    assert event["action"] == "register" and "copied from" in event["reason"] and "holdout.parquet" in event["reason"]


def test_copy_version_keeps_the_number(two_versions, tmp_path):
    reg = Registry.of(load_settings(two_versions))
    copied = copy_version(reg, "churn/2", tmp_path / "one", holdout=True)
    assert copied.ref == "churn/2" and copied.files == reg.get("churn/2").files   # the holdout too, when asked
    one = Registry(tmp_path / "one")
    assert [v.ref for v in one.versions("churn")] == ["churn/2"] and one.aliases("churn") == {}
    _, X = holdout_inputs(reg, "churn/2")
    pd.testing.assert_frame_equal(one.load("churn/2").predict(X), reg.load("churn/2").predict(X))
    with pytest.raises(WorkbenchError, match="is not empty"):
        copy_version(reg, "churn/1", tmp_path / "one")


def test_entry_point_requires_a_token(trained, tmp_path):
    out = tmp_path / "deploy"
    write_container(load_settings(trained), "churn/1", out)
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_TOKEN"}
    p = subprocess.run(["sh", str(out / "serve.sh")], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "WORKBENCH_TOKEN is not set" in p.stderr and "openssl rand" in p.stderr
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "workbench").write_text('#!/bin/sh\necho "args: $*"\necho "token: $WORKBENCH_TOKEN"\n')
    (stub / "workbench").chmod(0o755)
    env.update(WORKBENCH_TOKEN="s3cret", PATH=f"{stub}{os.pathsep}{env.get('PATH', '')}")
    p = subprocess.run(["sh", str(out / "serve.sh")], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "args: --project /srv/project serve churn/1 --host 0.0.0.0 --port 8000\n" in p.stdout
    assert "token: s3cret" in p.stdout and "s3cret" not in p.stdout.split("\n")[0]   # by environment, not argv


class _Health(BaseHTTPRequestHandler):
    status = 200
    seen: list = []

    def do_GET(self):
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a): pass


def test_healthcheck_command_hits_health_with_the_token(trained, tmp_path):
    out = tmp_path / "deploy"
    write_container(load_settings(trained), "churn/1", out)
    docker = (out / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^\s+CMD (\[.*\])$", docker, re.M).group(1))
    assert cmd[:2] == ["python", "-c"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = cmd[2].replace("127.0.0.1:8000", f"127.0.0.1:{server.server_port}")
        run = lambda: subprocess.run([sys.executable, "-c", code], env={**os.environ, "WORKBENCH_TOKEN": "tok"},  # noqa: E731
                                     capture_output=True, timeout=30).returncode
        assert run() == 0 and _Health.seen[-1] == ("/health", "Bearer tok")
        _Health.status = 503
        assert run() != 0   # an unhealthy service fails the check
    finally:
        _Health.status = 200
        server.shutdown()
        server.server_close()


def test_container_project_serves_the_pinned_version(trained, tmp_path):
    "Without Docker: the container's project served by the real `workbench serve`, checked by the image's health check."
    pytest.importorskip("workbench.serve")
    import urllib.request
    s = load_settings(trained)
    out = tmp_path / "deploy"
    write_container(s, "churn/1", out)
    health = json.loads(re.search(r"^\s+CMD (\[.*\])$", (out / "Dockerfile").read_text(), re.M).group(1))[2]
    env = {**os.environ, "WORKBENCH_TOKEN": "tok-123"}
    server = subprocess.Popen([WORKBENCH, "--project", str(out / "project"), "serve", "churn/1", "--host", "127.0.0.1",
                               "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline()   # "serving churn/1 (churn/1) at http://127.0.0.1:PORT"
        url = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert url, line + server.stderr.read() if server.poll() is not None else line
        url = url.group(1)
        port = url.rsplit(":", 1)[1]
        deadline = time.monotonic() + 60
        while True:   # the line comes before uvicorn serves; the image's check runs once it does
            try:
                with urllib.request.urlopen(urllib.request.Request(f"{url}/health", headers={"Authorization": "Bearer tok-123"}), timeout=5): break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the service did not come up"
                time.sleep(0.2)
        ok = subprocess.run([sys.executable, "-c", health.replace("127.0.0.1:8000", f"127.0.0.1:{port}")], env=env, timeout=30)
        assert ok.returncode == 0
        with urllib.request.urlopen(f"{url}/health", timeout=10) as r: assert json.load(r)["ref"] == "churn/1"
        m, X = holdout_inputs(Registry.of(s))
        rows = json.loads(X[m.inputs].head(5).to_json(orient="records", date_format="iso"))
        ask = lambda token: urllib.request.Request(f"{url}/predict", json.dumps({"rows": rows}).encode(),  # noqa: E731
                                                   {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
        with pytest.raises(urllib.error.HTTPError) as e: urllib.request.urlopen(ask(None), timeout=10)
        assert e.value.code == 401
        with urllib.request.urlopen(ask("tok-123"), timeout=30) as r: got = json.load(r)["predictions"]
        want = m.predict(X[m.inputs].head(5))
        assert [p["prediction"] for p in got] == list(want["prediction"])
        assert np.allclose([p["probability"] for p in got], want["probability"], rtol=0, atol=1e-12)
    finally:
        server.terminate()
        server.wait(timeout=30)


# ---------------------------------------------------------------- MLflow export

def test_mlflow_export_loads_back_and_predicts_identically(trained, tmp_path):
    import mlflow.pyfunc
    from mlflow.models import Model
    reg = Registry.of(load_settings(trained))
    v = reg.get("churn/1")
    out = export_mlflow(reg, "churn@champion", tmp_path / "mlflow-churn")
    assert out == (tmp_path / "mlflow-churn").absolute()
    mm = Model.load(str(out / "MLmodel"))
    assert {"sklearn", "python_function"} <= set(mm.flavors)
    assert mm.signature.inputs.input_names() == v.meta["signature"]["inputs_order"]
    assert [(c.name, c.type.name) for c in mm.signature.outputs.inputs] == [("prediction", "long")]   # labels 0/1
    assert mm.metadata["workbench_model"] == "churn/1" and mm.metadata["workbench_model_sha256"] == v.files["model.skops"]
    assert (out / "model_card.md").read_text() == v.card()

    info = json.loads((out / "workbench.json").read_text())
    assert (info["name"], info["version"], info["metrics"], info["files_sha256"], info["code"]) == \
           ("churn", 1, v.metrics, v.files, v.meta["code"])
    assert info["threshold"] == v.threshold and info["labels"] == v.meta["labels"]
    assert all(file_sha256(out / f) == h for f, h in info["export_sha256"].items()) and "MLmodel" in info["export_sha256"]

    example = pd.read_json(out / "input_example.json", orient="split")
    assert list(example.columns) == v.meta["signature"]["inputs_order"] and len(example) == 5
    assert "__target__" not in example.columns and "customer_id" not in example.columns

    m, X = holdout_inputs(reg)
    X = X[m.inputs]
    as_text = X.assign(**{c: X[c].astype(object) for c in X.columns if mlflow_type(X[c].dtype) == "string"})
    got = np.asarray(mlflow.pyfunc.load_model(str(out)).predict(as_text))
    want = m.estimator.predict(X)   # pyfunc calls predict: the labels 0/1 at the registered threshold
    assert len(got) == len(X) > 50 and np.array_equal(got, want)
    assert set(np.unique(want)) <= {0, 1}

    with pytest.raises(WorkbenchError, match="is not empty"):
        export_mlflow(reg, "churn/1", out)


def test_input_example_hides_sensitive_values():
    hold = pd.DataFrame({"age": [31.0, 45.0, None], "plan": pd.Categorical(["a", "b", None]), "n": [1, 2, 3],
                         "email": ["ann@example.com", "bob@example.org", "cy@example.net"], "__target__": [0, 1, 0]})
    version = SimpleNamespace(holdout=lambda: hold, contract=lambda: SimpleNamespace(sensitive=["age"]),
                              meta={"signature": {"inputs_order": ["age", "plan", "n", "email"]}})
    X, hidden = input_example(version, rows=3)
    assert hidden == ["age", "email"]   # declared in the contract; detected as personal data
    assert X["age"].isna().all() and X["age"].dtype == float
    assert list(X["email"]) == ["<redacted>"] * 3 and "__target__" not in X.columns
    assert list(X["plan"]) == ["a", "b", None] and X["plan"].dtype == object and list(X["n"]) == [1, 2, 3]


def test_mlflow_missing_says_which_extra(trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow.sklearn", None)   # as if mlflow were not installed
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'workbench[mlflow]'")):
        export_mlflow(Registry.of(load_settings(trained)), "churn/1", tmp_path / "x")
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- registry browser

def test_registry_browser_promotes_through_the_gate_and_rolls_back(two_versions, tmp_path):
    from dataclasses import replace
    s = load_settings(two_versions)
    reg = Registry.of(s)
    assert reg.aliases("churn") == {"champion": 1}

    empty = RegistryBrowser(Registry(tmp_path / "nowhere"))   # building reads and writes nothing
    assert not (tmp_path / "nowhere").exists() and empty.model.options == ()
    b = RegistryBrowser(s)
    assert b.model.options == () and b.versions.value == b.log.value == ""
    b.refresh()
    assert b.model.value == "churn" and [v for _, v in b.version.options] == [2, 1] and b.version.value == 2
    table = b.versions.value
    assert "parent champion" in table and reg.get("churn/2").meta["data_fingerprint"] in table and "workbench 0.1.0" in table
    assert "success threshold 0.6" in b.gate.value and "settings.ini" in b.gate.value

    b.reason.value = "<script>alert(1)</script> better on March"
    b.promote_button.click()
    assert reg.aliases("churn") == {"champion": 2}
    assert "churn/2 promoted to champion" in b.outcome.value and "<li>" in b.outcome.value
    assert "&lt;script&gt;alert(1)&lt;/script&gt; better on March" in b.log.value
    assert all("<script>" not in x.value for x in (b.log, b.outcome, b.versions, b.details, b.summary))
    assert "champion → 2" in b.summary.value

    b.promote_button.click()   # refused, and said why
    assert "NOT promoted" in b.outcome.value and "champion already" in b.outcome.value
    assert reg.aliases("churn") == {"champion": 2}

    strict = RegistryBrowser(replace(s, problem=replace(s.problem, success_threshold=0.99)))   # the project's gate
    strict.refresh()
    strict.version.value = 1
    strict.promote_button.click()
    assert "misses the success criterion" in strict.outcome.value and "0.99" in strict.outcome.value
    assert reg.aliases("churn") == {"champion": 2} and not strict.promote_button.disabled

    b.rollback_button.click()
    assert reg.aliases("churn") == {"champion": 1} and "rolled back to version 1" in b.outcome.value
    b.rollback_button.click()   # nothing earlier: the error is shown, nothing moves
    assert "no earlier version" in b.outcome.value and reg.aliases("churn") == {"champion": 1}
    actions = [e["action"] for e in reg.events("churn")]
    assert actions[-4:] == ["promote", "refuse", "refuse", "rollback"]

    shown = RegistryBrowser(reg)   # shown in a notebook: it reads the registry then
    shown._ipython_display_()
    assert shown.model.value == "churn" and "churn/2" in shown.details.value


# ---------------------------------------------------------------- CLI

def _wb(project, *args):
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    return subprocess.run([WORKBENCH, "--project", str(project), *args], capture_output=True, text=True, timeout=180, env=env)


def test_cli_container_and_export(trained, tmp_path):
    out = tmp_path / "c"
    p = _wb(trained, "container", "churn/1", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert str(out / "Dockerfile") in p.stdout.splitlines() and (out / "Dockerfile").is_file()
    p = _wb(trained, "container", "churn/1", "--out", str(out))
    assert p.returncode == 2 and "is not empty" in p.stderr and str(out) in p.stderr

    out = tmp_path / "m"
    p = _wb(trained, "registry", "export", "churn/1", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(out) and (out / "MLmodel").is_file() and (out / "workbench.json").is_file()
    p = _wb(trained, "registry", "export", "churn/1", "--out", str(out))
    assert p.returncode == 2 and "is not empty" in p.stderr and str(out) in p.stderr
