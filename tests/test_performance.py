"""Realized and estimated performance: the estimates' intervals cover the realized figures on calibrated scores
(property tests, over seeds), a real data set with a simulated shift, the example data's concept drift through the real
CLI (JSON, plot, HTML), a project's champion on its newest scored batch, and every bad input as a clear message."""
import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import WORKBENCH, wb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.estimators import CBPE, ErrorModel
from workbench.performance import performance, realized

BINARY = ["roc_auc", "f1", "accuracy", "precision", "recall", "balanced_accuracy", "value", "brier", "log_loss"]
VALUES = (10.0, -2.0, -1.0, 0.0)


def calibrated(seed, n_ref, n_cur, shape):
    "Scores that are calibrated by construction (each label drawn with the score's chance); the current scores shifted."
    rng = np.random.default_rng(seed)
    ref_s, cur_s = rng.beta(1, 3, n_ref), rng.beta(1, shape, n_cur)
    return ref_s, (rng.random(n_ref) < ref_s).astype(int), cur_s, (rng.random(n_cur) < cur_s).astype(int)


def coverage(seed, n_ref=10_000, chunks=4, rows=5_000, shape=3.0, threshold=0.4, level=0.95):
    "metric -> [(estimate, low, high, realized)] per chunk."
    ref_s, ref_y, cur_s, cur_y = calibrated(seed, n_ref, chunks * rows, shape)
    codes, h = np.arange(chunks * rows) // rows, (cur_s >= threshold).astype(int)
    est = CBPE(BINARY, values=VALUES, level=level, seed=seed).fit(ref_y, ref_s).estimate(cur_s, h, codes, chunks)
    out = {m: [] for m in BINARY}
    for j in range(chunks):
        k = codes == j
        for m in BINARY:
            out[m].append((*(float(x[j]) for x in est[m]), realized(m, cur_y[k], cur_s[k], h[k], values=VALUES)[0]))
    return out


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_ref=st.sampled_from([3_000, 10_000, 30_000]), shape=st.floats(1.5, 4.0),
       threshold=st.floats(0.2, 0.6))
def test_on_calibrated_scores_the_estimate_is_near_the_realized_figure(seed, n_ref, shape, threshold):
    res = coverage(seed, n_ref, chunks=3, rows=4_000, shape=shape, threshold=threshold)
    checks = [(lo <= r <= hi, abs(e - r) <= 2 * max(hi - lo, 1e-9)) for rows in res.values() for e, lo, hi, r in rows]
    assert all(near for _, near in checks), res                      # never far off: within two interval widths
    assert np.mean([inside for inside, _ in checks]) >= 0.75, res      # and mostly inside (95% stated; 27 correlated checks)


def test_the_intervals_cover_the_realized_figures_at_the_stated_level():
    per_metric = {m: [] for m in BINARY}
    for seed in range(60):
        for m, rows in coverage(seed, shape=2.0 if seed % 2 else 3.0).items():
            per_metric[m] += [lo <= r <= hi for e, lo, hi, r in rows]
    share = {m: float(np.mean(v)) for m, v in per_metric.items()}
    assert all(s >= 0.9 for s in share.values()), share              # stated 95%, over 240 chunks per metric
    assert np.mean(list(share.values())) >= 0.93, share
    est = coverage(0, level=0.5)                                       # a narrower level gives narrower intervals
    assert np.mean([hi - lo for _, lo, hi, _ in est["accuracy"]]) < np.mean([hi - lo for _, lo, hi, _ in coverage(0)["accuracy"]])


def test_a_multiclass_estimate_covers_the_realized_figures():
    metrics = ["accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr", "log_loss"]
    inside = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        logits = rng.normal(size=(24_000, 3)) * [1.5, 1.0, 0.5]
        P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        Y = (rng.random(len(P))[:, None] > P.cumsum(1)).sum(1)
        codes = np.r_[np.full(8_000, -1), np.arange(16_000) // 8_000]         # -1: the reference rows, in no chunk
        est = CBPE(metrics, task="multiclass").fit(Y[:8_000], P[:8_000]).estimate(P, None, codes, 2)
        for j in range(2):
            k = codes == j
            for m in metrics:
                r = realized(m, Y[k], P[k], P[k].argmax(1), task="multiclass")[0]
                e, lo, hi = (x[j] for x in est[m])
                assert abs(e - r) < 0.03, (m, e, r)
                inside.append(lo <= r <= hi)
    assert np.mean(inside) >= 0.88


def test_a_multiclass_model_is_read_from_its_score_columns():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(9_000, 3)) * [1.5, 1.0, 0.5]
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    names = np.array(["bronze", "gold", "silver"])
    df = pd.DataFrame(P, columns=[f"p_{c}" for c in names]).assign(
        tier=names[(rng.random(len(P))[:, None] > P.cumsum(1)).sum(1)], decision=names[P.argmax(1)])
    res = performance(df[:3000], df[3000:], "tier", score="p", prediction="decision", chunk_size=3000)
    assert res.task == "multiclass" and res.metrics == ["accuracy", "f1_macro", "roc_auc_ovr"]
    for ch in res.chunks:
        for m in res.metrics: assert abs(ch["estimated"][m] - ch["realized"][m]) < 0.03, (m, ch)
    with pytest.raises(Exception, match="holds classes without a score column: \\['platinum'\\]"):
        performance(df[:3000], df[3000:].assign(tier="platinum"), "tier", score="p", prediction="decision")


def test_breast_cancer_a_covariate_shift_is_tracked_and_flipped_labels_are_caught():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.02, max_iter=1000)).fit(X.iloc[idx[:170]], y.iloc[idx[:170]])
    rest = idx[170:]
    df = X.iloc[rest].assign(target=y.iloc[rest].to_numpy(), probability=model.predict_proba(X.iloc[rest])[:, 1])
    big = rng.random(len(df)) < df["mean radius"].rank(pct=True).to_numpy() ** 2     # current rows: mostly large tumours
    ref, cur = df[~big], df[big].copy()
    res = performance(ref, cur, "target", prediction=None, metrics=["accuracy", "roc_auc", "f1"])
    [ch] = res.chunks
    assert ch["disagree"] == [] and ch["labels"] == "complete"
    for m in res.metrics: assert abs(ch["estimated"][m] - ch["realized"][m]) < 0.03, (m, ch)
    flip = rng.random(len(cur)) < 0.15                                # the outcome changes, the inputs do not
    cur.loc[flip, "target"] = 1 - cur.loc[flip, "target"]
    [ch] = performance(ref, cur, "target", prediction=None, metrics=["accuracy", "roc_auc", "f1"]).chunks
    assert set(ch["disagree"]) == {"accuracy", "roc_auc", "f1"}
    assert all(ch["realized"][m] < ch["estimated_interval"][m][0] for m in ch["disagree"])


def test_a_regressor_s_error_is_estimated_under_a_covariate_shift():
    rng = np.random.default_rng(1)
    x = np.r_[rng.uniform(0, 2, 4000), rng.uniform(0, 2, 2000), rng.uniform(1, 3, 2000)]
    df = pd.DataFrame({"x": x, "noise": rng.normal(size=len(x))})
    df["y"] = 3 * df.x + rng.normal(0, 0.2 + df.x)
    df["prediction"] = 3 * df.x
    df["part"] = np.r_[np.zeros(4000), np.zeros(2000) + 1, np.zeros(2000) + 2]
    res = performance(df[df.part == 0], df[df.part > 0].drop(columns="part"), "y", chunk_size=2000, features=["x", "noise"])
    assert res.task == "regression" and res.metrics == ["mae", "rmse"]
    same, shifted = res.chunks
    for ch in (same, shifted):
        for m in ("mae", "rmse"):
            lo, hi = ch["estimated_interval"][m]
            assert abs(ch["estimated"][m] - ch["realized"][m]) < 0.1 * ch["realized"][m], (m, ch)
    assert shifted["estimated"]["mae"] > 1.4 * same["estimated"]["mae"]           # the shift towards larger errors is seen
    em = ErrorModel(["mae"]).fit(df.loc[df.part == 0, ["x"]], df.y[df.part == 0], df.prediction[df.part == 0])
    assert set(em.estimate(df[["x"]], df.prediction)) == {"mae"}


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    "The example data (concept drift from month 10) scored by a model trained on its first four months: reference and current files."
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from workbench.example import make_customers
    from workbench.transform import build_preprocessor
    d = tmp_path_factory.mktemp("perf")
    data = make_customers(5000, 12, seed=1)
    month = data.snapshot_month.dt.month
    X = data.drop(columns=["churned", "customer_id", "snapshot_month", "signup_date"])
    model = make_pipeline(build_preprocessor(X), LogisticRegression(max_iter=500)).fit(X[month <= 4], data.churned[month <= 4])
    scored = data.assign(probability=model.predict_proba(X)[:, 1])
    scored["prediction"] = scored.probability >= 0.11
    scored["scored_at"] = scored.snapshot_month + pd.Timedelta(days=1)
    scored[month.isin([5, 6])].to_parquet(d / "ref.parquet")
    cur = scored[month >= 7]
    cur.to_parquet(d / "cur.parquet")
    cur.drop(columns="churned").to_parquet(d / "cur_unlabelled.parquet")
    labels = cur[["customer_id", "snapshot_month", "churned"]].assign(labelled_at=cur.snapshot_month + pd.Timedelta(days=40))
    labels.to_csv(d / "labels.csv", index=False)
    return d


def perf(folder, *args):
    "`workbench performance` on plain files in `folder`."
    return subprocess.run([WORKBENCH, "performance", *args], capture_output=True, text=True, cwd=folder, timeout=300)


def test_the_example_estimate_tracks_until_the_concept_changes(example, tmp_path):
    p = perf(example, "--reference", "ref.parquet", "--current", "cur.parquet", "--target", "churned", "--score", "probability",
             "--time-column", "snapshot_month", "--values", "120,-15,0,0", "--metrics", "value,f1,roc_auc,accuracy",
             "--json", str(tmp_path / "p.json"), "--html", str(tmp_path / "p.html"))
    assert p.returncode in (0, 3) and "Traceback" not in p.stderr, p.stderr
    out = json.loads((tmp_path / "p.json").read_text())
    assert out["schema_version"] == 1 and out["metrics"] == ["value", "f1", "roc_auc", "accuracy"] and out["task"] == "binary"
    assert [c["key"] for c in out["chunks"]] == [f"2025-{m:02d}" for m in range(7, 13)]
    for c in out["chunks"]:
        assert {"key", "rows", "estimated", "estimated_interval", "realized", "labelled_rows"} <= set(c)
        assert c["rows"] == c["labelled_rows"] == 5000 and set(c["estimated"]) == set(out["metrics"])
        lo, hi = c["estimated_interval"]["roc_auc"]
        assert lo < c["estimated"]["roc_auc"] < hi
    by = {c["key"]: c for c in out["chunks"]}
    for k in ("2025-07", "2025-08", "2025-09"):                            # no concept drift: the estimate tracks
        assert by[k]["disagree"] == [], by[k]
        assert abs(by[k]["estimated"]["f1"] - by[k]["realized"]["f1"]) < 0.03
    for k in ("2025-10", "2025-11", "2025-12"):                            # churn follows price more: it parts visibly
        assert {"value", "f1"} <= set(by[k]["disagree"]), by[k]
        assert by[k]["realized"]["value"] > by[k]["estimated_interval"]["value"][1]
    assert out["disagreeing_chunks"] == ["2025-10", "2025-11", "2025-12"] and "concept drift" in out["headline"]
    page = (tmp_path / "p.html").read_text()
    assert "<script" not in page and "Content-Security-Policy" in page and "data:image/png;base64," in page


def test_the_plot_shows_estimated_and_realized_on_one_figure(example, tmp_path):
    from workbench.performance import run_performance
    res = run_performance(None, reference=str(example / "ref.parquet"), current=str(example / "cur_unlabelled.parquet"),
                          labels=str(example / "labels.csv"), key=["customer_id", "snapshot_month"], target="churned",
                          time_column="snapshot_month", values=(120, -15, 0, 0), label_delay=31, as_of="2025-12-20")
    assert [c["labels"] for c in res.chunks] == ["complete"] * 4 + ["not_due"] * 2          # November's labels are not due
    assert res.chunks[-1]["realized"]["roc_auc"] is None and res.chunks[-1]["estimated"]["roc_auc"] > 0.7
    fig = res.plot(["value", "roc_auc"])
    ax = fig.axes[0]
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"estimated (no labels)", "realized (labels)", "reference"}
    fig.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "roc_auc in the latest chunk (2025-12): no labels yet, estimated" in res.headline()
    assert json.loads(json.dumps(res.to_json()))["label_delay_days"] == 31


@pytest.mark.parametrize("args, message", [
    (["--target", "churnd"], "'churnd' is not a column of the reference; did you mean 'churned'?"),
    (["--score", "probabilty"], "score column 'probabilty' is not a column of the current data; did you mean 'probability'?"),
    (["--labels", "labels.csv", "--key", "customerid"], "'customerid' is not a column of the current data (the predictions); did you mean 'customer_id'?"),
    (["--current", "bad_scores.parquet"], "score column 'probability' of the current data has 1 value(s) outside [0, 1] (e.g. 1.7)"),
    (["--labels", "dup_labels.csv"], "the labels hold 1 key(s) more than once (e.g. C"),
    (["--labels", "foreign_labels.csv"], "none of the 3 labels' keys (customer_id, snapshot_month) occur in the current data"),
    (["--labels", "early_labels.csv"], "label(s) are timed before the prediction they judge (labelled_at earlier than scored_at"),
    (["--metrics", "auc"], "unknown metric 'auc' for task 'binary'"),
    (["--positive-class", "yes"], "positive class 'yes' does not occur in the reference's target 'churned'"),
    (["--time-column", "snapshot_month", "--label-delay", "30", "--as-of", "soon"], "as of 'soon' is not a date"),
])
def test_bad_inputs_get_a_clear_message_and_exit_2(example, args, message):
    cur = pd.read_parquet(example / "cur_unlabelled.parquet")
    if not (example / "bad_scores.parquet").exists():
        cur.assign(probability=np.where(np.arange(len(cur)) == 3, 1.7, cur.probability)).to_parquet(example / "bad_scores.parquet")
        labels = pd.read_csv(example / "labels.csv")
        pd.concat([labels.head(2), labels.head(1)]).to_csv(example / "dup_labels.csv", index=False)
        labels.head(3).assign(customer_id=["X1", "X2", "X3"]).to_csv(example / "foreign_labels.csv", index=False)
        labels.head(5).assign(labelled_at="2024-01-01").to_csv(example / "early_labels.csv", index=False)
    base = {"--reference": "ref.parquet", "--current": "cur_unlabelled.parquet", "--target": "churned", "--key": "customer_id,snapshot_month"}
    for k, v in zip(args[::2], args[1::2]): base[k] = v
    p = perf(example, *[x for kv in base.items() for x in kv])
    assert p.returncode == 2, p.stdout + p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_labels_for_unknown_keys_are_counted_in_a_warning(example, tmp_path):
    labels = pd.read_csv(example / "labels.csv").head(100)
    extra = labels.head(4).assign(customer_id=["Y1", "Y2", "Y3", "Y4"])
    pd.concat([labels, extra]).to_csv(tmp_path / "labels.csv", index=False)
    p = perf(example, "--reference", "ref.parquet", "--current", "cur_unlabelled.parquet", "--target", "churned",
             "--labels", str(tmp_path / "labels.csv"), "--key", "customer_id,snapshot_month", "--time-column", "snapshot_month",
             "--json", str(tmp_path / "p.json"))
    assert p.returncode in (0, 3), p.stderr
    assert "warning: 4 of 104 labels have keys not in the current data (e.g. Y1 2025-07-01" in p.stderr
    out = json.loads((tmp_path / "p.json").read_text())
    assert out["chunks"][0]["labelled_rows"] == 100 and out["chunks"][0]["labels"] == "partial"
    assert out["chunks"][1]["labels"] == "none" and all(v is None for v in out["chunks"][1]["realized"].values())


def test_a_project_s_champion_is_judged_on_its_newest_scored_batch(tmp_path):
    from workbench.example import make_customers, write_model_project
    from workbench.registry import train_project
    from workbench.score import score_data
    from workbench.settings import load_settings
    df = make_customers(1500, months=9, seed=6)
    write_model_project(tmp_path, data=df[df.snapshot_month < "2025-06-01"], candidates="linear")
    s = load_settings(tmp_path)
    train_project(s)                                                   # in this process: the CLI's own run is the check below
    later = df[df.snapshot_month >= "2025-06-01"]
    later.drop(columns="churned").to_parquet(tmp_path / "later.parquet")
    later[["customer_id", "snapshot_month", "churned"]].to_parquet(tmp_path / "outcomes.parquet")
    score_data(s, "churn", "later.parquet", tmp_path / "data" / "predictions" / "batch.parquet")
    p = wb(tmp_path, "performance", "--labels", "outcomes.parquet", "--json", str(tmp_path / "p.json"))
    assert p.returncode in (0, 3) and "Traceback" not in p.stderr, p.stderr
    out = json.loads((tmp_path / "p.json").read_text())
    assert out["model"] == "churn/1" and out["reference"]["source"] == "holdout of churn/1"
    assert out["current"].endswith("batch.parquet") and out["metrics"] == ["roc_auc", "value"]   # the charter's metric, and value
    assert set(out["evaluation"]) == {"roc_auc"} and out["calibration"]["rows"] > 0           # the holdout figure at training time
    assert [c["labels"] for c in out["chunks"]] == ["complete"] * 4                                # joined by customer and month
    for c in out["chunks"]: assert abs(c["estimated"]["roc_auc"] - c["realized"]["roc_auc"]) < 0.08
