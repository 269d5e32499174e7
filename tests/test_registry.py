"""The model registry and batch scoring through the real CLI, real processes and real files."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import wb

from workbench.registry import Registry
from workbench.score import stable_types
from workbench.settings import load_settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "A project with one trained, champion model (churn/1) and new data to score."
    from workbench.example import make_customers, write_model_project
    d = tmp_path_factory.mktemp("registry")
    write_model_project(d, 1500, candidates="linear")
    out = json.loads(wb(d, "train", "--json", check=0).stdout)
    assert out["model"] == "churn/1" and out["promoted"] is True
    new = make_customers(2500, months=1, seed=11).drop(columns="churned")
    new.to_csv(d / "new.csv", index=False)
    return d


def test_chunked_scoring_gives_exactly_the_predictions_of_scoring_whole(trained, tmp_path):
    out = tmp_path / "scores.parquet"
    p = wb(trained, "score", "churn@champion", str(trained / "new.csv"), "--out", str(out), "--chunk-rows", "300", "--json", check=0)
    res = json.loads(p.stdout)
    assert (res["rows"], res["scored"], res["rejected"], res["chunks"]) == (2500, 2500, 0, 9)
    got = pd.read_parquet(out)
    reg = Registry.of(load_settings(trained))
    new = pd.read_csv(trained / "new.csv")
    whole = reg.load("churn/1").predict(stable_types(new, reg.get("churn/1").contract()))
    np.testing.assert_array_equal(got["probability"].to_numpy(), whole["probability"].to_numpy())
    np.testing.assert_array_equal(got["prediction"].to_numpy(), whole["prediction"].to_numpy())
    assert got.customer_id.tolist() == new.customer_id.tolist()                       # input columns kept, in order
    assert set(got.model) == {"churn"} and set(got.model_version) == {1} and got.scoring_run_id.nunique() == 1
    assert str(got.scored_at.dtype).startswith("datetime64") and set(got.prediction) <= {True, False}


def test_csv_and_sqlite_outputs_keep_and_append(trained, tmp_path):
    wb(trained, "score", "churn/1", str(trained / "new.csv"), "--out", str(tmp_path / "s.csv"), "--keep", "customer_id", check=0)
    csv = pd.read_csv(tmp_path / "s.csv")
    assert list(csv.columns) == ["customer_id", "prediction", "probability", "model", "model_version", "scoring_run_id", "scored_at"]
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    for _ in range(2): wb(trained, "score", "churn", str(trained / "new.csv"), "--out", url, "--table", "daily", "--chunk-rows", "1000", check=0)
    with closing(sqlite3.connect(tmp_path / "scores.db")) as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT scoring_run_id) FROM daily").fetchone() == (5000, 2)
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["daily"]   # no temporary table left
    p = wb(trained, "score", "churn", str(trained / "new.csv"), "--out", str(tmp_path / "s.csv"), "--keep", "customer_idd")
    assert p.returncode == 2 and "'customer_idd' is not a column of the data; did you mean 'customer_id'?" in p.stderr


def test_rows_failing_the_contract_go_to_rejects_with_reasons(trained, tmp_path):
    new = pd.read_csv(trained / "new.csv")
    new.loc[[5, 1234], "tenure_months"] = -3            # never negative in training
    new["monthly_charges"] = new["monthly_charges"].astype(object)
    new.loc[2000, "monthly_charges"] = "lots"           # text in a number column
    new.to_csv(tmp_path / "bad.csv", index=False)
    rej = tmp_path / "rejects.csv"
    p = wb(trained, "score", "churn", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o.parquet"), "--rejects", str(rej),
           "--chunk-rows", "700", "--json", check=0)
    res = json.loads(p.stdout)
    assert (res["scored"], res["rejected"]) == (2497, 3)
    r = pd.read_csv(rej)
    assert sorted(r["_row"]) == [5, 1234, 2000]          # positions in the whole input, across chunks
    assert r.set_index("_row").loc[2000, "_reason"].startswith("monthly_charges")
    assert len(pd.read_parquet(tmp_path / "o.parquet")) == 2497


def test_a_missing_input_column_stops_before_anything_is_written(trained, tmp_path):
    pd.read_csv(trained / "new.csv").drop(columns="tenure_months").to_csv(tmp_path / "x.csv", index=False)
    p = wb(trained, "score", "churn", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o.parquet"))
    assert p.returncode == 2 and "tenure_months" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o.parquet").exists() and not list(tmp_path.glob(".o.parquet*"))
    for bad, msg in (("churn@best", "has no alias 'best'"), ("chrun", "did you mean 'churn'"), ("churn/7", "has no version 7")):
        p = wb(trained, "score", bad, str(trained / "new.csv"), "--out", str(tmp_path / "o.parquet"))
        assert p.returncode == 2 and msg in p.stderr, p.stderr


def test_a_killed_scorer_leaves_no_partial_output(trained, tmp_path):
    from workbench.example import make_customers
    big = pd.concat([make_customers(20_000, months=1, seed=s).drop(columns="churned") for s in range(5)], ignore_index=True)
    big.to_csv(tmp_path / "big.csv", index=False)
    out = tmp_path / "o.parquet"
    out.write_bytes(b"the previous output")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("workbench")), "--project", str(trained), "score", "churn",
                             str(tmp_path / "big.csv"), "--out", str(out), "--chunk-rows", "2000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not any(p.stat().st_size > 0 for p in tmp_path.glob(".o.parquet.*.tmp")):   # it is writing
        assert proc.poll() is None and time.time() < deadline, "the scorer ended before it was killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert out.read_bytes() == b"the previous output"    # never half a file


def test_gate_refuses_a_worse_candidate_force_and_rollback_are_recorded(trained):
    out = json.loads(wb(trained, "train", "--json", "--candidates", "dummy", check=0).stdout)
    assert out["model"] == "churn/2" and out["promoted"] is False
    assert "misses the success criterion" in out["promotion"] and "loses to the champion churn/1" in out["promotion"]
    p = wb(trained, "registry", "promote", "churn/2")
    assert p.returncode == 1 and "NOT promoted" in p.stdout
    wb(trained, "registry", "promote", "churn/2", "--force", "--reason", "testing the override", check=0)
    listing = json.loads(wb(trained, "registry", "list", "--json", check=0).stdout)
    [m] = [m for m in listing if m["name"] == "churn"]
    assert m["aliases"]["champion"] == 2
    assert [(v["version"], v["aliases"]) for v in m["versions"]][:2] == [(1, []), (2, ["champion"])]
    assert {"version", "created_at", "metrics", "aliases"} <= set(m["versions"][0]) and "roc_auc" in m["versions"][0]["metrics"]
    wb(trained, "registry", "rollback", "churn", "--reason", "bad release", check=0)
    shown = json.loads(wb(trained, "registry", "show", "churn@champion", "--json", check=0).stdout)
    assert shown["version"] == 1 and shown["code"]["sklearn"] and shown["signature"]["inputs_order"]
    events = Registry.of(load_settings(trained)).events("churn")
    acts = [(e["action"], e["version"], e["forced"]) for e in events]
    assert ("refuse", 2, False) in acts and ("promote", 2, True) in acts and acts[-1] == ("rollback", 1, False)
    forced = next(e for e in events if e["action"] == "promote" and e["forced"])
    assert forced["reason"] == "testing the override" and forced["user"] and forced["evidence"]["current_on_holdout"] > 0.6
    refusal = next(e for e in events if e["action"] == "refuse")
    assert "loses to the champion" in refusal["reason"] and refusal["evidence"]["loss"] > 0.01


def test_tampered_truncated_and_untrusted_artifacts_are_refused(tmp_path):
    from sklearn.preprocessing import FunctionTransformer
    reg = Registry(tmp_path / "reg")
    est = FunctionTransformer(os.system)   # loading this must never hand back a callable that runs commands
    v = reg.register("evil", est, {"task": "regression"})
    with pytest.raises(Exception, match="not trusted: .*system"): reg.load("evil/1")
    from sklearn.dummy import DummyRegressor
    good = reg.register("ok", DummyRegressor().fit([[0], [1]], [0, 1]), {"task": "regression"})
    f = good.path / "model.skops"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception, match=r"model\.skops' does not match the sha256"): reg.load("ok/1")
    f.write_bytes(data)
    reg.load("ok/1")
    (good.path / "metadata.json").write_text("{}")
    with pytest.raises(Exception, match=r"metadata\.json' does not match"): reg.load("ok/1")
    assert v.version == 1


REGISTER = """
import sys
from sklearn.dummy import DummyRegressor
from workbench.registry import Registry
reg = Registry(sys.argv[1])
for i in range(5):
    reg.register("m", DummyRegressor().fit([[0], [1]], [0, i]), {"task": "regression", "metrics": {"rmse": float(i)}}, reason=sys.argv[2])
"""


def test_four_processes_registering_at_once_lose_nothing(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", REGISTER, str(tmp_path / "reg"), f"p{i}"], stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    for p in procs: assert p.wait(timeout=120) == 0, p.stderr.read()
    reg = Registry(tmp_path / "reg")
    versions = reg.versions("m")
    assert [v.version for v in versions] == list(range(1, 21))
    for v in versions: v.verify()                                              # every artifact complete
    assert sorted(p.name for p in (tmp_path / "reg" / "m").iterdir()) == sorted(map(str, range(1, 21)))   # no leftovers
    assert sorted(e["reason"] for e in reg.events("m")) == sorted([f"p{i}" for i in range(4)] * 5)


def test_csv_chunks_whose_types_differ_still_make_one_parquet_file(trained, tmp_path):
    new = pd.read_csv(trained / "new.csv")
    new.loc[300:, ["region", "age"]] = None                   # later chunks: a text column with no values reads as numbers
    new.loc[600:, "tenure_months"] = None                     # an integer column gains missing values
    new.to_csv(tmp_path / "gaps.csv", index=False)
    res = json.loads(wb(trained, "score", "churn", str(tmp_path / "gaps.csv"), "--out", str(tmp_path / "g.parquet"),
                        "--chunk-rows", "300", "--json", check=0).stdout)
    got = pd.read_parquet(tmp_path / "g.parquet")
    assert res["scored"] == len(got) == 2500 and got.region.iloc[:300].notna().all() and got.region.iloc[300:].isna().all()
    assert got.probability.between(0, 1).all()


def test_scoring_a_sql_source_streams_it_in_chunks(trained, tmp_path):
    new = pd.read_csv(trained / "new.csv")
    with closing(sqlite3.connect(tmp_path / "new.db")) as con: new.to_sql("customers", con, index=False)
    ini = trained / "settings.ini"
    before = ini.read_text()
    try:
        ini.write_text(before + f"[source:newdb]\nkind = sql\nurl = sqlite:///{tmp_path / 'new.db'}\ntable = customers\n"
                                "parse_dates = snapshot_month, signup_date\n")
        res = json.loads(wb(trained, "score", "churn", "newdb", "--out", str(tmp_path / "o.parquet"), "--chunk-rows", "700",
                            "--json", check=0).stdout)
    finally: ini.write_text(before)
    assert (res["rows"], res["scored"], res["chunks"]) == (2500, 2500, 4)
    ref = pd.read_parquet(tmp_path / "o.parquet")
    assert ref.customer_id.tolist() == new.customer_id.tolist()
