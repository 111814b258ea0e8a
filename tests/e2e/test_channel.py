"""Containers poll over the container channel; it admits only a container's own token."""

from __future__ import annotations

import channel_app


def test_the_channel_serves_polls_and_rejects_a_forged_token(server):
    with channel_app.app.run():
        report = channel_app.channel_report.remote()
    assert report["address"].startswith("127.0.0.1:")
    assert "not valid" in report["forged"]
    assert report["poll"] == {"stop": False, "inputs": []}
    assert report["fallback"] == {"stop": False, "inputs": []}
