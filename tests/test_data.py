"""Data engineering through the real CLI: sources, contracts, validation, quarantine, bad input, sensitive columns."""
import json
import sqlite3
import subprocess

import pandas as pd
import pytest
from conftest import WORKBENCH, runs, wb


def cli(*args, cwd, timeout=300):
    return subprocess.run([WORKBENCH, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture
def files(tmp_path, example_data):
    "A reference month, a later drifted month as CSV, and a contract inferred from the reference."
    months = sorted(example_data.glob("*.parquet"))
    ref = pd.read_parquet(months[0])
    ref.to_parquet(tmp_path / "ref.parquet", index=False)
    pd.read_parquet(months[-1]).to_csv(tmp_path / "new.csv", index=False)
    p = cli("contract", "infer", "ref.parquet", "--out", "contract.json", "--keys", "customer_id", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return tmp_path, ref


def validate(d, data, *extra):
    p = cli("validate", data, "--contract", "contract.json", "--json", *extra, cwd=d)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip().startswith("{") else None), p.stderr


def test_reference_passes_its_own_contract(files):
    d, ref = files
    code, out, _ = validate(d, "ref.parquet")
    assert code == 0 and out["rows"] == len(ref) == out["kept"] and out["quarantined"] == 0 and out["passed"]


def test_quarantine_file_holds_every_failing_row_with_reasons(files):
    d, ref = files
    bad = ref.astype({c: object for c in ref.select_dtypes("category").columns})
    bad.loc[3, "monthly_charges"] = 1e6                         # far out of range
    bad.loc[7, "customer_id"] = bad.loc[8, "customer_id"]        # duplicate key
    bad.loc[9, "contract"] = "lifetime"                          # unseen category (one row: a warning only)
    bad.to_csv(d / "bad.csv", index=False)
    code, out, _ = validate(d, "bad.csv", "--quarantine", "q.csv")
    assert code == 0 and out["acceptable"] and "within the 1.00% allowed" in out["verdict"]   # 2 of 1,500 rows: within 1%
    code, out, _ = validate(d, "bad.csv", "--quarantine", "q.csv", "--max-quarantined-share", "0")
    assert code == 1 and not out["acceptable"]
    assert out["rows"] == out["kept"] + out["quarantined"] == len(ref)
    q = pd.read_csv(d / "q.csv")
    assert len(q) == out["quarantined"] == 2
    assert dict(zip(q._row, q._reason)) == {
        3: "monthly_charges: far outside the range " + q._reason[0].split("range ")[1],
        8: "duplicate key (customer_id): an earlier row has the same key"}
    rules = {(r["rule"], r["column"], r["severity"]): r for r in out["rules"]}
    assert rules[("category", "contract", "soft")]["examples"] == ["lifetime"]
    assert rules[("range", "monthly_charges", "hard")]["examples"] == [1e6]


def test_a_later_month_is_not_quarantined_for_growing_ids_and_values(files):
    d, _ = files
    code, out, _ = validate(d, "new.csv", "--quarantine", "q.parquet")
    assert code == 0 and out["quarantined"] == 0, out
    soft = {(r["rule"], r["column"]) for r in out["rules"]}
    assert ("range", "tenure_months") in soft                      # tenure grew past the reference's max: a warning only
    assert len(pd.read_parquet(d / "q.parquet")) == 0


@pytest.mark.parametrize("name, content, code, message", [
    ("data.json", '{"a": 1}', 2, "cannot tell the format"),
    ("empty.csv", "", 2, "No columns to parse"),
    ("ragged.csv", "customer_id,age\nC1,30\nC2,31,extra,more\n", 2, "Expected 2 fields in line 3, saw 4"),
    ("nope.csv", None, 2, "neither a source in settings.ini"),
])
def test_unusable_input_exits_2_with_a_clear_message(files, name, content, code, message):
    d, _ = files
    if content is not None: (d / name).write_text(content)
    got, out, err = validate(d, name)
    assert got == code and message in err and "Traceback" not in err


def test_truncated_parquet_and_broken_contract(files):
    d, _ = files
    raw = (d / "ref.parquet").read_bytes()
    (d / "cut.parquet").write_bytes(raw[: len(raw) // 2])
    code, _, err = validate(d, "cut.parquet")
    assert code == 2 and "cannot read" in err and "cut.parquet" in err
    (d / "contract.json").write_text('{"columns": {"a": {"dtype": "int", "nullabel": true}}}')
    code, _, err = validate(d, "ref.parquet")
    assert code == 2 and "unknown field(s) ['nullabel']" in err


def test_shape_and_type_problems_are_quarantined_or_warned(files):
    d, ref = files
    semi = ref.drop(columns=["region"]).assign(surprise=1)        # a column missing, one extra
    semi.to_csv(d / "semi.csv", index=False, sep=";")              # and another delimiter
    code, out, err = validate(d, "semi.csv")
    assert code == 2 and out is None and err.count("region") == 1 and "lacks the column(s) ['region']" in err   # once, not per row
    ref.assign(surprise=1).to_csv(d / "extra.csv", index=False, sep=";")
    code, out, _ = validate(d, "extra.csv")
    assert code == 0 and ("extra_column", "soft") in {(r["rule"], r["severity"]) for r in out["rules"]}
    typed = ref.astype({"tenure_months": object})
    typed.loc[0, "tenure_months"] = "twelve"
    typed.loc[1, "tenure_months"] = 4.5
    typed["satisfaction_score"] = None                             # an all-null column (nullable: fine)
    typed.to_csv(d / "typed.csv", index=False)
    code, out, _ = validate(d, "typed.csv", "--quarantine", "q.csv", "--max-quarantined-share", "0")
    assert code == 1 and out["quarantined"] == 2
    assert set(pd.read_csv(d / "q.csv")._reason) == {"tenure_months: not a int"}


def test_empty_data_unicode_and_mixed_dates(tmp_path):
    df = pd.DataFrame({"kundennr": [f"K{i}" for i in range(20)], "größe": [1.5, 2.5, 2.0, 1.0] * 5,
                       "stadt": ["Zürich", "Genève", "Zürich", "東京"] * 5,
                       "datum": ["2025-01-03", "2025-02-01", "2025-01-15", "2025-02-20"] * 5})
    df.to_csv(tmp_path / "ref.csv", index=False)
    assert cli("contract", "infer", "ref.csv", "--out", "c.json", cwd=tmp_path).returncode == 0
    df.head(0).to_csv(tmp_path / "empty.csv", index=False)
    p = cli("validate", "empty.csv", "--contract", "c.json", "--json", cwd=tmp_path)
    assert p.returncode == 0 and json.loads(p.stdout)["rows"] == 0
    new = pd.DataFrame({"kundennr": ["K50", "K60"], "größe": [1.7, 2.2], "stadt": ["東京", "Zürich"],
                        "datum": ["03/02/2025", "2025-02-10T08:30:00"]})   # mixed date formats
    new.to_csv(tmp_path / "new.csv", index=False)
    p = cli("validate", "new.csv", "--contract", "c.json", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    new.loc[1, "stadt"] = "Ünbekannt"
    new.to_csv(tmp_path / "new.csv", index=False)
    out = json.loads(cli("validate", "new.csv", "--contract", "c.json", "--json", cwd=tmp_path).stdout)
    assert out["rules"][0]["column"] == "stadt" and out["rules"][0]["examples"] == ["Ünbekannt"]


def test_sources_inventory_reports_broken_sources_without_failing_others(project):
    with sqlite3.connect(project / "shop.db") as con:
        pd.DataFrame({"order_id": range(12), "amount": 1.0}).to_sql("orders", con, index=False)
    (project / "broken.parquet").write_bytes(b"not parquet at all")
    ini = project / "settings.ini"
    ini.write_text(ini.read_text() + "\n[source:orders]\nkind = sql\nurl = sqlite:///shop.db\ntable = orders\n"
                   "[source:broken]\npath = broken.parquet\n[source:missing]\npath = nowhere/*.csv\n")
    p = wb(project, "sources", "--json")
    assert p.returncode == 1
    inv = {s["name"]: s for s in json.loads(p.stdout)}
    assert inv["customers"]["rows"] == 4_500 and inv["customers"]["files"] == 3 and inv["customers"]["error"] is None
    assert inv["customers"]["owner"] == "analytics team" and inv["customers"]["age_hours"] >= 0
    assert inv["orders"]["rows"] == 12 and inv["orders"]["columns"] == 2
    assert "cannot read" in inv["broken"]["error"] or "magic" in inv["broken"]["error"].lower()
    assert "no data files" in inv["missing"]["error"]
    text = wb(project, "sources").stdout
    assert "ERROR" in text and "4,500 rows" in text


def test_quality_job_reports_kept_and_quarantined(project):
    p = cli("contract", "infer", "customers", "--out", "contracts/customers.json", cwd=project)
    assert p.returncode == 0, p.stderr
    df = pd.read_parquet(project / "data" / "customers")
    df.loc[0, "monthly_charges"] = -500.0
    (project / "data2").mkdir()
    df.to_parquet(project / "data2" / "customers.parquet", index=False)
    wb(project, "run", "quality", "-p", "data", "data2/customers.parquet", "-p", "contract", "contracts/customers.json",
       "--no-progress", check=0)
    [run] = runs(project)
    m = run["metrics"]
    assert (m["rows"], m["kept"], m["quarantined"]) == (4_500, 4_499, 1)
    html = (project / run["report"]).read_text()
    assert "Rows kept / quarantined: <strong>4,499 / 1</strong>" in html
    q = pd.read_parquet(project / ".workbench" / "runs" / run["id"] / "quarantine.parquet")   # data, kept out of reports/
    assert q._row.tolist() == [0] and "monthly_charges: negative, but never negative" in q._reason[0]
    assert run["status"] == "succeeded" and m["acceptable"] is True


def test_sensitive_values_never_leave_the_data(project):
    planted_mail, planted_note = "planted.secret.4711@example.com", "PLANTED-NOTE-93ab"
    df = pd.read_parquet(project / "data" / "customers")
    df["email"] = [f"user{i}@example.net" for i in range(len(df))]
    df["note"] = "ordinary"
    df.loc[0, ["email", "note"]] = [planted_mail, planted_note]
    (project / "pii").mkdir()
    df.to_csv(project / "pii" / "customers.csv", index=False)
    ini = project / "settings.ini"
    ini.write_text(ini.read_text() + "\n[source:pii]\npath = pii/customers.csv\nsensitive = note\nkeys = customer_id, snapshot_month\n")
    assert cli("contract", "infer", "pii", "--out", "contracts/pii.json", cwd=project).returncode == 0
    df.loc[0, "monthly_charges"] = -1e5                            # row 0 is quarantined: its values go nowhere either
    df.to_csv(project / "pii" / "customers.csv", index=False)
    p = cli("validate", "pii", "--contract", "contracts/pii.json", "--quarantine", "out/q.csv", cwd=project)
    assert p.returncode == 0 and "1 quarantined" in p.stdout and planted_mail not in p.stdout + p.stderr
    wb(project, "run", "profile", "-p", "data", "pii", "--no-progress", check=0)
    wb(project, "run", "quality", "-p", "data", "pii", "-p", "contract", "contracts/pii.json", "--no-progress", check=0)
    produced = [f for f in project.rglob("*") if f.is_file() and "pii" not in f.parts and "data" not in f.parts]
    assert len(produced) > 8
    for f in produced:
        blob = f.read_bytes()
        assert planted_mail.encode() not in blob and planted_note.encode() not in blob, f
    q = pd.read_csv(project / "out" / "q.csv")
    assert q.email.tolist() == ["<redacted>"] and q.note.tolist() == ["<redacted>"]


def test_a_csv_column_declared_string_keeps_its_values_as_written(tmp_path):
    "Leading zeros survive: the column is read as text, not parsed as a number and turned back into text."
    from workbench.data import iter_batches, read_table
    from workbench.settings import load_settings
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "zips.csv").write_text("id,zip,code\n1,01234,007\n2,00042,010\n3,90210,100\n")
    (tmp_path / "settings.ini").write_text("[project]\nname = z\n\n[source:zips]\npath = data/zips.csv\ndtypes = zip: string, code: int\n")
    s = load_settings(tmp_path)
    df = read_table("zips", s)
    assert df["zip"].tolist() == ["01234", "00042", "90210"] and df["code"].tolist() == [7, 10, 100]
    assert pd.concat(iter_batches("zips", s, rows=2))["zip"].tolist() == ["01234", "00042", "90210"]


def test_dates_in_mixed_formats_and_offsets_are_read_as_naive_utc(tmp_path):
    "parse_dates and datetime dtypes read any mix of formats and UTC offsets; a bad value fails a declared datetime, and leaves a parse_dates column as text for the contract to quarantine."
    import warnings

    from workbench.data import DataError, iter_batches, read_table
    from workbench.settings import load_settings
    (tmp_path / "data").mkdir()
    csv = tmp_path / "data" / "e.csv"
    csv.write_text("id,when,at\n1,2024-01-05,2024-01-05T10:00:00+02:00\n2,2024-02-05 08:15,2024-01-06T10:00:00Z\n3,2024-03-01T12:30:00,2024-01-07 10:00\n")
    (tmp_path / "settings.ini").write_text("[project]\nname = z\n\n[source:e]\npath = data/e.csv\nparse_dates = when\ndtypes = at: datetime\n")
    s = load_settings(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                   # no "mixed time zones" FutureWarning either
        for df in (read_table("e", s), pd.concat(iter_batches("e", s, rows=2), ignore_index=True)):
            assert str(df["when"].dtype) == str(df["at"].dtype) == "datetime64[ns]"
            assert df["at"].tolist() == [pd.Timestamp("2024-01-05 08:00"), pd.Timestamp("2024-01-06 10:00"), pd.Timestamp("2024-01-07 10:00")]
            assert df["when"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-02-05 08:15"), pd.Timestamp("2024-03-01 12:30")]
    csv.write_text("id,when,at\n1,2024-01-05,not a date\n")
    with pytest.raises(DataError, match="column 'at' is declared datetime in settings.ini"):
        read_table("e", s)
    csv.write_text("id,when,at\n1,not a date,2024-01-05\n2,2024-01-06,2024-01-06\n")
    assert read_table("e", s)["when"].tolist() == ["not a date", "2024-01-06"]
