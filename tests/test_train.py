"""Model engineering on scikit-learn's bundled real data sets and the example project, through the real CLI."""
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import WORKBENCH, runs, wb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris


def project_with(tmp_path: Path, df: pd.DataFrame, problem: str, train: str = "") -> Path:
    df.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "settings.ini").write_text(f"[project]\nname = t\n[source:data]\npath = data.csv\n[problem]\n{problem}\n"
                                           f"[train]\ncv_folds = 3\ncandidates = dummy, linear, gradient_boosting\n{train}")
    return tmp_path


def train_json(project):
    p = wb(project, "train", "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_binary_breast_cancer(tmp_path):
    df = load_breast_cancer(as_frame=True).frame
    prj = project_with(tmp_path, df, "task = binary\ntarget = target\npositive_class = 0\nmetric = roc_auc\n"
                       "success_threshold = 0.95\nsecondary_metrics = f1, brier\nvalue_tp = 50\nvalue_fp = -5\nvolume_per_period = 1000")
    out = train_json(prj)
    assert out["best"] in ("linear", "gradient_boosting") and out["success"] is True
    assert out["warnings"] == []                               # strong, honest features are no leakage
    assert out["metrics"]["roc_auc"] > 0.95 and 0 < out["threshold"] < 1
    board = {r["candidate"]: r for r in out["leaderboard"]}
    assert board["dummy"]["cv roc_auc"] == 0.5 and board[out["best"]]["cv roc_auc"] > 0.95
    assert {"fit s", "predict ms/1k rows", "size KB", "cv roc_auc std", "holdout f1"} <= set(board["dummy"])
    assert out["model"] == "t/1" and out["promoted"] is True   # the first version becomes champion through the gate
    model = Path(out["path"])
    assert {p.name for p in model.iterdir()} == {"model.skops", "model_card.md", "metadata.json", "contract.json", "holdout.parquet",
                                                 "reference.json"}
    card = (model / "model_card.md").read_text()
    assert "## Decision threshold" in card and "## Performance by slice" in card and "## Limitations" in card
    p = wb(prj, "evaluate", "t@champion", str(prj / "data.csv"), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["metrics"]["roc_auc"] > 0.95


def test_regression_diabetes(tmp_path):
    df = load_diabetes(as_frame=True).frame
    prj = project_with(tmp_path, df, "task = regression\ntarget = target\nmetric = rmse\nsuccess_threshold = 65\nsecondary_metrics = mae, r2")
    out = train_json(prj)
    board = {r["candidate"]: r for r in out["leaderboard"]}
    assert out["best"] != "dummy" and board[out["best"]]["cv rmse"] < board["dummy"]["cv rmse"] - 10
    assert out["threshold"] is None and out["metrics"]["r2"] > 0.3 and out["warnings"] == []
    assert out["success"] is True


def test_multiclass_iris(tmp_path):
    df = load_iris(as_frame=True).frame
    prj = project_with(tmp_path, df, "task = multiclass\ntarget = target\nmetric = accuracy\nsecondary_metrics = f1_macro, log_loss")
    out = train_json(prj)
    assert out["metrics"]["accuracy"] > 0.85 and out["best"] != "dummy" and out["warnings"] == []


@pytest.mark.parametrize("problem, message", [
    ("task = binary\ntarget = target\nmetric = auc", "[problem] metric='auc': not a metric for task 'binary'; did you mean 'roc_auc'?"),
    ("task = binary\ntarget = label\nmetric = roc_auc", "[problem] target='label' is not a column of the data"),
    ("task = binary\ntarget = constant\nmetric = roc_auc", "[problem] target 'constant' is constant"),
    ("task = binary\ntarget = target\npositive_class = 7", "[problem] positive_class='7' does not occur in the target"),
    ("task = multiclass\ntarget = target\nvalue_matrix = [[1, 0], [0, 1]]", "value_matrix has shape (2, 2), but the target has 3 classes"),
    ("task = binary\ntarget = target", "task = binary, but target 'target' has 3 classes"),
])
def test_charter_errors_are_clear(tmp_path, problem, message):
    df = load_iris(as_frame=True).frame.assign(constant=1)
    if "positive_class = 7" in problem: df = df[df.target < 2]
    prj = project_with(tmp_path, df, problem)
    p = wb(prj, "train")
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr


def test_train_job_report_on_the_example_project(project):
    ini = project / "settings.ini"
    ini.write_text(ini.read_text().replace("candidates = dummy, linear, gradient_boosting, random_forest", "candidates = dummy, linear"))
    wb(project, "run", "train", "--no-progress", check=0)
    [run] = runs(project)
    assert run["metrics"]["best"] == "linear" and run["metrics"]["holdout_roc_auc"] > 0.6
    html = (project / run["report"]).read_text()
    for part in ("Success criterion", "Leaderboard", f"Threshold {run['metrics']['threshold']:g}", "Error analysis by slice",
                 "Confusion matrix", "Model card: churn-example", "ROI", "Most important columns"):
        assert part in html, part
    assert html.count("data:image/png;base64") >= 2          # value curve + calibration, importance: inline plots
    assert run["metrics"]["model"] == "churn-example/1" and run["metrics"]["promoted"] is True
    assert (project / ".workbench" / "registry" / "churn-example" / "1" / "model.skops").exists()
    cli = subprocess.run([WORKBENCH, "--project", str(project), "train", "--json", "--candidates", "dummy"],
                         capture_output=True, text=True)
    assert json.loads(cli.stdout)["best"] == "dummy"
