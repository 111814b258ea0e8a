"""One headless Chromium for the whole session (Debian's ``chromium``), driven by Playwright.

The browser process starts once; each test connects to it over the DevTools protocol inside a
Playwright session of its own. Playwright's sync API runs an event loop while a session is open,
so a session kept open across the whole run would break every later test that calls
``asyncio.run``; a connection per test costs milliseconds, a browser start seconds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (scripts/install-system-deps)")
    profile: Path = tmp_path_factory.mktemp("chromium")
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    endpoint = None
    for line in proc.stderr:  # the browser says where it listens, then keeps logging
        found = re.search(r"DevTools listening on (ws://\S+)", line)
        if found:
            endpoint = found.group(1)
            break
    if endpoint is None:
        proc.kill()
        pytest.fail(f"{CHROMIUM} did not start (exit {proc.wait()})")
    # keep reading what it logs, so a full pipe never stalls the browser
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    yield endpoint
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def page(browser_endpoint: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(browser_endpoint)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
        context.close()
        browser.close()
    assert not errors, f"the page raised: {errors}"
