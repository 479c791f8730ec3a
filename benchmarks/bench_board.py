"""The board in a real headless Chromium: write -> DOM update, and page load at 10k tasks.

Run: ``python -m benchmarks.bench_board`` (``--quick``: fewer samples). Needs
the board extra, selenium, chromium and chromedriver.

* **write -> DOM**: a list of 1,000 tasks is open in the page; a CLI
  process (``taskledger note``) changes a task; the page records
  ``Date.now()`` when the card's note count changes (a MutationObserver),
  the harness records ``time.time()`` when the command's process started.
  Same machine, same clock: the difference, p50 / p99.
* **page load at 10k tasks**: from navigation start to the first render of
  the columns (``window.__board.ready``), median of several loads (the
  server caps a column at 400 cards and says how many more there are).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._fixtures import (  # noqa: E402
    bulk,
    cli_env,
    fmt_ms,
    part_main,
    percentile,
    scratch,
)

HEADER = ["measurement", "p50 / median", "p99 / max", "goal"]

OBSERVE = """
window.__seen = {};
new MutationObserver(() => {
  for (const li of document.querySelectorAll('li.card')) {
    const notes = li.querySelector('.notes');
    const n = notes ? notes.textContent : '';
    if (window.__seen[li.dataset.id] !== n) {
      window.__seen[li.dataset.id] = n; window.__last = [li.dataset.id, n, Date.now()];
    }
  }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1500,1000",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "chromedriver"), options=options
    )


def _serve(home: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "cli", "board", "--port", "0"]
    env = cli_env(home, "main", "board")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split(": ", 1)[1].strip()


def _ready(driver: Any) -> bool:
    return bool(driver.execute_script("return window.__board && window.__board.ready"))


def write_to_dom(samples: int) -> list[float]:
    with scratch("tl-board-") as root:
        bulk(root, "main", 1000)
        env = cli_env(root, "main", "writer")
        argv = [sys.executable, "-m", "cli", "list", "--json", "--limit", "50"]
        ids = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
        import json

        targets = [t["id"] for t in json.loads(ids)]
        proc, url = _serve(root)
        driver = _browser()
        out = []
        try:
            driver.get(url)
            while not _ready(driver):
                time.sleep(0.02)
            driver.execute_script(OBSERVE)
            for n in range(samples):
                tid = targets[n % len(targets)]
                started = time.time()
                note = [sys.executable, "-m", "cli", "note", tid, f"n{n}"]
                subprocess.run(note, env=env, cwd=ROOT, check=True, capture_output=True)
                deadline = time.time() + 30
                while time.time() < deadline:
                    last = driver.execute_script("return window.__last")
                    if last and last[0] == tid and last[2] / 1000 >= started:
                        out.append(last[2] / 1000 - started)
                        break
                    time.sleep(0.005)
                driver.execute_script("window.__last = null")
        finally:
            driver.quit()
            proc.terminate()
            proc.wait()
        return out


def page_load(tasks: int, loads: int) -> list[float]:
    with scratch("tl-board-load-") as root:
        bulk(root, "main", tasks)
        subprocess.run(
            [sys.executable, "-m", "cli", "list", "--limit", "1"],
            env=cli_env(root, "main"),
            cwd=ROOT,
            check=True,
            capture_output=True,
        )  # fmt: skip  (the cache exists)
        proc, url = _serve(root)
        driver = _browser()
        out = []
        try:
            for _ in range(loads):
                driver.get("about:blank")
                driver.get(url)
                while not _ready(driver):
                    time.sleep(0.005)
                out.append(driver.execute_script("return performance.now()") / 1000)
        finally:
            driver.quit()
            proc.terminate()
            proc.wait()
        return out


def run(quick: bool = False) -> tuple[list[list[str]], dict[str, Any]]:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return [["the board", "selenium is not installed", "-", "-"]], {}
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return [["the board", "chromium or chromedriver is not installed", "-", "-"]], {}
    lat = write_to_dom(10 if quick else 50)
    load = page_load(10_000, 3 if quick else 7)
    rows = [
        [f"CLI write -> DOM update, 1k tasks ({len(lat)} writes)", fmt_ms(statistics.median(lat)),
         fmt_ms(percentile(lat, 99)), "-"],
        [f"page load, 10k tasks ({len(load)} loads)", fmt_ms(statistics.median(load)),
         fmt_ms(max(load)), "≤ 1 s"],
    ]  # fmt: skip
    return rows, {"write_to_dom_p50_ms": statistics.median(lat) * 1000,
                  "write_to_dom_p99_ms": percentile(lat, 99) * 1000,
                  "page_load_10k_ms": statistics.median(load) * 1000}  # fmt: skip


def main() -> None:
    part_main("board", "The board", HEADER, run)


if __name__ == "__main__":
    main()
