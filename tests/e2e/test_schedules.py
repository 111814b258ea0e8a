"""Schedules fire in the control plane: on time, once per tick, across a restart."""

from __future__ import annotations

import re
import time
from pathlib import Path

APP = str(Path(__file__).parents[1] / "apps" / "schedule_app.py")
STARTED = re.compile(
    r"schedule: heartbeat started for (.+?)( \((\d+) earlier ticks missed.*\))? \(call"
)


def _logs(server) -> str:
    r = server.gw("app", "logs", "schedule-app")
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


def _wait_for(server, predicate, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = _logs(server)
        if predicate(out) or time.monotonic() > deadline:
            return out
        time.sleep(0.5)


def test_a_deployed_schedule_fires_logs_outcomes_and_survives_a_restart(private_server):
    srv = private_server
    r = srv.gw("deploy", APP)
    assert r.returncode == 0, r.stderr
    out = _wait_for(srv, lambda o: o.count("heartbeat succeeded") >= 2)
    assert out.count("heartbeat succeeded") >= 2, out
    assert "heartbeat ran" in out
    assert "schedule: broken failed (failure): ValueError: scheduled failure" in out

    listing = srv.gw("app", "list")
    assert re.search(r"heartbeat\s.*every 0:00:01\s.*20\d\d-", listing.stderr), listing.stderr

    # down for a few ticks: one catch-up run when it is back, naming what was skipped
    srv.kill()
    time.sleep(3.5)
    srv.restart()
    out = _wait_for(srv, lambda o: "earlier ticks missed" in o and o.count("succeeded") >= 6)
    ticks = [m.group(1) for m in STARTED.finditer(out)]
    assert len(ticks) == len(set(ticks)), f"a tick ran twice: {ticks}"
    missed = [int(m.group(3)) for m in STARTED.finditer(out) if m.group(3)]
    assert len(missed) == 1 and missed[0] >= 2, out

    # stopped: no more runs
    assert srv.gw("app", "stop", "schedule-app").returncode == 0
    time.sleep(0.5)
    before = _logs(srv).count("started for")
    time.sleep(2.5)
    assert _logs(srv).count("started for") == before


def test_an_ephemeral_run_fires_only_while_it_lasts(server, tmp_path):
    app_file = tmp_path / "ephemeral_schedule.py"
    app_file.write_text(
        "import time\n"
        "import gworker_client as gw\n"
        "app = gw.App('ephemeral-schedule')\n"
        "@app.function(schedule=gw.Period(seconds=1))\n"
        "def ping():\n"
        "    print('ping ran')\n"
        "@app.local_entrypoint()\n"
        "def main():\n"
        "    time.sleep(3.5)\n"
    )
    r = server.gw("run", str(app_file))
    assert r.returncode == 0, r.stderr
    assert 1 <= r.stdout.count("ping ran") <= 5, r.stdout
