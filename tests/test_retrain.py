"""Retraining: the real `retrain` and `performance` job notebooks run by the real `workbench` command on a project with
concept drift from October, real models trained into it."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from workbench.example import make_customers, write_model_project
from workbench.registry import Registry, train_project
from workbench.settings import load_settings

WORKBENCH = str(Path(sys.executable).with_name("workbench"))
JOBS = """
[job:monitor]
reference = data/early.parquet
current = data/c.parquet

[job:performance]
current = data/c.parquet

[challenger]
min_rows = 500

[job:retrain]
train_periods = 3
"""


def wb(project, *args, check=0):
    p = subprocess.run([WORKBENCH, "--project", str(project), *args], capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k != "WORKBENCH_PROJECT"})
    assert p.returncode == check, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def latest(project, job):
    return json.loads(wb(project, "runs", "--json", "--job", job).stdout)[0]


def make_project(folder: Path, champion: str, retrain_with: str="") -> Path:
    "12 months of 800 customers; the champion (`champion` candidates) trained on January to August."
    df = make_customers(800, months=12, seed=8)
    write_model_project(folder, data=df, extra=JOBS + (f"candidates = {retrain_with}\n" if retrain_with else ""))
    df[df.snapshot_month < "2025-09"].to_parquet(folder / "data" / "early.parquet")
    s = load_settings(folder)
    run = train_project(replace(s, train=replace(s.train, candidates=[champion])), "data/early.parquet", promote=False)
    assert Registry.of(s).promote(run.version.ref, force=True, reason="the test's champion").promoted   # the prior fails the gate
    assert run.version.ref == "churn/1"
    return folder


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    "A project whose champion is the prior alone: any real model beats it."
    return make_project(tmp_path_factory.mktemp("weak"), "dummy")


def test_a_better_challenger_is_promoted_through_the_gate(weak):
    wb(weak, "run", "retrain", "-p", "when", "drift")   # nothing says the model needs it yet
    rec = latest(weak, "retrain")
    assert rec["status"] == "succeeded" and rec["metrics"]["skipped"] and rec["metrics"]["status"] == "skipped"
    assert "no successful monitor or performance run" in rec["metrics"]["reason"]
    wb(weak, "run", "performance")
    perf = latest(weak, "performance")["metrics"]
    assert perf["below_charter"] is True and perf["realized_roc_auc"] == 0.5   # the prior ranks nobody
    wb(weak, "run", "retrain", "-p", "when", "drift", "-p", "candidates", "linear")
    m = latest(weak, "retrain")["metrics"]
    assert (m["status"], m["promoted"], m["verdict"], m["gate"]) == ("promoted", True, "challenger is better", "passed"), m
    assert (m["champion_model"], m["challenger_model"], m["compared_rows"]) == ("churn/1", "churn/2", 800)
    assert m["ci_low"] > 0 and m["difference_roc_auc"] > 0.1 and m["reason"].startswith("it won the comparison, and the gate")
    reg = Registry.of(load_settings(weak))
    assert reg.aliases("churn") == {"champion": 2, "challenger": 2}
    actions = [(e["action"], e["alias"], e["version"]) for e in reg.events("churn")]
    assert actions[-3:] == [("promote", "challenger", 2), ("compare", "champion", 2), ("promote", "champion", 2)]
    prom = (weak / ".workbench" / "metrics" / "monitoring.prom").read_text()
    assert 'workbench_monitoring_figure{figure="promoted",job="retrain"} 1.0' in prom
    assert 'workbench_model_performance{job="performance",kind="realized",metric="roc_auc"} 0.5' in prom
    again = json.loads(wb(weak, "retrain", "--when", "drift", "--json").stdout)   # the signal persists; the data is the same
    assert again["status"] == "skipped" and "churn/2 was trained on exactly these rows already" in again["reason"]


def test_a_worse_challenger_is_refused_and_why_is_recorded(tmp_path):
    project = make_project(tmp_path, "linear", retrain_with="dummy")   # the prior alone: clearly worse
    out = json.loads(wb(project, "retrain", "--json").stdout)            # [job:retrain]'s values apply
    assert (out["status"], out["promoted"], out["challenger"], out["champion"]) == ("not promoted", False, "churn/2", "churn/1")
    assert out["comparison"]["winner"] == "champion" and out["comparison"]["paired"] and out["gate"] is None
    assert "churn/2 stays the challenger, not promoted: the champion churn/1 is better" in out["reason"]
    assert "2025-09 to 2025-11" in out["training_data"] and "2025-12, used by neither model" in out["evaluation_data"]
    reg = Registry.of(load_settings(project))
    last = reg.events("churn")[-1]
    assert (last["action"], last["alias"], last["version"]) == ("refuse", "champion", 2) and "not promoted" in last["reason"]
    assert last["evidence"]["winner"] == "champion" and last["evidence"]["tests"][0]["metric"] == "roc_auc"
    assert reg.aliases("churn") == {"champion": 1, "challenger": 2}
    wb(project, "run", "performance")   # the report: realized and estimated, and the challenger beside the champion
    rec = latest(project, "performance")
    m = rec["metrics"]
    assert (m["model"], m["chunks"], m["challenger_model"], m["challenger_verdict"]) == ("churn/1", 12, "churn/2", "champion is better")
    assert m["realized_roc_auc"] > 0.7 and m["estimated_roc_auc"] is not None
    html = (project / rec["report"]).read_text()
    assert "Champion <code>churn/1</code> against challenger <code>churn/2</code>" in html or "against challenger" in html
