"""The GPU inventory page on a server with simulated GPUs (GW_GPUS): who holds which device."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cls_app


def test_the_gpu_page_shows_the_inventory_and_its_holders(gpu_server, page, tmp_path) -> None:
    r = gpu_server.gw("dashboard", "--url")
    assert r.returncode == 0, r.stderr
    page.goto(r.stdout.strip())
    page.wait_for_selector("h1:has-text('Apps')")
    page.goto(gpu_server.url + "/dashboard/#/gpus")
    page.wait_for_selector("td:has-text('A100-80GB')")
    page.wait_for_selector("td:has-text('H100')")
    with cls_app.app.run():
        assert len(cls_app.two_h100.remote().split(",")) == 2
        page.wait_for_selector("tr:has-text('H100') a[href^='#/container/']")  # held, live
        shot = tmp_path / "gpus.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("GW_DASHBOARD_SCREENSHOTS"):
            shutil.copy(shot, Path(os.environ["GW_DASHBOARD_SCREENSHOTS"]) / shot.name)
