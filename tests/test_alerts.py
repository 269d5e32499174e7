"""Alert rules end to end: real job runs through the `workbench` command, a real local webhook server, real files."""
import json
import logging
import multiprocessing
import re
import sqlite3
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from bs4 import BeautifulSoup
from conftest import runs, wb, write_job

from workbench.alerts import append_jsonl, evaluate_rules, notify
from workbench.runs import RunRecord
from workbench.settings import load_settings

NO_PROXY = {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}   # the webhook is local
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def hook():
    "A local webhook server: /ok answers 200, /flaky 503 twice then 200, /hang never answers (until the test ends)."
    calls, got, release = {}, [], threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            path = self.path.split("?")[0]
            calls[path] = calls.get(path, 0) + 1
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if path == "/hang": release.wait(30)
            code = 503 if path == "/flaky" and calls[path] <= 2 else 200
            if code == 200: got.append((path, body))
            try:
                self.send_response(code); self.send_header("Content-Length", "0"); self.end_headers()
            except OSError: pass   # the client gave up waiting
        def log_message(self, *a): pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield type("Hook", (), dict(url=f"http://127.0.0.1:{srv.server_port}", calls=calls, got=got))
    release.set()
    srv.shutdown()
    srv.server_close()


def add_settings(project, text):
    p = project / "settings.ini"
    own = re.sub(r"\n\[alert:[^\]]*\][^\[]*", "\n", p.read_text())   # the example's own rules give way to the test's
    p.write_text(own + textwrap.dedent(text))


def write_watch_job(project):
    "A job that records the metrics the rules watch (and, with fail=True, then fails)."
    write_job(project / "jobs", "watch",
              "from workbench.runs import record\nrecord(rows=rows, dataset_drift=drift, note=note)\n"
              "# ---\nif fail: raise RuntimeError('planted failure after recording')",
              f"rows: int = 12\ndrift: bool = True\nnote: str = {XSS!r}\nfail: bool = False")
    add_settings(project, "\n[job:watch]\nnotebook = jobs/watch.ipynb\n")


def banner_rows(page: str) -> list[list[str]]:
    "The rows (cell texts) of the alerts banner of a run's report."
    div = BeautifulSoup(page, "html.parser").find("div", class_="wb-alerts")
    assert div is not None and div.get("role") == "alert"
    return [[td.get_text() for td in tr.find_all("td")] for tr in div.find("tbody").find_all("tr")]


def test_alerts_recorded_shown_and_sent_to_every_sink(project, hook):
    write_watch_job(project)
    add_settings(project, f"""
        [alert:few-rows]
        metric = rows
        below = 1000
        severity = critical
        notify = log, alerts/alerts.jsonl, {hook.url}/flaky

        [alert:drift]
        metric = dataset_drift
        equals = true
        notify = alerts/alerts.jsonl, {hook.url}/hang?token=s3cret

        [alert:markup]
        metric = note
        equals = {XSS}
        severity = info
        notify = alerts/alerts.jsonl

        [alert:lag]
        metric = lag_hours
        above = 24

        [alert:ok-only]
        metric = rows
        below = 1000
        job = ok
        """)
    p = wb(project, "run", "watch", "--no-progress", env=NO_PROXY)
    assert p.returncode == 0, p.stderr                                  # a webhook that never answers fails nothing
    assert "succeeded: watch run" in p.stdout
    assert "workbench: alert [critical] few-rows: rows is 12, below 1000 (job watch)" in p.stderr   # the log sink's line
    hang = f"{hook.url}/…"
    assert f"workbench: alert 'drift' could not be sent to {hang}: " in p.stderr and "(attempt 3 of 3)" in p.stderr
    assert "s3cret" not in p.stderr

    [run] = runs(project)
    assert run["status"] == "succeeded"
    alerts = {a["rule"]: a for a in run["alerts"]}                      # `workbench runs --json` has them
    assert set(alerts) == {"few-rows", "drift", "markup"}               # lag: not recorded; ok-only: another job
    few = alerts["few-rows"]
    assert (few["severity"], few["metric"], few["value"], few["condition"]) == ("critical", "rows", 12, "below 1000")
    sent = {d["sink"]: d for d in few["deliveries"]}
    assert sent["log"]["ok"] and sent["alerts/alerts.jsonl"]["ok"]
    assert sent[hang] == {"sink": hang, "ok": True, "error": None, "attempts": 3}   # 503, 503, then 200
    [failed] = [d for d in alerts["drift"]["deliveries"] if d["sink"] == hang]
    assert not failed["ok"] and failed["attempts"] == 3 and "timed out" in failed["error"].lower()
    assert hook.calls == {"/flaky": 3, "/hang": 3}

    [(path, body)] = [g for g in hook.got if g[0] == "/flaky"]
    assert body["rule"] == "few-rows" and body["run_id"] == run["id"] and body["report"] == run["report"]
    assert body["project"] == load_settings(project).project.name and body["status"] == "succeeded"

    lines = [json.loads(x) for x in (project / "alerts" / "alerts.jsonl").read_text().splitlines()]
    assert [x["rule"] for x in lines] == ["few-rows", "drift", "markup"]
    for x in lines:
        assert {"time", "project", "job", "run_id", "rule", "severity", "metric", "value", "condition", "report"} <= set(x)
        assert (x["job"], x["run_id"], x["report"]) == ("watch", run["id"], run["report"])
    assert (lines[1]["value"], lines[1]["condition"], lines[2]["value"]) == (True, "equals true", XSS)

    page = (project / run["report"]).read_text()
    assert banner_rows(page) == [["critical", "few-rows", "rows", "12", "below 1000"],
                                 ["warning", "drift", "dataset_drift", "true", "equals true"],
                                 ["info", "markup", "note", XSS, f"equals {XSS}"]]
    assert XSS not in page                                              # shown as text, never as markup
    assert page.index('class="wb-alerts') < page.index("jp-Cell")       # near the top, before any output

    index = BeautifulSoup((project / "reports" / "index.html").read_text(), "html.parser")
    [card] = [c for c in index.find_all("div", class_="wb-card") if c.find("b").get_text() == "watch"]
    line = card.find("div", class_="wb-alerts-line").get_text(" ", strip=True)
    assert line.startswith("critical 3 alerts: few-rows, drift, markup"), line
    assert "bad" in card["class"]                                       # a critical alert marks the card


def test_failed_run_fires_too_and_an_old_history_keeps_working(project):
    state = project / ".workbench"
    state.mkdir()
    with sqlite3.connect(state / "runs.sqlite") as con:   # a run history from before alerts
        con.executescript("""CREATE TABLE runs (id TEXT PRIMARY KEY, job TEXT NOT NULL, status TEXT NOT NULL,
            started_at TEXT NOT NULL, ended_at TEXT, duration_s REAL, parameters TEXT, metrics TEXT, error TEXT,
            report TEXT, notebook TEXT, source TEXT, host TEXT, pid INTEGER);""")
        con.execute("INSERT INTO runs (id, job, status, started_at, parameters, metrics) VALUES "
                    "('old-run', 'ok', 'succeeded', '2025-01-01T00:00:00', '{}', '{\"answer\": 42}')")
    con.close()
    write_watch_job(project)
    add_settings(project, """
        [alert:few-rows]
        metric = rows
        below = 1000
        notify = log

        [alert:lag]
        metric = lag_hours
        above = 24
        """)
    p = wb(project, "run", "watch", "-p", "fail", "true", "--no-progress")
    assert p.returncode == 1 and "planted failure after recording" in p.stderr
    assert "workbench: alert [warning] few-rows: rows is 12, below 1000 (job watch)" in p.stderr
    new, old = runs(project)
    assert old["id"] == "old-run" and old["alerts"] == [] and old["metrics"] == {"answer": 42}
    assert new["status"] == "failed" and [a["rule"] for a in new["alerts"]] == ["few-rows"]   # lag: not recorded
    page = (project / new["report"]).read_text()
    assert "This run failed" in page and banner_rows(page) == [["warning", "few-rows", "rows", "12", "below 1000"]]


def test_rule_errors_name_the_key(project):
    add_settings(project, """
        [alert:drift]
        metric = dataset_drift
        equals = true
        above = 0.5
        notify = lgo

        [alert:empty]
        metric = rows

        [alert:range]
        metric = auc
        above = 0.5
        below = 0.9
        notify = ftp://example.com/x
        """)
    p = wb(project, "check")
    assert p.returncode == 2, p.stderr
    for msg in ["[alert:drift] equals=True: cannot be combined with above or below",
                "[alert:drift] notify='lgo': 'lgo' is not a sink; did you mean 'log'?",
                "[alert:empty]: no condition; give above = NUMBER, below = NUMBER (or both), or equals = VALUE",
                "[alert:range] above=0.5, below=0.9: the rule fires when the metric is above 0.5 or below 0.9, which is always",
                "[alert:range] notify='ftp://example.com/x': 'ftp://example.com/x': a webhook is an http:// or https:// URL"]:
        assert msg in p.stderr, (msg, p.stderr)


def test_log_sink_level_follows_severity(project, caplog):
    add_settings(project, """
        [alert:few-rows]
        metric = rows
        below = 1000
        severity = critical

        [alert:note]
        metric = rows
        above = 1
        severity = info
        """)
    s = load_settings(project)
    run = RunRecord("r1", "watch", "succeeded", "2026-01-01T00:00:00")
    alerts = evaluate_rules(s.alerts, "watch", {"rows": 12})
    lines = []
    with caplog.at_level(logging.INFO, logger="workbench.alerts"):
        done = notify(alerts, s.alerts, s, run, echo=lines.append)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.CRITICAL, "alert few-rows [critical] run r1: rows is 12, below 1000 (job watch)"),
        (logging.INFO, "alert note [info] run r1: rows is 12, above 1 (job watch)")]
    assert [d.sink for d in done] == ["log", "log"] and len(lines) == 2


def _append_many(path, writer):
    for i in range(40): append_jsonl(path, [{"writer": writer, "i": i, "pad": "x" * 9000}])


def test_jsonl_appends_from_concurrent_processes_stay_whole(tmp_path):
    f = tmp_path / "alerts.jsonl"
    ps = [multiprocessing.get_context("fork").Process(target=_append_many, args=(f, w)) for w in range(4)]
    for p in ps: p.start()
    for p in ps: p.join(30)
    lines = [json.loads(x) for x in f.read_text().splitlines()]     # every line a whole object
    assert len(lines) == 160 and {(x["writer"], x["i"]) for x in lines} == {(w, i) for w in range(4) for i in range(40)}


def test_a_file_sink_that_cannot_be_written_is_recorded_not_raised(project):
    (project / "blocked").write_text("a file where a folder should be")
    add_settings(project, """
        [alert:few-rows]
        metric = rows
        below = 1000
        notify = blocked/alerts.jsonl, log
        """)
    s = load_settings(project)
    lines = []
    done = notify(evaluate_rules(s.alerts, "watch", {"rows": 3}), s.alerts, s,
                  RunRecord("r1", "watch", "succeeded", "2026-01-01T00:00:00"), echo=lines.append)
    assert [(d.sink, d.ok) for d in done] == [("log", True), ("blocked/alerts.jsonl", False)]
    assert done[1].error.startswith("FileExistsError:") and "blocked" in done[1].error   # mkdir met the file
    assert lines[-1].startswith("workbench: alert 'few-rows' could not be sent to blocked/alerts.jsonl: FileExistsError")
