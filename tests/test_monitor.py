"""Monitoring through the real CLI and a real job run: exit codes, the JSON contract, chunks, the model's stored
reference, and the example data's drift found where it is and nowhere else."""
import json
import re
import subprocess

import pandas as pd
import pytest
from conftest import WORKBENCH, runs, wb

from workbench.example import make_customers, write_model_project


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    "Twelve months of the example data (the price change and the new plan start in month 10), one file each."
    d = tmp_path_factory.mktemp("months")
    df = make_customers(3000, months=12, seed=4)
    for m, part in df.groupby("snapshot_month"): part.to_parquet(d / f"c_{m:%Y-%m}.parquet", index=False)
    return d


def monitor(folder, *args):
    "`workbench monitor` run in `folder`, with a project there or on plain files."
    if (folder / "settings.ini").exists(): return wb(folder, "monitor", *args)
    return subprocess.run([WORKBENCH, "monitor", *args], capture_output=True, text=True, cwd=folder, timeout=300)


def test_the_drifting_months_drift_and_the_stable_ones_do_not(months, tmp_path):
    p = monitor(tmp_path, "--reference", str(months / "c_2025-0[1-4].parquet"), "--current", str(months / "c_*.parquet"),
                "--time-column", "snapshot_month", "--json", str(tmp_path / "m.json"), "--html", str(tmp_path / "m.html"))
    assert p.returncode == 3, p.stderr                                   # the dataset-level verdict is drift
    out = json.loads((tmp_path / "m.json").read_text())
    assert out["schema_version"] == 1 and out["dataset_drift"] is True
    by_chunk = {c["key"]: c["dataset_drift"] for c in out["chunks"]}
    assert [k for k, v in by_chunk.items() if v] == ["2025-10", "2025-11", "2025-12"], by_chunk
    last = {c["column"]: c for c in out["chunks"][-1]["columns"]}
    assert last["monthly_charges"]["drift"] and last["plan"]["drift"] and last["plan"]["unseen"] == ["family"]
    for c in out["columns"]:
        assert {"column", "kind", "method", "statistic", "p_value", "threshold", "drift"} <= set(c)
        assert c["p_value"] is None or 0 <= c["p_value"] <= 1
    assert next(c for c in out["columns"] if c["column"] == "customer_id")["method"] == "none"   # an identifier is skipped
    page = (tmp_path / "m.html").read_text()
    assert len(page) < 500_000 and "<script" not in page and "Content-Security-Policy" in page
    assert re.search(r"2025-12</td><td>3,000</td><td><b>drift</b>", page)


def test_stable_data_exits_0_and_chunks_by_size(months, tmp_path):
    p = monitor(tmp_path, "--reference", str(months / "c_2025-0[1-2].parquet"), "--current", str(months / "c_2025-03.parquet"),
                "--chunk-size", "1000", "--json", str(tmp_path / "m.json"))
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads((tmp_path / "m.json").read_text())
    assert [c["key"] for c in out["chunks"]] == ["rows 0–999", "rows 1,000–1,999", "rows 2,000–2,999"]
    assert not any(c["dataset_drift"] for c in out["chunks"]) and out["multivariate"]["drift"] is False


@pytest.mark.parametrize("args, message", [
    (["--reference", "nowhere.parquet", "--current", "{m}/c_2025-02.parquet"], "nowhere.parquet"),
    (["--reference", "{m}/c_2025-01.parquet", "--current", "{m}/c_2025-02.parquet", "--time-column", "when"],
     "time column 'when' is not a column of the data"),
    (["--reference", "{m}/c_2025-01.parquet", "--current", "{m}/c_2025-02.parquet", "--period", "M", "--chunk-size", "5"],
     "not both"),
    (["--reference", "{m}/c_2025-01.parquet"], "give the current data"),
])
def test_unusable_input_exits_2_with_the_reason(months, tmp_path, args, message):
    p = monitor(tmp_path, *[a.format(m=months) for a in args])
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_the_model_s_stored_reference_is_the_default_and_predictions_are_monitored(tmp_path):
    df = make_customers(1500, months=12, seed=6)
    write_model_project(tmp_path, data=df[df.snapshot_month < "2025-06-01"], candidates="linear")
    wb(tmp_path, "train", check=0)
    later = df[df.snapshot_month >= "2025-10-01"].drop(columns="churned")
    later.to_parquet(tmp_path / "later.parquet")
    p = monitor(tmp_path, "--current", "later.parquet", "--json", str(tmp_path / "m.json"))
    out = json.loads((tmp_path / "m.json").read_text())
    assert p.returncode == 3, p.stdout + p.stderr
    cols = {c["column"]: c for c in out["columns"]}
    assert "probability" in cols and "prediction" in cols            # scored with the champion, then monitored
    assert cols["monthly_charges"]["drift"] and "churned" not in cols and "snapshot_month" not in cols
    assert out["reference"] == "training data of churn" and out["multivariate"]["auc"] > 0.6


def test_the_monitor_job_records_its_verdict(tmp_path, months):
    write_model_project(tmp_path, data=pd.concat([pd.read_parquet(f) for f in sorted(months.glob("c_*.parquet"))]), candidates="dummy")
    ini = tmp_path / "settings.ini"
    ini.write_text(ini.read_text() + f"[job:monitor]\nreference = {months}/c_2025-0[1-4].parquet\ncurrent = {months}/c_*.parquet\n"
                   "model = -\n[monitor]\nsegments = plan\n")
    wb(tmp_path, "run", "monitor", "--no-progress", check=0)
    [run] = runs(tmp_path)
    m = run["metrics"]
    assert m["dataset_drift"] is True and m["drifted_chunks"] == 3 and m["latest_chunk_drift"] is True and m["chunks"] == 12
    html = (tmp_path / run["report"]).read_text()
    assert "Drifted in the latest chunk (2025-12)" in html and "By plan" in html and "not in the reference" in html
    assert len(html.encode()) < 500_000
    prom = (tmp_path / ".workbench" / "metrics" / "monitoring.prom").read_text()   # for Prometheus' textfile collector
    assert 'figure="drifted_chunks",job="monitor"} 3.0' in prom


def test_what_the_service_served_is_monitored_by_default(tmp_path):
    "No scored batch: `workbench monitor` reads the HTTP service's prediction log, written by a real server."
    from test_serve import Server
    df = make_customers(1500, months=12, seed=9)
    write_model_project(tmp_path, data=df[df.snapshot_month < "2025-06-01"], candidates="linear",
                        extra="[serve]\nlog_dir = served\nlog_sample = 1\n")
    wb(tmp_path, "train", check=0)
    server = Server(tmp_path)
    try:
        later = df[df.snapshot_month >= "2025-10-01"].drop(columns="churned").head(1500)
        for i in range(0, len(later), 300):
            body = json.loads(later.iloc[i:i + 300].to_json(orient="records", date_format="iso"))
            assert server.client.post("/predict", json={"rows": body}).status_code == 200
    finally: server.stop()                                               # flushes the log
    p = monitor(tmp_path, "--json", str(tmp_path / "m.json"))
    out = json.loads((tmp_path / "m.json").read_text())
    assert out["current"].endswith("served") and out["rows"] == 1500
    cols = {c["column"]: c for c in out["columns"]}
    assert cols["monthly_charges"]["drift"] and "probability" in cols and p.returncode == 3, p.stdout + p.stderr


def test_a_drifted_column_with_rare_values_is_drawn_on_the_categories_it_was_judged_on():
    "Rare values lumped as '(other)' are compared one by one; the plot's bars and labels are those categories (it used to raise IndexError)."
    import matplotlib
    matplotlib.use("Agg")
    from workbench.drift import apply_column, category_counts, fit_column
    from workbench.monitor import plot_column
    ref = pd.Series(["a"] * 400 + ["b"] * 300 + ["c"] * 200 + [f"rare{i}" for i in range(100)])
    cur = pd.Series(["new"] * 500 + ["a"] * 100 + [f"rare{i}" for i in range(50)] + [f"unseen{i}" for i in range(60)])
    r = fit_column(ref, max_categories=30)
    c = apply_column(r, cur)
    cats, a, b = category_counts(r, c)
    assert "(other)" not in cats and {"a", "new", "rare0", "unseen0"} <= set(cats)
    assert a.sum() == len(ref) and b.sum() == len(cur)
    fig = plot_column(r, c)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    top = [cats[i] for i in (-(a / a.sum() + b / b.sum())).argsort(kind="stable")[:10]]
    assert sorted(labels) == sorted(top) and labels[:2] == ["new", "a"]
