"""``taskledger board`` in a real headless Chromium (issue 17): the page shows the
list, follows changes made by other processes without a reload, draws the
graph, writes only with the token, and shows hostile text as text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, proc_env, taskledger_argv, tl

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)
DRIVER = shutil.which("chromedriver")
#: .ci/run sets this: there a missing browser is a failure, not a skip
REQUIRED = os.environ.get("TASKLEDGER_REQUIRE_BROWSER") == "1"
needs_browser = pytest.mark.skipif(
    (CHROMIUM is None or DRIVER is None) and not REQUIRED,
    reason="needs chromium and chromedriver (.ci/run installs them)",
)
#: generous: the point is that the page updates by itself, not how fast (benchmarks/bench_board.py)
WAIT_S = 60.0


def wait_for(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            found = check()
        except Exception:
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"the page never showed {what}")


class Served:
    """A running ``taskledger board`` process."""

    def __init__(self, home: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*taskledger_argv(), "board", "--port", "0", *args],
            env=proc_env(home, TASKLEDGER_SESSION="boardtest"), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert "http://" in first, first + (self.proc.stderr.read() if self.proc.stderr else "")
        self.url = first.split(": ", 1)[1].strip()
        self.base = self.url.split("#", 1)[0]
        self.token = self.url.split("#token=", 1)[1] if "#token=" in self.url else None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=60)


@pytest.fixture
def browser() -> Iterator[Any]:
    assert CHROMIUM and DRIVER, "chromium and chromedriver are missing (.ci/run installs them)"
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1500,1000"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def cards(browser: Any, status: str | None = None) -> list[str]:
    where = f'.column[data-status="{status}"] ' if status else ""
    return [e.text for e in browser.find_elements("css selector", f"{where}li.card")]


def loaded(browser: Any) -> bool:
    return bool(browser.execute_script("return window.__board && window.__board.ready"))


@needs_browser
def test_the_page_follows_changes_from_other_processes(home: Path, browser: Any) -> None:
    first = tl(home, "create", "already there", session="alice").stdout.strip()
    served = Served(home)
    try:
        browser.get(served.base)
        wait_for(lambda: loaded(browser), "the board")
        assert any("already there" in c for c in cards(browser, "pending"))
        origin = browser.execute_script("return performance.timeOrigin")
        new = tl(home, "create", "made by another process", session="bob").stdout.strip()
        wait_for(
            lambda: any("made by another process" in c for c in cards(browser, "pending")),
            "the create",
        )
        tl(home, "claim", first, session="carol")

        def claimed() -> bool:
            return any("already there" in c and "carol" in c for c in cards(browser, "in_progress"))

        wait_for(claimed, "the claim")
        tl(home, "note", new, "handoff", session="bob")

        def noted() -> bool:
            return any("made by another process" in c and "1 note" in c for c in cards(browser))

        wait_for(noted, "the note")
        tl(home, "update", new, "--add-blocked-by", first, session="bob")
        edge = f"{first[:4]} → {new[:4]}"
        wait_for(lambda: edge in browser.find_element("id", "edges").text, "the new edge")
        assert browser.execute_script("return performance.timeOrigin") == origin  # never reloaded
        changes = browser.find_element("id", "changes").text
        assert "bob create" in changes and "carol claim" in changes
    finally:
        served.stop()


@needs_browser
def test_writes_need_the_token(home: Path, browser: Any) -> None:
    tid = tl(home, "create", "claim me", session="alice").stdout.strip()
    served = Served(home, "--allow-writes")
    try:
        assert served.token
        request = urllib.request.Request(
            f"{served.base}api/task/{tid}/claim", method="POST", data=b"{}"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 403
        refused.value.close()
        browser.get(served.url)
        wait_for(lambda: loaded(browser), "the board")
        browser.find_element("css selector", f'li.card[data-id="{tid}"]').click()
        claim = '#detail-actions [data-action="claim"]'
        button = wait_for(lambda: browser.find_element("css selector", claim), "the claim button")
        button.click()
        result = "#detail-actions .result"
        wait_for(lambda: "claim: done" in browser.find_element("css selector", result).text,
                 "the claim's result")  # fmt: skip
        shown = json.loads(tl(home, "show", tid, "--json").stdout)
        assert shown["lease"]["holder"].startswith("board@") and shown["status"] == "in_progress"
    finally:
        served.stop()
    read_only = Served(home)
    try:
        url = f"{read_only.base}api/task/{tid}/release"
        request = urllib.request.Request(url, method="POST", data=b"{}",
                                         headers={"X-Board-Token": "guess"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 403
        refused.value.close()
    finally:
        read_only.stop()


HOSTILE = ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>x",
           '"><svg onload="window.__pwned=3">']  # fmt: skip


@needs_browser
def test_hostile_text_is_shown_as_text(home: Path, browser: Any) -> None:
    ids = [tl(home, "create", s, "-d", s, session="mallory").stdout.strip() for s in HOSTILE]
    tl(home, "note", ids[0], HOSTILE[1], session="mallory")
    served = Served(home)
    try:
        browser.get(served.base)
        wait_for(lambda: loaded(browser), "the board")
        shown = browser.execute_script(
            "return [...document.querySelectorAll('li.card .subject')].map(e => e.textContent)"
        )
        assert sorted(shown) == sorted(HOSTILE)
        browser.find_element("css selector", f'li.card[data-id="{ids[0]}"]').click()
        wait_for(lambda: HOSTILE[1] in browser.find_element("id", "detail-notes").text, "the note")
        assert browser.execute_script("return window.__pwned") is None
        assert not browser.find_elements(
            "css selector", "li.card img, li.card svg, li.card script, dialog img"
        )
    finally:
        served.stop()


@needs_browser
def test_a_screenshot_of_a_busy_board(home: Path, browser: Any, tmp_path: Path) -> None:
    """Three live sessions, twenty tasks; ``TASKLEDGER_SCREENSHOT=1`` keeps it as docs/board.png."""
    subjects = ["Design the API", "Write the schema", "Implement list", "Implement claim",
                "Race tests", "Docs: sync", "Docs: board", "Benchmark replay", "Fix torn tail",
                "Review hooks", "Release 0.3", "Triage issues", "Profile writes", "MCP tools",
                "Board SSE", "Graph view", "Time travel", "Claude Code hooks", "Sync over git",
                "Screenshot"]  # fmt: skip
    ids = []
    for n, subject in enumerate(subjects):
        blocked = ["--blocked-by", ids[n - 3]] if n >= 3 and n % 3 == 0 else []
        ids.append(
            tl(
                home, "create", subject, *blocked, session=["alice", "bob", "carol"][n % 3]
            ).stdout.strip()
        )
    for n, session in ((1, "alice"), (4, "bob"), (7, "carol")):
        tl(home, "claim", ids[n], "--force", session=session)
    for n in (0, 2, 5):
        tl(home, "update", ids[n], "--status", "completed", session="alice")
    tl(home, "note", ids[4], "races pass on 2 cores", session="bob")
    watchers = [subprocess.Popen([*taskledger_argv(), "watch", "--as", name], env=proc_env(home),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for name in ("alice", "bob")]  # fmt: skip
    served = Served(home)
    try:
        browser.get(served.base)
        wait_for(lambda: loaded(browser), "the board")
        wait_for(lambda: browser.find_element("css selector", "#sessions").text.count("live") >= 3,
                 "three live sessions")  # fmt: skip
        # (the flash lasts 2 s: a busy machine may poll past it, so the page records it)
        browser.execute_script(
            "window.flashed = false; new MutationObserver(() => {"
            " if (document.querySelector('li.card.flash')) window.flashed = true; })"
            ".observe(document.body, {subtree: true, attributes: true, childList: true});"
        )
        tl(home, "note", ids[7], "almost there", session="carol")
        wait_for(lambda: browser.execute_script("return window.flashed"), "a change flashing")
        drawn = (
            "const i = document.getElementById('graph-img'); return i.complete && i.naturalWidth"
        )
        wait_for(lambda: browser.execute_script(drawn), "the graph")
        shot = tmp_path / "board.png"
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        if os.environ.get("TASKLEDGER_SCREENSHOT"):
            shutil.copyfile(shot, ROOT / "docs" / "board.png")
    finally:
        served.stop()
        for proc in watchers:
            proc.terminate()
            proc.wait(timeout=60)


def test_bad_arguments_and_a_busy_port_are_clear_errors(home: Path) -> None:
    """No browser needed: the command's own errors, exit 2 for usage and 1 for the rest."""
    bad = tl(home, "board", "--port", "70000", check=False)
    assert bad.returncode == 2 and "Error:" in bad.stderr and "Traceback" not in bad.stderr
    served = Served(home)
    try:
        port = served.base.rsplit(":", 1)[1].strip("/")
        busy = tl(home, "board", "--port", port, check=False)
        assert busy.returncode == 1, busy
        assert busy.stderr.startswith("Error: cannot serve on 127.0.0.1:" + port), busy.stderr
        unknown = tl(home, "board", "--port", "0", "--host", "no such host.invalid", check=False)
        assert unknown.returncode == 1 and unknown.stderr.startswith("Error: cannot serve")
    finally:
        served.stop()


def test_a_page_of_another_site_cannot_read_the_board(home: Path) -> None:
    """DNS rebinding: a name of another site pointed at 127.0.0.1 is refused, loopback names
    are answered. No browser needed: the Host header is what a browser would send."""
    import http.client

    tl(home, "create", "private plans")
    served = Served(home)
    try:
        port = int(served.base.rsplit(":", 1)[1].strip("/"))

        def get(host: str) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request("GET", "/api/state", headers={"Host": host})
                response = conn.getresponse()
                return response.status, response.read()
            finally:
                conn.close()

        for evil in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
            status, body = get(evil)
            assert status == 400 and b"private plans" not in body, (evil, status)
        for good in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            status, body = get(good)
            assert status == 200 and b"private plans" in body, (good, status)
    finally:
        served.stop()
