"""Correct on data that moves on: contracts without false alarms, honest quality verdicts, leakage and `check`."""
import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import WORKBENCH, runs, wb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine


def cli(*args, cwd):
    return subprocess.run([WORKBENCH, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def validate(d, data, contract="c.json", *extra):
    p = cli("validate", data, "--contract", contract, "--json", *extra, cwd=d)
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, json.loads(p.stdout)


@pytest.fixture(scope="module")
def periods(tmp_path_factory):
    "A reference period (4 months) with its contract, and the next 4 months as they arrive for scoring."
    from workbench.example import make_customers
    d = tmp_path_factory.mktemp("periods")
    df = make_customers(3_000, months=8, drift_month=5, seed=11)
    month = df.snapshot_month.dt.month
    ref, later = df[month <= 4].reset_index(drop=True), df[month > 4].reset_index(drop=True)
    ref.to_parquet(d / "ref.parquet", index=False)
    p = cli("contract", "infer", "ref.parquet", "--out", "c.json", "--keys", "customer_id,snapshot_month", "--label", "churned", cwd=d)
    assert p.returncode == 0, p.stderr
    rng = np.random.default_rng(5)
    later = later.drop(columns=["churned"])                                    # no label yet: it is data to score
    later["region"] = later.region.astype(object)
    later.loc[rng.random(len(later)) < 0.004, "region"] = "overseas"           # a new category, rare
    older = rng.random(len(later)) < 0.01
    later.loc[older, "age"] = rng.integers(91, 99, older.sum())                # just beyond the reference's 90
    return d, ref, later


def test_later_period_is_not_quarantined(periods):
    d, ref, later = periods
    assert not set(later.customer_id) <= set(ref.customer_id)                  # new ids arrived
    later.to_parquet(d / "later.parquet", index=False)
    code, out = validate(d, "later.parquet")
    assert code == 0 and out["quarantined_share"] < 0.01, out["rules"]
    assert out["quarantined"] == 0
    soft = {(r["rule"], r["column"]): r for r in out["rules"] if r["severity"] == "soft"}
    assert soft[("category", "region")]["examples"] == ["overseas"]            # still caught, as a warning
    assert soft[("category", "plan")]["examples"] == ["family"]                # the new plan of the drifted months
    assert ("range", "age") in soft


def test_planted_bad_rows_are_caught_in_later_data(periods):
    d, _, later = periods
    bad = later.astype({"monthly_charges": object, "tenure_months": object})
    bad.loc[10, "monthly_charges"] = "call us"                                 # text in a numeric column
    bad.loc[20, "age"] = 400                                                   # impossible
    bad.loc[30, "tenure_months"] = -3                                          # negative, never negative before
    bad.loc[40, ["customer_id", "snapshot_month"]] = bad.loc[41, ["customer_id", "snapshot_month"]].to_numpy()   # duplicate key
    bad.loc[50, "snapshot_month"] = None                                       # a key must be there
    bad.to_csv(d / "bad.csv", index=False)
    code, out = validate(d, "bad.csv", "c.json", "--quarantine", "q.csv")
    assert code == 0 and out["quarantined"] == 5                               # 5 rows of 12,000: within 1%
    q = pd.read_csv(d / "q.csv")
    assert sorted(q._row) == [10, 20, 30, 41, 50]
    reasons = dict(zip(q._row, q._reason))
    assert reasons[10] == "monthly_charges: not a float" and "age: far outside" in reasons[20]
    assert "tenure_months: negative" in reasons[30] and "duplicate key" in reasons[41] and "snapshot_month: missing" in reasons[50]
    code, out = validate(d, "bad.csv", "c.json", "--max-quarantined-share", "0.0001")
    assert code == 1 and "more than the 0.01% allowed" in out["verdict"]


def test_required_column_missing_is_one_dataset_level_error(periods):
    d, _, later = periods
    later.drop(columns=["plan", "age"]).to_parquet(d / "narrow.parquet", index=False)
    p = cli("validate", "narrow.parquet", "--contract", "c.json", cwd=d)
    assert p.returncode == 2 and "lacks the column(s) ['plan', 'age']" in p.stderr and p.stderr.count("'plan'") == 1
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("loader", [load_breast_cancer, load_diabetes, load_wine, load_iris])
def test_real_data_sets_split_in_halves_raise_no_false_alarms(tmp_path, loader):
    df = loader(as_frame=True).frame.sample(frac=1, random_state=0).reset_index(drop=True)
    half = len(df) // 2
    df.iloc[:half].to_csv(tmp_path / "a.csv", index=False)
    df.iloc[half:].drop(columns="target").to_csv(tmp_path / "b.csv", index=False)
    assert cli("contract", "infer", "a.csv", "--out", "c.json", "--label", "target", cwd=tmp_path).returncode == 0
    code, out = validate(tmp_path, "b.csv")
    assert code == 0 and out["quarantined"] == 0, out["rules"]


def test_quality_job_fails_when_too_many_rows_are_quarantined(project):
    assert cli("contract", "infer", "customers", "--out", "contracts/customers.json", cwd=project).returncode == 0
    df = pd.read_parquet(project / "data" / "customers").astype({"tenure_months": object})
    df.loc[df.index[:90], "tenure_months"] = "unknown"                        # 2% of 4,500 rows
    (project / "bad").mkdir()
    df.to_csv(project / "bad" / "customers.csv", index=False)
    p = wb(project, "run", "quality", "-p", "data", "bad/customers.csv", "--no-progress")
    assert p.returncode == 1, p.stderr
    [run] = runs(project)
    assert run["status"] == "failed" and run["metrics"]["acceptable"] is False and run["metrics"]["quarantined"] == 90
    assert "QualityError" in run["error"] and "more than the 1.00% allowed" in run["error"]
    html = (project / run["report"]).read_text()
    assert html.index("This run failed") < html.index("Rules broken")          # the reason is at the top
    index = (project / "reports" / "index.html").read_text()
    assert "failed" in index
    p = wb(project, "run", "quality", "-p", "data", "bad/customers.csv", "-p", "max_quarantined_share", "0.05", "--no-progress")
    assert p.returncode == 0 and runs(project)[0]["status"] == "succeeded"
