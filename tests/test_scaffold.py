"""`workbench init` on real data: the settings it writes load, fit the data (`workbench check`) and train."""
import re
import sqlite3
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import WORKBENCH, runs, wb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from workbench.settings import load_settings


def cli(*args, cwd):
    return subprocess.run([WORKBENCH, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def monthly(tmp_path_factory):
    "Eight monthly Parquet snapshots of customers, with an e-mail column, a row counter and a column filled in only after churn."
    from workbench.example import make_customers
    d = tmp_path_factory.mktemp("monthly")
    df = make_customers(1_200, months=8, seed=5)
    rng = np.random.default_rng(5)
    df.insert(0, "row_id", np.arange(len(df)) + 10_000)
    df["email"] = [f"user{i}@example.org" for i in rng.integers(0, 10**6, len(df))]
    df["cancelled_on"] = df.snapshot_month.where(df.churned) + pd.Timedelta(days=20)   # known only after the outcome
    (d / "data" / "customers").mkdir(parents=True)
    for m, part in df.groupby(df.snapshot_month.dt.month):
        part.to_parquet(d / "data" / "customers" / f"customers_2025-{m:02d}.parquet", index=False)
    return d


def test_init_guesses_from_across_the_partitions_and_asks_what_it_cannot_know(monthly):
    p = cli("init", "guess", "--data", "data/customers", "--target", "churned", cwd=monthly)
    assert p.returncode == 0, p.stderr
    s = load_settings(monthly / "guess")
    src = s.sources["customers"]
    assert (src.path, src.kind) == ((monthly / "data" / "customers").resolve(), "parquet")
    assert "path = ../data/customers\n" in (monthly / "guess" / "settings.ini").read_text()   # relative: it moves with its data
    assert s.problem.task == "binary" and s.problem.positive_class == "True" and s.problem.metric == "roc_auc"
    assert s.problem.time_column is None                                    # two date columns: it asks instead of guessing
    assert "several date columns (snapshot_month, signup_date, cancelled_on)" in p.stdout
    assert "--time-column" in p.stdout
    assert s.problem.id_column == "customer_id" and src.keys == []         # repeats every month, and no time column to pair it with
    assert "email" in src.sensitive
    assert s.features.exclude == ["row_id"]                                 # the other identifier is no feature
    assert "'cancelled_on'" in p.stdout and "[features] exclude" in p.stdout   # the leak is named before any training
    assert "workbench --project guess check" in p.stdout


def test_init_then_check_then_train_on_time_ordered_data(monthly):
    p = cli("init", "proj", "--data", str(monthly / "data" / "customers"), "--target", "churned",
            "--time-column", "snapshot_month", "--name", "churn", cwd=monthly)
    assert p.returncode == 0, p.stderr
    s = load_settings(monthly / "proj")
    assert s.project.name == "churn" and s.problem.time_column == "snapshot_month"
    assert s.sources["customers"].keys == ["customer_id", "snapshot_month"]   # unique per customer and month
    text = (monthly / "proj" / "settings.ini").read_text()
    assert re.search(r"(?m)^time_column = snapshot_month +# as given$", text) and "# success_threshold =" in text
    wb(monthly / "proj", "check", check=0)
    ini = monthly / "proj" / "settings.ini"
    ini.write_text(ini.read_text().replace("[features]\nexclude = row_id", "[features]\nexclude = row_id, cancelled_on"))
    wb(monthly / "proj", "run", "train", "-p", "candidates", "dummy,linear", "--no-progress", check=0, timeout=600)
    [run] = runs(monthly / "proj")
    assert run["status"] == "succeeded"
    report = (monthly / "proj" / run["report"]).read_text()
    assert "forward-chaining folds by snapshot_month" in report             # model selection follows time


def test_init_on_bundled_data_sets_of_each_task(tmp_path):
    w = load_wine(as_frame=True).frame
    w["cultivar"] = w.pop("target").map({0: "barolo", 1: "grignolino", 2: "barbera"})
    w.to_csv(tmp_path / "wine.csv", index=False)
    load_diabetes(as_frame=True, scaled=False).frame.to_parquet(tmp_path / "diabetes.parquet")
    b = load_breast_cancer(as_frame=True).frame
    b["diagnosis"] = b.pop("target").map({0: "malignant", 1: "benign"})
    with sqlite3.connect(tmp_path / "clinic.db") as con: b.to_sql("exams", con, index=False)
    cases = [("wine", ["--data", "wine.csv", "--target", "cultivar"], ("multiclass", None, "f1_macro")),
             ("diabetes", ["--data", "diabetes.parquet", "--target", "target"], ("regression", None, "mae")),
             ("clinic", ["--data", f"sqlite:///{tmp_path / 'clinic.db'}", "--table", "exams", "--target", "diagnosis"],
              ("binary", "malignant", "roc_auc"))]
    for folder, args, want in cases:
        p = cli("init", folder, *args, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        s = load_settings(tmp_path / folder)
        assert (s.problem.task, s.problem.positive_class, s.problem.metric) == want
        wb(tmp_path / folder, "check", check=0)
    assert "positive_class = malignant: the rarer class (37.3% of rows)" in p.stdout   # a guess to check, said so
    assert "path = ../wine.csv\n" in (tmp_path / "wine" / "settings.ini").read_text()
    assert load_settings(tmp_path / "clinic").sources["exams"].table == "exams"


def test_init_refuses_what_it_cannot_do_and_never_overwrites(tmp_path):
    pd.DataFrame({"x": range(200), "y": [0, 1] * 100, "one": 1}).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "settings.ini").write_text("[project]\nname = mine\n")
    for args, says in [(["p", "--data", "d.csv", "--target", "y"], "never writes over"),
                       (["q", "--data", "d.csv", "--target", "yy"], "did you mean y?"),
                       (["q", "--data", "d.csv", "--target", "one"], "nothing to learn"),
                       (["q", "--data", "d.csv", "--target", "x", "--positive-class", "1"], "for a binary task"),
                       (["q", "--data", "d.csv", "--target", "y", "--positive-class", "2"], "is not a value of 'y'"),
                       (["q", "--data", "nope.csv"], "nope.csv"),
                       (["q", "--data", "sqlite:///x.db"], "give --table"),
                       (["q", "--data", "d.csv", "--table", "t"], "is for a database URL"),
                       (["q", "--data", "d.csv", "--sample-rows", "5"], "at least 100")]:
        p = cli("init", *args, cwd=tmp_path)
        assert p.returncode == 2 and says in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
    assert (tmp_path / "p" / "settings.ini").read_text() == "[project]\nname = mine\n"
    assert not (tmp_path / "q" / "settings.ini").exists()


def test_init_on_awkward_real_world_files(tmp_path):
    "Names settings.ini cannot take, day-first and time-only text, a birth date, grouping ids, a float target with gaps."
    from workbench.evaluate import check_project
    from workbench.scaffold import ScaffoldError, init_project, scaffold
    rng = np.random.default_rng(3)
    n = 600
    df = pd.DataFrame({
        "order_id": np.arange(n) + 5_000,
        "store_id": rng.integers(1, 11, n),                                           # 10 stores: a feature, not a case id
        "visit": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%d/%m/%Y"),   # day first
        "opens": rng.choice(["08:15", "09:30"], n),                                    # times of day
        "date_of_birth": pd.date_range("1960-01-01", periods=n, freq="7D").strftime("%Y-%m-%d"),
        "spend, eur": rng.normal(50, 10, n),                                           # a comma: settings.ini cannot list it
        "y": rng.choice([0.0, 1.0], n, p=[0.8, 0.2]),
    })
    df.loc[n - 50:, "y"] = np.nan                                                      # labels not in yet
    df.to_csv(tmp_path / "2024_orders.csv", index=False)
    path, sc = init_project(tmp_path / "my project", str(tmp_path / "2024_orders.csv"), target="y")
    s = load_settings(path)
    assert s.project.name == "my_project" and list(s.sources) == ["data_2024_orders"]
    assert s.problem.positive_class == "1" and s.problem.time_column is None           # no date of birth as the time column
    assert s.problem.id_column == "order_id" and s.sources["data_2024_orders"].parse_dates == ["date_of_birth"]
    assert "date_of_birth" in s.sources["data_2024_orders"].sensitive and s.features.exclude == []
    notes = "\n".join(sc.notes)
    assert "visit: dates written day first" in notes and "'spend, eur'" in notes and "store_id: named like identifiers" in notes
    assert check_project(s) == []                                                      # what it wrote fits the data
    with pytest.raises(ScaffoldError, match="--name 'my proj'"): scaffold(str(tmp_path / "2024_orders.csv"), tmp_path, name="my proj")
    with pytest.raises(ScaffoldError, match="cannot name this column"):
        scaffold(str(tmp_path / "2024_orders.csv"), tmp_path, target="spend, eur")
    with pytest.raises(ScaffoldError, match="holds a password"):
        scaffold("postgresql://me:secret@127.0.0.1/shop", tmp_path, table="orders")
    pd.DataFrame({"y": [1] * 150 + [2] * 50, "x": range(200)}).to_csv(tmp_path / "onetwo.csv", index=False)
    one_two = scaffold(str(tmp_path / "onetwo.csv"), tmp_path, target="y")
    assert "positive_class = 2: the rarer class (25.0% of rows): the one to act on? check it" in one_two.notes
    big = pd.DataFrame({"customer_id": np.tile(np.arange(300), 3), "month": np.repeat(["2025-01-01", "2025-02-01", "2025-03-01"], 300),
                        "x": rng.normal(size=900), "y": rng.integers(0, 2, 900)})
    big.to_csv(tmp_path / "big.csv", index=False)                                      # sorted by month: the head is one month
    sc = scaffold(str(tmp_path / "big.csv"), tmp_path, target="y", sample_rows=200)
    assert "keys = customer_id, month" in sc.text and any("first 200 rows of one file" in x for x in sc.notes)
