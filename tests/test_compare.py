"""Champion and challenger: `workbench compare` (the real command), and shadow mode and the A/B split in a real
`workbench serve` process, with real models trained into a temporary project."""
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_serve import Server as ServeServer

from workbench.example import make_customers, write_model_project
from workbench.registry import Registry, train_project
from workbench.serve import challenger_rows, read_prediction_log, split_buckets
from workbench.settings import ChallengerSettings, load_settings

WORKBENCH = str(Path(sys.executable).with_name("workbench"))
ENV = {k: v for k, v in os.environ.items() if k != "WORKBENCH_TOKEN"}
SERVE = "[serve]\nreload_seconds = 0.5\nlog_dir = predlog\n"


class Server(ServeServer):
    "`workbench serve` in a subprocess (see tests/test_serve.py), with its Prometheus figures at hand."
    def metric(self, name, **labels):
        text = self.client.get("/metrics").text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    "churn/1 (linear) the champion, churn/2 (the prior only: clearly worse) the challenger; shadow mode."
    d = tmp_path_factory.mktemp("compare")
    s = load_settings(write_model_project(d, n_customers=600, months=4, candidates="linear", extra=SERVE))
    assert train_project(s).version.ref == "churn/1"
    two = train_project(replace(s, train=replace(s.train, candidates=["dummy"])), promote=False).version
    Registry.of(s).promote(two.ref, "challenger")
    return d


def rows(n, seed):
    return make_customers(n, months=1, seed=seed)


def records(df):
    return json.loads(df.drop(columns="churned").to_json(orient="records", date_format="iso"))


def predicted(project, ref, df):
    return Registry.of(load_settings(project)).load(ref).predict(df.drop(columns="churned"))


def wb(project, *args):
    return subprocess.run([WORKBENCH, "--project", str(project), *args], capture_output=True, text=True, timeout=120, env=ENV)


def test_shadow_mode_logs_both_and_returns_only_the_champions(project):
    s = Server(project)
    try:
        assert "with the challenger churn/2 in shadow mode" in "".join(s.out)
        df = rows(60, seed=21)
        r = s.client.post("/predict", json={"rows": records(df)})
        assert r.status_code == 200, r.text
        body = r.json()
        assert list(body) == ["model", "version", "predictions"] and body["version"] == 1   # nothing of the challenger's
        champ, chall = predicted(project, "churn/1", df), predicted(project, "churn/2", df)
        assert [p["prediction"] for p in body["predictions"]] == champ.prediction.tolist()
        np.testing.assert_allclose([p["probability"] for p in body["predictions"]], champ.probability, rtol=1e-12)
        assert s.client.get("/health").json()["challenger"] == {"model": "churn", "version": 2, "mode": "shadow"}
        deadline = time.time() + 20
        while s.metric("workbench_shadow_predictions_total") < 60:
            assert time.time() < deadline, "".join(s.err)
            time.sleep(0.1)
        agree = (champ.prediction.astype(str) == chall.prediction.astype(str)).mean()
        assert abs(s.metric("workbench_challenger_agreement") - agree) < 1e-9 and agree < 1
    finally:
        s.stop()
    log = read_prediction_log(project / "predlog")
    log = log[log._request == log._request.iloc[-1]]   # this request's rows
    assert len(log) == 60 and set(log._version) == {1} and set(log._challenger_version) == {2}
    assert log.prediction.tolist() == champ.prediction.tolist()
    assert log.challenger_prediction.tolist() == chall.prediction.tolist()
    np.testing.assert_allclose(log.challenger_probability, chall.probability, rtol=1e-12)


def test_split_is_stable_and_near_the_share(project, tmp_path):
    keys = [f"C{i:07d}" for i in range(50_000)]
    to = challenger_rows(keys, 0.2)
    assert abs(to.mean() - 0.2) < 0.006
    assert (challenger_rows(keys[::-1], 0.2)[::-1] == to).all()            # a key's arm does not depend on the others
    code = "import sys; from workbench.serve import split_buckets; print(split_buckets(sys.argv[1:]).tolist())"
    other = subprocess.run([sys.executable, "-c", code, *keys[:200]], capture_output=True, text=True, check=True,
                           env={**ENV, "PYTHONHASHSEED": "123"})          # another process, another str hash seed
    assert json.loads(other.stdout) == split_buckets(keys[:200]).tolist()
    assert split_buckets([42, 42.0, "42"]).tolist() == [split_buckets(["42"])[0]] * 3
    # the service: a share of customers answered by the challenger, the same ones every time
    (tmp_path / "settings.ini").write_text((project / "settings.ini").read_text().replace("[project]", f"[project]\nstate_dir = {project / '.workbench'}")
                                           + "[challenger]\nmode = split\nshare = 0.5\nkey = customer_id\n")
    s = Server(tmp_path)
    try:
        df = rows(80, seed=22)
        first = s.client.post("/predict", json={"rows": records(df)}).json()
        again = s.client.post("/predict", json={"rows": records(df.iloc[::-1])}).json()
        want = [2 if t else 1 for t in challenger_rows(df.customer_id, 0.5)]
        assert first["versions"] == want and again["versions"] == want[::-1] and 0 < sum(v == 2 for v in want) < 80
        champ, chall = predicted(project, "churn/1", df), predicted(project, "churn/2", df)
        got = pd.DataFrame(first["predictions"])
        mine = np.array(want) == 2
        np.testing.assert_allclose(got.probability[mine], chall.probability[mine], rtol=1e-12)
        np.testing.assert_allclose(got.probability[~mine], champ.probability[~mine], rtol=1e-12)
        assert s.metric("workbench_split_rows_total", arm="challenger") == 2 * mine.sum()
    finally:
        s.stop()


def test_the_paired_test_waits_for_enough_rows_then_decides(project, tmp_path):
    few, many = tmp_path / "few.parquet", tmp_path / "many.parquet"
    rows(150, seed=31).to_parquet(few)
    make_customers(2500, months=2, seed=32).to_parquet(many)
    p = wb(project, "compare", "churn@champion", "churn@challenger", str(few), "--json")
    assert p.returncode == 3, p.stderr
    out = json.loads(p.stdout)
    assert out["verdict"] == "not decided yet" and not out["decided"] and out["rows"] == 150
    assert "fewer than the 1,000 a decision needs" in out["reason"] and out["tests"][0]["ci_low"] is not None
    p = wb(project, "compare", "churn@champion", "churn@challenger", str(many), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert (out["winner"], out["rows"], out["paired"]) == ("champion", 5000, True)   # linear beats the prior
    auc = out["tests"][0]
    assert auc["metric"] == "roc_auc" and auc["method"] == "DeLong (paired)" and auc["ci_high"] < 0 and auc["p_value"] < 0.001
    assert {t["metric"] for t in out["tests"]} >= {"roc_auc", "accuracy", "value"}
    p = wb(project, "compare", "churn/2", "churn/1", str(many))   # the other way round, as text
    assert p.returncode == 0 and p.stdout.startswith("the challenger churn/1 is better than the champion churn/2"), p.stdout
    p = wb(project, "compare", "churn/1", "churn/2", str(many), "--key", "customer_id", "--json")   # an A/B split: independent arms
    out = json.loads(p.stdout)
    assert not out["paired"] and out["arms"]["challenger_rows"] + out["arms"]["champion_rows"] == 5000
    assert out["tests"][0]["method"] == "DeLong (independent)" and 0.05 < out["arms"]["challenger_rows"] / 5000 < 0.15


def test_a_challenger_with_another_signature_is_refused(project, tmp_path):
    s = load_settings(project)
    other = train_project(replace(s, problem=replace(s.problem, target="has_discount", positive_class="True")), promote=False).version
    data = tmp_path / "new.parquet"
    rows(300, seed=41).to_parquet(data)
    p = wb(project, "compare", "churn/1", other.ref, str(data))
    assert p.returncode == 2 and f"{other.ref} predicts 'has_discount' (binary), the champion churn/1 predicts 'churned'" in p.stderr
    rows(300, seed=41).drop(columns="monthly_charges").to_parquet(data)
    p = wb(project, "compare", "churn/1", "churn/2", str(data))
    assert p.returncode == 2 and "the data lacks the champion churn/1's input column(s) 'monthly_charges'" in p.stderr
    # the service never uses it: the champion serves alone, and /health says why
    from fastapi.testclient import TestClient

    from workbench.serve import make_app
    reg = Registry.of(s)
    reg.promote(other.ref, "challenger")
    try:
        with TestClient(make_app(reg, "churn", challenger=ChallengerSettings("shadow"))) as client:
            health = client.get("/health").json()
            assert "challenger" not in health and "answer different questions" in health["challenger_error"]
            assert client.post("/predict", json={"rows": records(rows(5, seed=42))}).status_code == 200
    finally:
        reg.promote("churn/2", "challenger")
