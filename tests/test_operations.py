"""Operations end to end: provenance and `workbench rerun`, `workbench reports serve` and `prune`, failure notices by e-mail.

Real components only: job runs through the `workbench` command, a real HTTP server process, a real SMTP server (aiosmtpd)."""
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import textwrap
import time

import pytest
from bs4 import BeautifulSoup
from conftest import WORKBENCH, free_port, runs, wb, write_job

import workbench

NO_PROXY = {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


def add_settings(project, text):
    p = project / "settings.ini"
    p.write_text(p.read_text() + textwrap.dedent(text))



def git(project, *args):
    return subprocess.run(["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


# provenance and rerun

def test_runs_record_provenance_and_rerun_names_what_changed(project):
    (project / "data" / "extra.csv").write_text("a,b\n1,2\n")
    write_job(project / "jobs", "uses", "from workbench.runs import record\nrecord(model='churn-example/3', rows=len(data))",
              'data: str = "customers"  # a source\nref: str = "data/extra.csv"  # a file\nout: str = "data/out.csv"')
    add_settings(project, "\n[job:uses]\nnotebook = jobs/uses.ipynb\n")
    (project / ".gitignore").write_text("data/\nreports/\n.workbench/\n")
    git(project, "init", "-q")
    git(project, "add", "settings.ini", "jobs", ".gitignore")
    git(project, "commit", "-q", "-m", "the project")
    head = git(project, "rev-parse", "HEAD")

    wb(project, "run", "uses", "-p", "out", "data/extra.csv", "--no-progress", check=0)
    [first] = runs(project)
    nb_hash = hashlib.sha256((project / "jobs" / "uses.ipynb").read_bytes()).hexdigest()
    assert (first["notebook_sha256"], first["workbench_version"]) == (nb_hash, workbench.__version__)
    assert (first["git_commit"], first["git_dirty"]) == (head, False)
    assert first["models"] == ["churn-example/3"]
    assert sorted(first["inputs"]) == ["data", "ref"]                      # out names where the job writes: not an input
    assert first["inputs"]["data"]["source"] == "customers" and first["inputs"]["data"]["files"] == 3
    assert first["inputs"]["ref"]["path"] == "data/extra.csv" and first["inputs"]["ref"]["bytes"] == 8
    page = (project / first["report"]).read_text()
    assert f"<b>git</b> {head[:12]}" in page and "<b>models</b> churn-example/3" in page

    p = wb(project, "rerun", first["id"], "--no-progress", check=0)        # nothing changed: no warning
    assert "warning" not in p.stderr, p.stderr

    write_job(project / "jobs", "uses", "from workbench.runs import record\nrecord(model='churn-example/4', rows=len(data))",
              'data: str = "customers"  # a source\nref: str = "data/extra.csv"  # a file\nout: str = "data/out.csv"')
    (project / "data" / "extra.csv").write_text("a,b\n1,2\n3,4\n")
    ini = project / "settings.ini"
    ini.write_text(ini.read_text().replace("notebook = jobs/uses.ipynb", "notebook = jobs/uses.ipynb\nref = data/other.csv"))
    p = wb(project, "rerun", first["id"], "--no-progress", check=0)
    warned = [x for x in p.stderr.splitlines() if x.startswith(f"workbench: warning: rerun of {first['id']}: ")]
    new_hash = hashlib.sha256((project / "jobs" / "uses.ipynb").read_bytes()).hexdigest()
    assert any(f"the job notebook changed: sha256 {nb_hash[:12]} then, {new_hash[:12]} now" in x for x in warned), p.stderr
    assert any("the git working tree has uncommitted changes (then: none; now: uncommitted changes)" in x for x in warned), p.stderr
    assert any("the data of parameter ref='data/extra.csv' changed: 1 file, 8 bytes" in x and "1 file, 12 bytes" in x
               for x in warned), p.stderr
    assert not any("parameter data=" in x or "workbench version" in x for x in warned), p.stderr
    latest = runs(project)[0]
    assert latest["rerun_of"] == first["id"] and latest["parameters"] == first["parameters"]   # settings.ini's new ref: not used
    assert latest["models"] == ["churn-example/4"] and latest["git_dirty"] is True
    assert wb(project, "rerun", "no-such-run").returncode == 2


# serving the reports

def get(port, path, headers=None, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers=headers or {})   # the path is sent exactly as given
    r = c.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    c.close()
    return out


class Server:
    "`workbench reports serve` in its own process."
    def __init__(self, project, *args, env=None):
        self.err = project / f"serve-{time.monotonic_ns()}.err"
        self.proc = subprocess.Popen([WORKBENCH, "--project", str(project), "reports", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=open(self.err, "w"), text=True,
                                     env={**os.environ, **NO_PROXY, **(env or {})})
        line = self.proc.stdout.readline()
        m = re.search(r"at http://127\.0\.0\.1:(\d+)/", line)
        assert m, (line, self.err.read_text())
        self.port = int(m.group(1))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


def test_reports_serve_is_read_only_and_stays_inside_reports(project):
    wb(project, "run", "ok", "--no-progress", check=0)
    [run] = runs(project)
    reports = project / "reports"
    (reports / "leak.html").symlink_to(project / "settings.ini")
    (reports / "outside").symlink_to(project, target_is_directory=True)
    (reports / "ok" / f"{run['id']}_files").mkdir()
    (reports / "ok" / f"{run['id']}_files" / "profile.html").write_text("<script>1</script>")
    srv = Server(project)
    try:
        code, h, body = get(srv.port, "/")
        assert code == 200 and run["id"].encode() in body and h["x-content-type-options"] == "nosniff"
        assert "script-src 'sha256-" in h["content-security-policy"]         # the catalog's own policy
        hrefs = [a["href"] for a in BeautifulSoup(body, "html.parser").find_all("a", href=True) if not a["href"].startswith("#")]
        assert hrefs and all(get(srv.port, "/" + x)[0] == 200 for x in hrefs)
        code, h, body = get(srv.port, f"/ok/{run['id']}.html")
        assert code == 200 and b"result 42" in body and "script-src" not in h["content-security-policy"]
        assert get(srv.port, f"/ok/{run['id']}_files/profile.html")[1]["content-security-policy"] == "sandbox allow-scripts"
        assert get(srv.port, f"/ok/{run['id']}.ipynb")[1]["content-disposition"].startswith("attachment")
        secret = (project / "settings.ini").read_bytes()[:40]
        for bad in ["/../settings.ini", "/%2e%2e/settings.ini", "/%2E%2E/settings.ini", "/ok/..%2f..%2fsettings.ini",
                    "/ok/%2e%2e%2f%2e%2e%2fsettings.ini", "/..%5csettings.ini", "/leak.html", "/outside/settings.ini",
                    "/outside/.workbench/runs.sqlite", "/ok/", "/ok", "/.index.html", "//etc/passwd", "/../../../../etc/passwd"]:
            code, _, body = get(srv.port, bad)
            assert code == 404 and secret not in body and b"root:" not in body, (bad, code, body[:80])
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:   # no client in between to tidy the path
            s.sendall(b"GET /../settings.ini HTTP/1.0\r\n\r\n")
            raw = b"".join(iter(lambda: s.recv(65536), b""))
        assert raw.startswith(b"HTTP/1.0 404") and secret not in raw
        assert get(srv.port, "/", method="POST")[0] == 501 and get(srv.port, "/", method="DELETE")[0] == 501
        assert get(srv.port, "/", method="HEAD")[0] == 200
    finally:
        assert srv.stop() == 0
    assert "GET /../settings.ini HTTP/1.0 404" in srv.err.read_text()        # one line per request on stderr


def test_reports_serve_needs_a_token_or_password_beyond_this_machine(project):
    wb(project, "catalog", check=0)
    port = free_port()
    with socket.socket() as held:   # the port is taken: a server that bound before refusing would say so instead
        held.bind(("127.0.0.1", port))
        held.listen()
        p = wb(project, "reports", "serve", "--host", "0.0.0.0", "--port", str(port), timeout=30)
        assert p.returncode == 2 and "refusing to serve the reports on 0.0.0.0 without a token or a password" in p.stderr
        assert "cannot listen" not in p.stderr and "Traceback" not in p.stderr
        add_settings(project, "\n[reports]\nhost = 0.0.0.0\npassword_env = WB_TEST_REPORTS_PW\n")
        p = wb(project, "reports", "serve", "--port", str(port), timeout=30, env={"WB_TEST_REPORTS_PW": ""})
        assert p.returncode == 2 and "the environment variable WB_TEST_REPORTS_PW is not set" in p.stderr

    ini = project / "settings.ini"
    ini.write_text(ini.read_text().replace("host = 0.0.0.0\n", ""))
    srv = Server(project, "--token", "s3cret-token", env={"WB_TEST_REPORTS_PW": "pass word"})
    try:
        code, h, _ = get(srv.port, "/")
        assert code == 401 and h["www-authenticate"].startswith("Basic")
        assert get(srv.port, "/?token=wrong")[0] == 401
        code, h, _ = get(srv.port, "/ok/x.html?a=1&token=s3cret-token")
        assert code == 303 and h["location"] == "/ok/x.html?a=1"               # the token leaves the address
        cookie = h["set-cookie"].split(";")[0]
        assert "s3cret-token" not in cookie and "HttpOnly" in h["set-cookie"] and "SameSite=Lax" in h["set-cookie"]
        assert get(srv.port, "/", {"Cookie": cookie})[0] == 200
        assert get(srv.port, "/", {"Authorization": "Bearer s3cret-token"})[0] == 200
        assert get(srv.port, "/", {"Authorization": "Bearer s3cret-tokeN"})[0] == 401
        basic = base64.b64encode(b"anyone:pass word").decode()
        assert get(srv.port, "/", {"Authorization": f"Basic {basic}"})[0] == 200
        assert get(srv.port, "/../settings.ini", {"Cookie": cookie})[0] == 404
    finally:
        srv.stop()
    assert "s3cret-token" not in srv.err.read_text() and "token=…" in srv.err.read_text()   # never in the log


# pruning

def index_links(project) -> list[str]:
    soup = BeautifulSoup((project / "reports" / "index.html").read_text(), "html.parser")
    return [a["href"] for a in soup.find_all("a", href=True) if not a["href"].startswith("#")]


def test_prune_keeps_the_index_true(project):
    write_job(project / "jobs", "art", "from workbench.runs import artifacts_dir, record\n"
              "(artifacts_dir() / 'extra.html').write_text('extra')\nrecord(score=n / 10, label='x')", "n: int = 1")
    add_settings(project, "\n[job:art]\nnotebook = jobs/art.ipynb\n")
    for n in (1, 5, 3):
        wb(project, "run", "art", "-p", "n", str(n), "--no-progress", check=0)
    assert wb(project, "run", "boom", "--no-progress").returncode == 1
    art = [r for r in runs(project) if r["job"] == "art"]
    reports = project / "reports"
    assert all((reports / "art" / f"{r['id']}_files" / "extra.html").is_file() for r in art)

    index = (reports / "index.html").read_text()
    assert 'aria-label="score over the last 3 runs of art"' in index            # a trend per numeric metric
    assert re.search(r'<svg class="wb-spark"[^>]*>.*?<polyline[^>]*points="([\d., ]+)"', index, re.S)
    soup = BeautifulSoup(index, "html.parser")
    assert [s.string for s in soup.find_all("script")] and len(soup.find_all("script")) == 1   # the filter box's only
    digest = base64.b64encode(hashlib.sha256(soup.find("script").string.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert not re.search(r"\son[a-z]+=", index)                                  # no inline handler anywhere
    labels = {lab["for"]: lab.get_text() for lab in soup.select(".wb-filter-bar label")}
    art_ix = next(k for k, v in labels.items() if v == "art")
    assert soup.find("input", id=art_ix)["type"] == "radio" and f"#{art_ix}:checked~#wb-runs tbody tr:not([data-job=" in index
    assert labels["wb-st-failed"] == "failed (1)"

    p = wb(project, "reports", "prune", "--keep", "1", "--dry-run", check=0)
    assert p.stdout.count("would remove") == 6 and all((reports / "art" / f"{r['id']}.html").exists() for r in art)
    p = wb(project, "reports", "prune", "--keep", "1", check=0)
    assert "pruned 2 runs" in p.stdout, p.stdout
    newest, *older = art
    assert (reports / "art" / f"{newest['id']}.html").is_file() and (reports / "art" / f"{newest['id']}_files").is_dir()
    for r in older:
        assert not any((reports / "art").glob(f"{r['id']}*")), r["id"]            # html, ipynb and the _files folder
    links = index_links(project)
    assert links and all((reports / x).is_file() for x in links), links          # never a dead link
    assert not any(r["id"] in x for r in older for x in links)
    after = runs(project)
    assert len(after) == 4 and sum(r["pruned_at"] is not None for r in after) == 2   # the history keeps every run
    assert 'aria-label="score over the last 3 runs of art"' in (reports / "index.html").read_text()

    p = wb(project, "reports", "prune", "--older-than", "0", "--json", check=0)
    assert len(json.loads(p.stdout)["runs"]) == 2
    assert index_links(project) == [] and not list((reports / "art").glob("*.html"))
    assert wb(project, "reports", "prune").returncode == 2                       # say what to prune
    assert wb(project, "reports", "prune", "--keep", "-1").returncode == 2


# failure notices

@pytest.fixture
def inbox():
    "A real SMTP server on this machine (aiosmtpd): keeps what it receives, refuses nobody@..."
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self): self.got = []
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("nobody@"): return "550 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"
        async def handle_DATA(self, server, session, envelope):
            from email import message_from_bytes
            from email.policy import default
            self.got.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=default)))
            return "250 Message accepted"

    h, port = Handler(), free_port()
    ctl = Controller(h, hostname="127.0.0.1", port=port, ready_timeout=60)
    ctl.start()
    yield type("Inbox", (), dict(port=port, got=h.got))
    ctl.stop()


def test_a_failed_run_is_announced_by_email_and_a_failing_sink_fails_nothing(project, inbox):
    closed = free_port()   # nobody listens there
    add_settings(project, f"""
        [notify]
        on_failure = log, .workbench/failures.jsonl, mailto:ops@example.com, http://127.0.0.1:{closed}/hook

        [smtp]
        host = 127.0.0.1
        port = {inbox.port}
        sender = workbench@example.com
        starttls = false

        [alert:big-answer]
        metric = answer
        above = 10
        job = ok
        notify = mailto:data@example.com, mailto:nobody@example.com
        """)
    p = wb(project, "run", "boom", "--no-progress", env=NO_PROXY)
    assert p.returncode == 1 and "workbench: job boom failed after" in p.stderr and "planted failure 42" in p.stderr
    assert f"could not be sent to http://127.0.0.1:{closed}" in p.stderr
    [(to, msg)] = inbox.got
    assert to == ["ops@example.com"] and msg["From"] == "workbench@example.com"
    assert msg["Subject"] == "[workbench] churn-example: job boom failed"
    body = msg.get_content()
    [run] = runs(project)
    assert "ValueError: planted failure 42" in body and run["id"] in body and run["report"] in body
    assert run["status"] == "failed"
    assert [(n["sink"], n["ok"]) for n in run["notifications"]] == [
        ("log", True), (".workbench/failures.jsonl", True), (f"http://127.0.0.1:{closed}/…", False), ("mailto:ops@example.com", True)]
    line = json.loads((project / ".workbench" / "failures.jsonl").read_text())
    assert (line["event"], line["run_id"], line["status"]) == ("run_failed", run["id"], "failed")

    p = wb(project, "run", "ok", "--no-progress", env=NO_PROXY)                  # an alert by e-mail; one recipient refused
    assert p.returncode == 0, p.stderr
    assert "could not be sent to mailto:nobody@example.com: smtp://127.0.0.1" in p.stderr and "550" in p.stderr
    to, msg = inbox.got[-1]
    assert to == ["data@example.com"] and msg["Subject"] == "[workbench] churn-example: warning alert big-answer on job ok"
    assert "answer is 42, above 10 (job ok)" in msg.get_content()
    ok = runs(project, "--job", "ok")[0]
    assert ok["status"] == "succeeded" and ok["notifications"] == []
    assert [(d["sink"], d["ok"]) for d in ok["alerts"][0]["deliveries"]] == [("mailto:data@example.com", True),
                                                                             ("mailto:nobody@example.com", False)]

    p = wb(project, "run", "slow", "--timeout", "3", "--no-progress", env=NO_PROXY)
    assert p.returncode == 124
    to, msg = inbox.got[-1]
    assert msg["Subject"] == "[workbench] churn-example: job slow timed out" and "exceeded its timeout" in msg.get_content()
    assert len(inbox.got) == 3
