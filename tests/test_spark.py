"""The Spark engine against the pandas path: same predictions, same validation counts, drift within tolerance.

One SparkSession (local[2], small heap, no UI) for the whole file; a model trained once."""
import json
import os
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import wb

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs a Java runtime (.ci/run installs one)", allow_module_level=True)

SPARK_CONF = {"spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false",
              "spark.default.parallelism": "2"}


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from workbench.spark import spark_session
    s = spark_session(None, "local[2]", {**SPARK_CONF, "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse"))})
    yield s
    s.stop()


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    "A project with a trained churn model, and new data to score: a month with two planted bad rows."
    from workbench.example import make_customers, write_model_project
    from workbench.registry import train_project
    from workbench.settings import load_settings
    d = tmp_path_factory.mktemp("spark_project")
    write_model_project(d, 1200, candidates="linear", extra="[spark]\nengine = pandas\nmaster = local[2]\ndriver_memory = 1g\n")
    train_project(load_settings(d), progress=False)
    new = make_customers(1500, 1, seed=9)
    new.loc[3, "age"] = -5.0
    new.loc[700, "monthly_charges"] = 1e9
    new.to_parquet(d / "new.parquet", index=False)
    return d


def _sorted(df):
    return df.sort_values(["customer_id", "snapshot_month"]).reset_index(drop=True)


def test_engine_registry_and_lazy_import():
    import subprocess
    code = ("import sys, workbench.cli, workbench.engines as e; assert 'pyspark' not in sys.modules; "
            "e.get('spark'); assert 'pyspark' not in sys.modules; print(sorted(e.ENGINES))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'pandas', 'spark'" in out
    from workbench.core import WorkbenchError
    from workbench.engines import get
    with pytest.raises(WorkbenchError, match="known engines: pandas, spark"):
        get("dask")


def test_score_agrees_with_pandas(spark, trained, tmp_path):
    from workbench.score import score_data
    from workbench.settings import load_settings
    from workbench.spark import score_spark
    s = load_settings(trained)
    a = score_data(s, "churn", str(trained / "new.parquet"), tmp_path / "p.parquet", rejects=tmp_path / "rej.parquet",
                   chunk_rows=400)
    b = score_spark(s, "churn", str(trained / "new.parquet"), tmp_path / "sp", rejects=tmp_path / "sp_rej", spark=spark,
                    chunk_rows=400)   # the same chunks: bit-for-bit the same probabilities
    assert (a.rows, a.scored, a.rejected) == (b.rows, b.scored, b.rejected) == (1500, 1498, 2)
    assert a.reasons == b.reasons and a.predictions == b.predictions and a.probabilities == b.probabilities
    p, q = _sorted(pd.read_parquet(tmp_path / "p.parquet")), _sorted(pd.read_parquet(tmp_path / "sp"))
    assert list(p.columns) == list(q.columns)
    assert (p.prediction.to_numpy() == q.prediction.to_numpy()).all()
    assert (p.probability.to_numpy() == q.probability.to_numpy()).all()   # exactly: the same pipeline on the same values
    assert (q.scoring_run_id == b.run_id).all() and (q.model_version == 1).all()
    r1, r2 = pd.read_parquet(tmp_path / "rej.parquet"), pd.read_parquet(tmp_path / "sp_rej").sort_values("_row")
    assert r1._row.tolist() == r2._row.tolist() == [3, 700]
    assert r1._reason.tolist() == r2._reason.tolist()


def test_score_partitions_keep_and_csv(spark, trained, tmp_path):
    "More partitions than rows per task, a partitioned Parquet folder as input, --keep, and a CSV folder as output."
    from workbench.score import score_data
    from workbench.settings import load_settings
    from workbench.spark import read_spark, score_spark, write_spark
    s = load_settings(trained)
    src = read_spark(str(trained / "new.parquet"), s, spark)   # pandas' nanosecond timestamps read as timestamps
    write_spark(src.select("*", (src.tenure_months % 3).alias("bucket")), tmp_path / "parts", partition_by=["bucket"])
    assert sorted(p.name for p in (tmp_path / "parts").iterdir() if p.is_dir()) == ["bucket=0", "bucket=1", "bucket=2"]
    b = score_spark(s, "churn", str(tmp_path / "parts"), tmp_path / "out.csv", keep=["customer_id"], spark=spark)
    a = score_data(s, "churn", str(trained / "new.parquet"), tmp_path / "p.parquet")
    assert (b.rows, b.rejected) == (1500, 2) and b.predictions == a.predictions
    q = pd.concat(pd.read_csv(f) for f in (tmp_path / "out.csv").glob("part-*.csv"))
    assert list(q.columns)[:3] == ["customer_id", "prediction", "probability"] and len(q) == 1498
    p = pd.read_parquet(tmp_path / "p.parquet")
    m = p[["customer_id", "probability"]].merge(q[["customer_id", "probability"]], on="customer_id")
    assert len(m) == 1498 and np.allclose(m.probability_x, m.probability_y, rtol=1e-9, atol=0)   # through CSV text


def test_validation_counts_agree(spark, trained, tmp_path):
    from workbench.contract import infer_contract, validate, validate_source
    from workbench.example import make_customers
    from workbench.spark import read_spark, validate_spark
    ref = make_customers(800, 2, seed=1)
    c = infer_contract(ref, keys=["customer_id"], label="churned")
    cur = make_customers(900, 1, seed=5)
    cur.loc[0:4, "customer_id"] = cur.loc[10:14, "customer_id"].to_numpy()   # 5 duplicate keys
    cur["plan"] = cur["plan"].astype(object)
    cur.loc[20:600, "plan"] = "mega"   # unseen in 65% of rows: the category rule turns hard
    cur.loc[30:40, "age"] = np.nan
    cur.loc[50, "age"] = -3.0
    cur["region"] = cur["region"].astype(object)
    cur.loc[60, "region"] = "atlantis"   # unseen in one row: a warning
    cur.to_parquet(tmp_path / "cur.parquet", index=False)
    read_spark(str(tmp_path / "cur.parquet"), None, spark).repartition(3).write.parquet(str(tmp_path / "cur3"))
    want = validate(pd.read_parquet(tmp_path / "cur.parquet"), c)
    also = validate_source(str(tmp_path / "cur.parquet"), c, batch_rows=10_000)
    for data in (str(tmp_path / "cur.parquet"), str(tmp_path / "cur3")):
        got = validate_spark(data, c, spark=spark, quarantine=tmp_path / f"q{len(data)}")
        assert (got.rows, got.kept, got.quarantined) == (want.rows, want.kept, want.quarantined) == (also.rows, also.kept, also.quarantined)
        assert got.missing == want.missing
        key = lambda v: sorted((r.rule, r.column, r.severity, r.violations) for r in v.results)   # noqa: E731
        assert key(got) == key(want)
        assert pd.read_parquet(tmp_path / f"q{len(data)}").shape[0] == want.quarantined
    cat = next(r for r in got.results if r.rule == "category" and r.column == "plan")
    assert cat.severity == "hard" and "of rows, above the 50% allowed" in cat.message


def test_drift_summaries_exact_and_fit_within_tolerance(spark, tmp_path):
    from workbench.drift import drift_report, fit_reference
    from workbench.engines import pandas_summaries
    from workbench.example import make_customers
    from workbench.monitor import monitor, monitor_html
    from workbench.spark import fit_reference_spark, spark_summaries
    ref = make_customers(1000, 2, seed=1)
    cur = make_customers(900, 10, seed=5)
    cur = cur[cur.snapshot_month == cur.snapshot_month.max()].reset_index(drop=True)   # after the example's price change
    ref.to_parquet(tmp_path / "ref.parquet", index=False)
    spark.createDataFrame(cur).repartition(3).write.parquet(str(tmp_path / "cur"))
    R = fit_reference(ref)
    exact, counted = pandas_summaries(R, cur), spark_summaries(R, str(tmp_path / "cur"), spark=spark)
    for k, a in exact.items():
        b = counted[k]
        assert (a.n, a.missing, sorted(zip(map(str, a.categories or []), a.counts)) if a.categories else a.counts) == \
            (b.n, b.missing, sorted(zip(map(str, b.categories or []), b.counts)) if b.categories else b.counts), k
        if a.mean is not None: assert abs(a.mean - b.mean) <= 1e-9 * max(1, abs(a.mean)), k
    r1, r2 = drift_report(R, cur), drift_report(R, cur, summaries=counted)
    assert [(c.column, c.drift, round(c.statistic or 0, 9)) for c in r1.columns] == \
        [(c.column, c.drift, round(c.statistic or 0, 9)) for c in r2.columns]   # the report cannot tell which engine counted
    assert r1.dataset_drift
    # a reference fitted on Spark: approximate quantile edges, the same kinds and categories
    S = fit_reference_spark(str(tmp_path / "ref.parquet"), spark=spark)
    assert {k: v.kind for k, v in S.columns.items()} == {k: v.kind for k, v in R.columns.items()}
    assert all(S.columns[k].categories == c.categories for k, c in R.columns.items() if c.categories is not None)
    rs = drift_report(S, cur)
    m1, m2 = {c.column: c for c in r1.columns}, {c.column: c for c in rs.columns}
    for k, c in m1.items():
        assert m2[k].method == c.method, k
        assert abs((m2[k].statistic or 0) - (c.statistic or 0)) <= (0.01 if c.method == "ks" else 1e-6 * max(1, abs(c.statistic or 0))), k
        assert m2[k].drift == c.drift, k
    html = monitor_html(monitor(S, cur), S, "Monitoring on Spark")   # the monitor takes the Spark-fitted reference as it is
    assert "plan" in html


def test_cli_engine_spark(trained, tmp_path):
    "`--engine spark` on the real command (its own Spark in the subprocess); a bad engine is refused by argparse."
    p = wb(trained, "score", "churn", str(trained / "new.parquet"), "--out", str(tmp_path / "cli_out"), "--engine", "spark",
           "--json", timeout=600, check=0)
    res = json.loads(p.stdout[p.stdout.index("{"):])
    assert (res["rows"], res["rejected"]) == (1500, 2)
    assert len(pd.read_parquet(tmp_path / "cli_out")) == 1498
    p = wb(trained, "score", "churn", str(trained / "new.parquet"), "--out", str(tmp_path / "x"), "--engine", "dask")
    assert p.returncode == 2 and "invalid choice" in p.stderr


def test_settings_engine_and_missing_table(spark, trained, tmp_path):
    from workbench.core import WorkbenchError
    from workbench.settings import load_settings
    from workbench.spark import read_spark
    s = load_settings(trained)
    assert s.spark.engine == "pandas" and s.spark.master == "local[2]"
    with pytest.raises(Exception, match="nope"):
        read_spark("table:nope", s, spark).count()
    with pytest.raises(WorkbenchError, match="neither a source in settings.ini"):
        read_spark(str(tmp_path / "nothing"), s, spark)
    (tmp_path / "csv").mkdir()
    for i in range(2): pd.DataFrame({"a": [i], "when": ["2025-01-31"]}).to_csv(tmp_path / "csv" / f"{i}.csv", index=False)
    csv = read_spark(str(tmp_path / "csv"), s, spark)
    assert sorted(csv.dtypes) == [("a", "int"), ("when", "date")] and csv.count() == 2


def test_cli_validate_engine_in_process(spark, trained, tmp_path, capsys):
    "`workbench validate --engine spark` dispatches to the Spark engine (in this process: it reuses the session)."
    from workbench.cli import main
    from workbench.contract import infer_contract
    infer_contract(pd.read_parquet(trained / "data" / "c.parquet"), label="churned").save(tmp_path / "c.json")
    args = ["--project", str(trained), "validate", str(trained / "new.parquet"), "--contract", str(tmp_path / "c.json"), "--json"]
    outs = []
    for engine in ("pandas", "spark"):
        assert main([*args, "--engine", engine]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert [(o["rows"], o["kept"], o["quarantined"]) for o in outs] == [(1500, 1498, 2)] * 2


def test_catalog_table_source_and_sink(spark, trained, tmp_path):
    "table:NAME in and out, through the session's catalog."
    from workbench.settings import load_settings
    from workbench.spark import read_spark, score_spark, write_spark
    s = load_settings(trained)
    write_spark(read_spark(str(trained / "new.parquet"), s, spark), "table:customers_new")
    res = score_spark(s, "churn", "table:customers_new", "table:churn_scores", keep=["customer_id"], spark=spark)
    got = read_spark("table:churn_scores", s, spark)
    assert got.count() == res.scored == 1498 and got.columns[:2] == ["customer_id", "prediction"]


def test_job_engine_parameter(trained):
    "The bundled score and monitor jobs with engine=spark: their reports and run records say which engine ran."
    from conftest import runs
    p = wb(trained, "run", "score", "-p", "engine", "spark", "-p", "data", str(trained / "new.parquet"),
           "-p", "max_rejected_share", "0.01", "--no-progress", timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    rec = runs(trained, "--job", "score")[0]
    assert rec["status"] == "succeeded"
    assert rec["parameters"]["engine"] == rec["metrics"]["engine"] == "spark"   # asked for, and what ran
    html = (trained / rec["report"]).read_text()
    assert "Engine <strong>spark</strong>" in html and "1,498 of 1,500 rows scored" in html
    scored = trained / "data" / "predictions" / f"{rec['id']}.parquet"
    assert scored.is_dir()   # Spark writes a folder of part files
    p = wb(trained, "run", "monitor", "-p", "engine", "spark", "-p", "current", str(scored), "--no-progress", timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    rec = runs(trained, "--job", "monitor")[0]
    assert rec["status"] == "succeeded" and rec["metrics"]["engine"] == "spark" and rec["metrics"]["rows"] == 1498
    assert "engine <strong>spark</strong>" in (trained / rec["report"]).read_text()


def test_refuses_to_write_over_its_input(spark, trained):
    from workbench.data import DataError
    from workbench.settings import load_settings
    from workbench.spark import score_spark
    s = load_settings(trained)
    for out in (trained / "data", trained, trained / "data" / "c.parquet"):   # the source's folder, a parent, the file
        with pytest.raises(DataError, match="refusing to write the predictions"):
            score_spark(s, "churn", "c", out, spark=spark)
    assert (trained / "data" / "c.parquet").is_file()


def test_monitor_agrees_with_pandas(spark, tmp_path):
    "Overall and per-month verdicts of the monitor, counted on Spark, are the pandas path's; the HTML report takes them."
    from workbench.engines import get
    from workbench.example import make_customers
    from workbench.monitor import fit_monitor_reference, monitor, monitor_html
    from workbench.spark import read_spark
    ref = make_customers(800, 4, seed=1)
    cur = make_customers(800, 11, seed=5)
    cur = cur[cur.snapshot_month >= cur.snapshot_month.unique()[7]].reset_index(drop=True)   # months 8-11: drift from 9
    cur.to_parquet(tmp_path / "cur.parquet", index=False)
    read_spark(str(tmp_path / "cur.parquet"), None, spark).repartition(3).write.parquet(str(tmp_path / "cur3"))
    R = fit_monitor_reference(ref.drop(columns=["churned", "customer_id"]), time_column="snapshot_month")
    want = monitor(R, cur, "snapshot_month", "M")
    got = get("spark").monitor(R, str(tmp_path / "cur3"), time_column="snapshot_month", period="M", spark=spark)
    def verdicts(r):
        return [(c.column, c.method, c.drift, round(c.statistic or 0, 6)) for c in r.columns]
    assert verdicts(got.overall) == verdicts(want.overall) and got.overall.rows == want.overall.rows == len(cur)
    assert [(c["key"], c["rows"], c["result"].dataset_drift) for c in got.chunks] == \
        [(c["key"], c["rows"], c["result"].dataset_drift) for c in want.chunks]
    assert [verdicts(c["result"]) for c in got.chunks] == [verdicts(c["result"]) for c in want.chunks]
    assert got.drifted_chunks == want.drifted_chunks and got.drifted_chunks   # the example's price change shows
    assert got.headline() == want.headline()
    html = monitor_html(got, R, "Monitoring on Spark")
    assert "Monitoring on Spark" in html and "monthly_charges" in html


def test_cli_monitor_engine_in_process(spark, trained, tmp_path, capsys):
    "`workbench monitor --engine spark` on scored rows: the same verdicts as the pandas engine, from the model's stored reference."
    from workbench.cli import main
    from workbench.settings import load_settings
    from workbench.spark import score_spark
    score_spark(load_settings(trained), "churn", str(trained / "new.parquet"), tmp_path / "scored", spark=spark)
    outs = []
    for engine in ("pandas", "spark"):
        code = main(["--project", str(trained), "monitor", "--current", str(tmp_path / "scored"), "--engine", engine,
                     "--json", str(tmp_path / f"{engine}.json"), "--html", str(tmp_path / f"{engine}.html")])
        outs.append((code, json.loads((tmp_path / f"{engine}.json").read_text())))
        assert "Monitoring" in (tmp_path / f"{engine}.html").read_text()
    capsys.readouterr()
    (c1, a), (c2, b) = outs
    def verdicts(o):
        return sorted((c["column"], c["method"], c["drift"], round(c["statistic"] or 0, 6)) for c in o["columns"])
    assert c1 == c2 and verdicts(a) == verdicts(b) and a["rows"] == b["rows"] == 1498
    assert [(c["key"], c["rows"], c["dataset_drift"]) for c in a.get("chunks", [])] == \
        [(c["key"], c["rows"], c["dataset_drift"]) for c in b.get("chunks", [])]


def test_validate_with_empty_partitions(spark):
    "More partitions than rows: the empty ones start at row 0 like the first, and their summaries merge all the same."
    from workbench.contract import infer_contract, validate
    from workbench.example import make_customers
    from workbench.spark import validate_spark
    ref = make_customers(300, 1, seed=1)
    c = infer_contract(ref, keys=["customer_id"], label="churned")
    small = ref.head(5).copy()
    small.loc[1, "age"] = -3.0
    sdf = spark.createDataFrame(small).repartition(8)
    assert sdf.rdd.glom().map(len).collect().count(0) >= 3   # empty partitions
    got, want = validate_spark(sdf, c, spark=spark), validate(small, c)
    assert (got.rows, got.kept, got.quarantined) == (want.rows, want.kept, want.quarantined) and got.rows == 5 and got.quarantined >= 1
    assert got.missing == want.missing


def test_url_outputs(spark, trained, tmp_path, capsys, monkeypatch):
    "A filesystem URL goes to Spark's writer as it is; a database URL and --table are refused, naming the value and the fix."
    from workbench.cli import main
    from workbench.core import WorkbenchError
    from workbench.data import DataError
    from workbench.settings import load_settings
    from workbench.spark import check_output_spark, read_spark, score_spark, write_spark
    monkeypatch.chdir(tmp_path)
    s = load_settings(trained)
    for kw in ({"out": "sqlite:///scores.db"}, {"out": "postgresql+psycopg2://u@db/x"}, {"out": tmp_path / "o", "table": "scores"}):
        with pytest.raises(WorkbenchError, match="use --engine pandas for a database") as e:
            score_spark(s, "churn", str(trained / "new.parquet"), spark=spark, **kw)
        assert repr(str(kw.get("table", kw["out"]))) in str(e.value)
    args = ["--project", str(trained), "score", "churn", str(trained / "new.parquet"), "--engine", "spark"]
    assert main([*args, "--out", "sqlite:///scores.db"]) == 2
    assert "'sqlite:///scores.db' is a database URL" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "o"), "--table", "scores"]) == 2
    assert "--table 'scores'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []   # no sqlite: folder, nothing written
    url = f"file://{tmp_path}/by_url"
    df = read_spark(str(trained / "new.parquet"), s, spark).limit(20)
    assert write_spark(df, url) == url and write_spark(df.limit(10), url + ".csv") == url + ".csv"
    assert len(pd.read_parquet(tmp_path / "by_url")) == 20
    assert sum(len(pd.read_csv(f)) for f in (tmp_path / "by_url.csv").glob("part-*.csv")) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["by_url", "by_url.csv"]   # not ./file:/...
    with pytest.raises(DataError, match="refusing to write the predictions"):
        check_output_spark(f"file://{trained}/data", ["c"], s, "predictions")   # a file:// URL is checked as its path
    with pytest.raises(DataError, match="refusing to write the output"):
        check_output_spark("s3a://bucket/in", ["s3a://bucket/in/part-0.parquet"])


def test_probability_bins_as_numpy(spark):
    "Probabilities exactly at tenths land in the bins `np.histogram(range=(0, 1))` puts them in (0.3 is below its edge)."
    from types import SimpleNamespace

    from workbench.spark import _tally_spark
    p = np.r_[[i / 10 for i in range(11)], np.linspace(0, 1, 11), [0.1 * i for i in range(11)], np.arange(0, 1.01, 0.1)]
    good = spark.createDataFrame(pd.DataFrame({"prediction": p > 0.5, "probability": p}))
    res = SimpleNamespace()
    _tally_spark(res, good, "binary")
    assert res.probabilities == np.histogram(p, bins=10, range=(0, 1))[0].tolist() and sum(res.probabilities) == len(p)


def test_csv_source_dtypes(spark, tmp_path):
    "A CSV source's declared dtypes and parse_dates apply on Spark: a string column keeps its leading zeros."
    from workbench.settings import load_settings
    from workbench.spark import read_spark
    (tmp_path / "settings.ini").write_text("[project]\nname = zips\n[source:zips]\npath = z.csv\n"
                                           "dtypes = zip: string, n: float, code: int\nparse_dates = when\n")
    (tmp_path / "z.csv").write_text("id,zip,n,code,when\n1,01234,2,007,2025-01-31\n2,00042,3,12,2025-02-01 10:00:00\n")
    sdf = read_spark("zips", load_settings(tmp_path), spark)
    assert dict(sdf.dtypes) == {"id": "int", "zip": "string", "n": "double", "code": "bigint", "when": "timestamp"}
    got = sdf.orderBy("id").toPandas()
    assert got.zip.tolist() == ["01234", "00042"] and got.code.tolist() == [7, 12]
    assert got["when"].tolist() == [pd.Timestamp("2025-01-31"), pd.Timestamp("2025-02-01 10:00")]


def test_monitor_segments_agree_with_pandas(spark, trained, tmp_path):
    "Per-segment verdicts and unseen segment values on Spark are the pandas path's, from a stored reference and from one fitted on Spark."
    from dataclasses import replace

    from workbench.example import make_customers
    from workbench.monitor import fit_monitor_reference, monitor, run_monitor
    from workbench.settings import load_settings
    from workbench.spark import monitor_spark, run_monitor_spark
    ref = make_customers(800, 4, seed=1).drop(columns=["churned", "customer_id"])
    cur = make_customers(900, 11, seed=5)
    cur = cur[cur.snapshot_month >= cur.snapshot_month.unique()[7]].reset_index(drop=True)
    cur["plan"] = cur["plan"].astype(str)
    cur.loc[:40, "plan"] = "enterprise"                                                       # a value the reference never had
    ref["store"] = pd.array(np.arange(len(ref)) % 3 + 1, dtype="Int64")
    cur["store"] = pd.array(np.arange(len(cur)) % 3 + 1, dtype="Int64")
    cur.loc[len(cur) - 10:, "store"] = pd.NA                                                   # only the last partition has missing stores
    cur.to_parquet(tmp_path / "cur.parquet", index=False)
    (tmp_path / "cur2").mkdir()
    half = len(cur) // 2
    cur.iloc[:half].to_parquet(tmp_path / "cur2" / "a.parquet", index=False)                 # a batch without nulls reads as int ...
    cur.iloc[half:].to_parquet(tmp_path / "cur2" / "b.parquet", index=False)                 # ... one with them as float: keys agree
    R = fit_monitor_reference(ref, time_column="snapshot_month", segments=["plan", "is_autopay", "store"])
    want = monitor(R, cur, "snapshot_month", "M")
    got = monitor_spark(R, str(tmp_path / "cur2"), None, "snapshot_month", "M", spark=spark)
    def segs(r):
        return {s: {v: (x.rows, x.dataset_drift, sorted(c.column for c in x.columns if c.drift)) for v, x in vals.items()}
                for s, vals in r.segments.items()}
    assert segs(got) == segs(want) and set(want.segments["plan"]) == {"basic", "standard", "premium"}
    assert set(want.segments["is_autopay"]) == {"True", "False"}
    assert set(want.segments["store"]) == {"1", "2", "3"}
    assert got.unseen_segments == want.unseen_segments == \
        {"plan": {"enterprise": 41, "family": 129}, "is_autopay": {}, "store": {"(missing)": 10}}   # and the plan launched later
    assert any(x.dataset_drift for x in want.segments["plan"].values())                       # the price change shows per plan
    assert monitor_spark(R, str(tmp_path / "cur.parquet"), None, segments=[], spark=spark).segments == {}

    s = load_settings(trained)
    s = replace(s, monitor=replace(s.monitor, segments=["plan"]))
    ref_path, cur_path = str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet")
    make_customers(800, 4, seed=1).to_parquet(ref_path, index=False)
    a, ra = run_monitor(s, reference=ref_path, current=cur_path, model="-")
    b, rb = run_monitor_spark(s, reference=ref_path, current=cur_path, model="-", spark=spark)
    assert list(rb.segments["plan"]) == list(ra.segments["plan"])                            # fitted on Spark: the same values
    assert {v: rb.segments["plan"][v]["tenure_months"].n for v in rb.segments["plan"]} == \
        {v: ra.segments["plan"][v]["tenure_months"].n for v in ra.segments["plan"]}
    assert {v: (x.rows, x.dataset_drift) for v, x in b.segments["plan"].items()} == \
        {v: (x.rows, x.dataset_drift) for v, x in a.segments["plan"].items()}
    assert b.unseen_segments == a.unseen_segments == {"plan": {"enterprise": 41, "family": 129}}
    s = replace(s, monitor=replace(s.monitor, segments=["region", "churned"], exclude=["region"]))   # not judged, still a segment
    a, _ = run_monitor(s, reference=ref_path, current=cur_path, model="-")
    b, _ = run_monitor_spark(s, reference=ref_path, current=cur_path, model="-", spark=spark)
    assert {k: list(v) for k, v in b.segments.items()} == {k: list(v) for k, v in a.segments.items()} and set(a.segments) == {"region", "churned"}


def test_a_malformed_file_is_a_data_error_naming_it(spark, tmp_path):
    "Spark's Java stack trace on an unreadable Parquet file becomes a DataError that names the file and the reason."
    from workbench.data import DataError
    from workbench.spark import read_spark
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1" + b"\0" * 200)
    with pytest.raises(DataError, match=r"cannot read '.*bad\.parquet' as parquet: .*(footer|Parquet)"):
        read_spark(str(bad), None, spark)
