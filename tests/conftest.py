"""Shared fixtures: small real projects on disk and the real `workbench` command."""
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

BIN = Path(sys.executable).parent
WORKBENCH = str(BIN / "workbench")


def free_port() -> int:
    "A TCP port free on 127.0.0.1 now, for a server a test starts."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    "Debian's headless Chromium driven by Playwright; without one the test skips, or fails where WORKBENCH_REQUIRE_BROWSER is set (CI)."
    if not CHROMIUM:
        if os.environ.get("WORKBENCH_REQUIRE_BROWSER"):
            pytest.fail("no chromium found, and WORKBENCH_REQUIRE_BROWSER is set: install it (apt-get install chromium)")
        pytest.skip("no chromium on this machine: apt-get install chromium (CI installs it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"])
        yield b
        b.close()


def wb(project, *args, timeout=300, env=None, check=None):
    "Run the real `workbench` command for `project`; return the CompletedProcess."
    e = {**os.environ, **(env or {})}
    p = subprocess.run([WORKBENCH, "--project", str(project), *args], capture_output=True, text=True,
                       timeout=timeout, env=e)
    if check is not None:
        assert p.returncode == check, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def runs(project, *args):
    return json.loads(wb(project, "runs", "--json", *args, check=0).stdout)


def write_job(folder: Path, name: str, body: str, params: str = "") -> Path:
    "Write a job notebook `name.ipynb`: a title, a parameters cell, then `body` (cells split on lines '# ---')."
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell(textwrap.dedent(params).strip())
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Job {name}"), p]
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in body.split("# ---")]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="session")
def example_data(tmp_path_factory):
    "A small copy of the example data set (1,500 customers × 3 months), generated once."
    from workbench.example import write_example
    d = tmp_path_factory.mktemp("example")
    write_example(d, n_customers=1_500, months=3)
    return d / "customers"


@pytest.fixture
def project(tmp_path, example_data):
    "A project folder: the example settings, the small example data, and a few test jobs."
    from workbench.example import EXAMPLE_SETTINGS
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers").symlink_to(example_data, target_is_directory=True)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    write_job(jobs, "ok", "from workbench.runs import record\nrecord(answer=n * 2)\nprint('result', n * 2)",
              "n: int = 21  # a number")
    write_job(jobs, "boom", "x = 1\n# ---\nraise ValueError('planted failure 42')\n# ---\nprint('never here')")
    write_job(jobs, "slow", "import time\ntime.sleep(seconds)\nprint('woke up')", "seconds: float = 60")
    extra = textwrap.dedent("""
        [job:ok]
        notebook = jobs/ok.ipynb

        [job:boom]
        notebook = jobs/boom.ipynb

        [job:slow]
        notebook = jobs/slow.ipynb
        """)
    (tmp_path / "settings.ini").write_text(EXAMPLE_SETTINGS + extra)
    return tmp_path
