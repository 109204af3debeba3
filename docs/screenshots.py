"""Retake the README's screenshots from the running app on the default model.

Usage (from the project folder, after `make install-test`): .venv/bin/python docs/screenshots.py
Starts `papers ui --with-sample` on a free loopback port with a fresh library in a temporary
folder, drives Debian's Chromium with Playwright through each page and writes
docs/screenshots/{chat,digest,compare,library}.png. Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 300_000
QUESTION = "Which papers apply deep learning to monitoring crops in agriculture?"
DIGEST_PAPER = "MobileDets"
COMPARE_PAPERS = ("SortedNet", "Stitchable Neural Networks")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the app exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    sys.exit("the app did not start within 300 s")


def pick(page: Page, index: int, title: str) -> None:
    """Type the title into the index-th paper picker's search box and, once the matches are in, take the first."""
    page.get_by_placeholder("Type a few words of the title").nth(index).fill(title)
    page.wait_for_timeout(1000)  # the search box commits after a pause in typing
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=WAIT_MS)
    page.get_by_test_id("stSelectbox").nth(index).click()
    page.keyboard.press("Enter")


def shoot(page: Page, name: str) -> None:
    """Once the script run is over: Streamlit's status widget shows while one runs."""
    page.wait_for_timeout(1000)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=WAIT_MS)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    print(f"wrote {OUT / name}.png")


def main() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as library:
        env = {**os.environ, "PAPERS_DATA_DIR": library}
        command = [str(Path(sys.executable).with_name("papers")), "ui", "--port", str(port), "--with-sample"]
        server = subprocess.Popen(command, env=env, cwd=library, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(url, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.goto(url)
                box = page.get_by_placeholder("Ask a question about the papers")
                expect(box).to_be_visible(timeout=WAIT_MS)
                box.fill(QUESTION)
                box.press("Enter")
                expect(page.get_by_role("button", name="Download as Markdown")).to_be_enabled(timeout=WAIT_MS)
                shoot(page, "chat")

                page.goto(f"{url}/digest")
                pick(page, 0, DIGEST_PAPER)
                digest = page.get_by_test_id("stColumn").nth(1).get_by_test_id("stMarkdownContainer")
                expect(digest.last).to_contain_text(DIGEST_PAPER, timeout=WAIT_MS)
                shoot(page, "digest")

                page.goto(f"{url}/compare")
                for index, title in enumerate(COMPARE_PAPERS):
                    pick(page, index, title)
                page.get_by_role("button", name="Compare").click()
                expect(page.get_by_text("Key difference:")).to_be_visible(timeout=WAIT_MS)
                shoot(page, "compare")

                page.goto(f"{url}/library")
                expect(page.get_by_text("Search titles")).to_be_visible(timeout=WAIT_MS)
                shoot(page, "library")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
