"""The report catalog and a run's report in a real headless Chromium, offline."""

import pytest
from conftest import runs, wb


@pytest.fixture
def page(browser):
    "A page that refuses, and remembers, every request that is not a local file."
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.remote_requests = []
    def guard(route):
        url = route.request.url
        if url.startswith(("file://", "data:", "about:")): return route.continue_()
        pg.remote_requests.append(url)
        return route.abort()
    ctx.route("**/*", guard)
    yield pg
    ctx.close()


def test_catalog_lists_runs_filters_and_links(project, page):
    wb(project, "run", "ok", "--no-progress", check=0)
    wb(project, "run", "boom", "--no-progress")
    failed, ok = runs(project)
    page.goto((project / "reports" / "index.html").as_uri())
    rows = page.locator("#wb-runs tbody tr")
    assert rows.count() == 2
    assert "boom" in rows.nth(0).inner_text() and "failed" in rows.nth(0).inner_text()   # newest first
    bg = rows.nth(0).locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg == "rgb(255, 235, 233)"                                                   # failed runs stand out
    page.fill("#wb-q", "answer=42")
    assert rows.nth(0).is_hidden() and rows.nth(1).is_visible()                         # the filter works
    page.fill("#wb-q", "")
    rows.nth(0).get_by_role("link", name="report").click()
    page.wait_for_url(f"**/{failed['id']}.html")
    banner = page.locator(".wb-error")
    assert banner.is_visible() and "planted failure 42" in banner.inner_text()
    page.get_by_role("link", name="Go to the cell that failed.").click()
    page.wait_for_url("**#papermill-error-cell")
    assert page.remote_requests == []


def test_profile_report_renders_offline(project, page):
    wb(project, "run", "profile", "--no-progress", check=0)
    [run] = runs(project)
    page.goto((project / run["report"]).as_uri())
    page.wait_for_load_state("load")
    assert page.locator(".wb-badge").first.inner_text() == "succeeded"
    frame = page.frame_locator("iframe").first
    assert frame.locator("text=Overview").first.is_visible()                # the ydata-profiling page, inline
    assert frame.locator("text=monthly_charges").first.count() == 1
    assert page.remote_requests == [], page.remote_requests
