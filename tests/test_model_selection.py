"""Model selection over time, refit, the CV/holdout gap, leakage warnings, the model card's inputs, and `workbench check` against the data."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import wb
from sklearn.datasets import load_breast_cancer


def project_with(tmp_path: Path, df: pd.DataFrame, problem: str, train: str = "", extra: str = "") -> Path:
    df.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "settings.ini").write_text(f"[project]\nname = t\n[source:data]\npath = data.csv\n[problem]\n{problem}\n"
                                           f"[train]\ncv_folds = 3\n{train}\n{extra}")
    return tmp_path


def trend_data(months=24, per=150, flip_from=None, seed=0):
    "A target whose level follows a trend plus month-to-month bumps; optionally the effect of x1 flips from a month on."
    rng = np.random.default_rng(seed)
    m = np.repeat(np.arange(months), per)
    x1, x2 = rng.normal(size=len(m)), rng.normal(size=len(m))
    effect = np.where(m >= flip_from, -2.0, 2.0) if flip_from is not None else 2.0
    y = effect * x1 + x2 + 0.5 * m + 1.5 * np.sin(m * 2.1) + rng.normal(0, 0.5, len(m))
    return pd.DataFrame({"month": (pd.Timestamp("2023-01-01") + pd.to_timedelta(m * 31, unit="D")).strftime("%Y-%m-%d"),
                         "month_index": m, "x1": x1, "x2": x2, "y": y})


def train_json(project, *args, code=0):
    p = wb(project, "train", "--json", *args)
    assert p.returncode == code, p.stderr
    return (json.loads(p.stdout) if code == 0 else None), p.stderr


def test_time_ordered_data_selects_the_model_that_holds_up_over_time(tmp_path):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, cross_val_score
    df = trend_data()
    train_part = df[df.month_index < 19]                                      # what the time holdout leaves for training
    X, y = train_part[["month_index", "x1", "x2"]], train_part.y
    shuffled = {name: cross_val_score(est, X, y, cv=KFold(3, shuffle=True, random_state=0), scoring="r2").mean()
                for name, est in (("linear", Ridge()), ("gradient_boosting", HistGradientBoostingRegressor(max_iter=200, early_stopping=False)))}
    assert shuffled["gradient_boosting"] > shuffled["linear"]                 # the premise: shuffled CV picks boosting
    prj = project_with(tmp_path, df, "task = regression\ntarget = y\ntime_column = month\nmetric = r2",
                       "candidates = linear, gradient_boosting")
    out, _ = train_json(prj)
    board = {r["candidate"]: r for r in out["leaderboard"]}
    assert out["best"] == "linear" and "forward-chaining folds by month" in out["cv"]
    assert board["linear"]["holdout r2"] > board["gradient_boosting"]["holdout r2"] + 0.1
    assert board["gradient_boosting"]["cv/holdout gap"] is False   # folds by time already showed what the holdout shows
    assert out["fitted_on"].startswith("all 3,600 labelled rows")
    meta = json.loads((Path(out["path"]) / "metadata.json").read_text())
    assert meta["fitted_on"] == out["fitted_on"] and meta["features"] == ["month_index", "x1", "x2"]
    card = (Path(out["path"]) / "model_card.md").read_text()
    assert "forward-chaining" in card and "fitted on all 3,600 labelled rows" in card


def test_refit_train_keeps_the_training_part_fit(tmp_path):
    prj = project_with(tmp_path, trend_data(), "task = regression\ntarget = y\ntime_column = month\nmetric = r2",
                       "candidates = linear\nrefit = train")
    out, _ = train_json(prj)
    assert out["fitted_on"].startswith("the training part (2,850 rows)")


def test_a_large_gap_between_cv_and_holdout_is_flagged(tmp_path):
    prj = project_with(tmp_path, trend_data(flip_from=19), "task = regression\ntarget = y\ntime_column = month\nmetric = r2",
                       "candidates = linear")
    out, err = train_json(prj)
    [gap] = [w for w in out["warnings"] if w.startswith("cv/holdout gap")]
    assert "linear: holdout r2" in gap and "much worse than cross-validated" in gap
    assert "warning: cv/holdout gap: linear" in err
    assert "## Warnings" in (Path(out["path"]) / "model_card.md").read_text()


def breast_cancer(leak=False):
    df = load_breast_cancer(as_frame=True).frame
    if leak:
        rng = np.random.default_rng(0)
        df["diagnosis_code"] = np.where(rng.random(len(df)) < 0.995, df.target, 1 - df.target)   # the label, written down later
        df["old_model_score"] = np.clip(0.3 * df.target + rng.normal(0.35, 0.2, len(df)), 0, 1)
    return df


def test_planted_leaks_are_warned_with_the_fix_and_can_fail_training(tmp_path):
    problem = "task = binary\ntarget = target\npositive_class = 1\nmetric = roc_auc\nsuccess_threshold = 0.9"
    prj = project_with(tmp_path, breast_cancer(leak=True), problem, "candidates = dummy, linear")
    out, err = train_json(prj)
    leaks = [w for w in out["warnings"] if w.startswith("leakage")]
    assert len(leaks) == 2 and "'diagnosis_code' alone predicts target almost perfectly" in leaks[0]
    assert "'old_model_score' looks like a prediction or score" in leaks[1]
    assert all("add it to [features] exclude" in w for w in leaks) and err.count("warning: leakage") == 2
    card = (Path(out["path"]) / "model_card.md").read_text()
    assert "diagnosis_code" in card.split("## Warnings")[1].split("## Inputs")[0]
    (prj / "settings.ini").write_text((prj / "settings.ini").read_text() + "on_leakage = fail\n")
    _, err = train_json(prj, code=2)
    assert "2 column(s) may leak the target ([train] on_leakage = fail)" in err and "Traceback" not in err
    (prj / "settings.ini").write_text((prj / "settings.ini").read_text() + "[features]\nexclude = diagnosis_code, old_model_score\n")
    out, _ = train_json(prj)
    assert out["warnings"] == [] and "diagnosis_code" not in json.loads((Path(out["path"]) / "metadata.json").read_text())["features"]


def test_honest_data_raises_no_leakage_warning(tmp_path):
    prj = project_with(tmp_path, breast_cancer(), "task = binary\ntarget = target\npositive_class = 0\nmetric = roc_auc",
                       "candidates = linear")
    out, err = train_json(prj)
    assert out["warnings"] == [] and "warning" not in err


def test_model_card_lists_exactly_the_columns_used(tmp_path):
    df = breast_cancer().iloc[:, list(range(5)) + [-1]]
    df.insert(0, "patient_email", [f"p{i}@clinic.example" for i in range(len(df))])
    df.insert(1, "record_id", range(len(df)))
    prj = project_with(tmp_path, df, "task = binary\ntarget = target\npositive_class = 0\nmetric = roc_auc\nid_column = record_id",
                       "candidates = linear", "[features]\nexclude = mean area\n")
    out, _ = train_json(prj)
    card = (Path(out["path"]) / "model_card.md").read_text()
    inputs = card.split("## Inputs")[1].split("## Model")[0]
    assert "reads 4 column(s): `mean radius`, `mean texture`, `mean perimeter`, `mean smoothness`." in inputs
    assert "Not used: `patient_email`, `record_id`, `mean area`" in inputs
    assert "Sensitive columns in the data that the model does not use: patient_email." in card
    assert "used as inputs" not in card


def test_evaluate_prints_no_threshold_for_regression(tmp_path):
    prj = project_with(tmp_path, trend_data(), "task = regression\ntarget = y\nmetric = rmse", "candidates = linear")
    out, _ = train_json(prj)
    p = wb(prj, "evaluate", out["model"], str(prj / "data.csv"))
    assert p.returncode == 0 and "threshold" not in p.stdout and "rmse" in p.stdout


GOOD = "task = binary\ntarget = target\npositive_class = 1\ntime_column = when"


@pytest.mark.parametrize("change, message", [
    (("target = target", "target = tagret"), "[problem] target='tagret': not a column of 'data'; did you mean 'target'?"),
    (("positive_class = 1", "positive_class = yes"), "[problem] positive_class='yes' does not occur in the target 'target'"),
    (("time_column = when", "time_column = note"), "[problem] time_column 'note': 500 value(s) are not dates"),
    (("[train]", "[features]\nexclude = mean radus\n[train]"), "[features] exclude: 'mean radus' is not a column of the data; did you mean 'mean radius'?"),
    (("cv_folds = 3", "cv_folds = 3\ncandidates = linear, xgboost"), "[train] candidates: unknown candidate 'xgboost'"),
    (("path = data.csv", "path = nowhere/data.csv"), "[source:data]: source 'data': no data files at"),
])
def test_check_finds_settings_that_cannot_work_with_the_data(tmp_path, change, message):
    df = breast_cancer().iloc[:500, [0, 1, -1]].assign(when=pd.date_range("2024-01-01", periods=500, freq="D").strftime("%Y-%m-%d"),
                                                      note="see file")
    prj = project_with(tmp_path, df, GOOD)
    assert wb(prj, "check").returncode == 0, wb(prj, "check").stderr
    ini = prj / "settings.ini"
    ini.write_text(ini.read_text().replace(*change))
    p = wb(prj, "check")
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr
