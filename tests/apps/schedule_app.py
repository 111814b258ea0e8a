"""A deployed app with a fast schedule, for the schedule tests."""

import gworker_client as gw

app = gw.App("schedule-app")


@app.function(schedule=gw.Period(seconds=1))
def heartbeat() -> str:
    print("heartbeat ran")
    return "ok"


@app.function(schedule=gw.Period(seconds=1))
def broken() -> None:
    raise ValueError("scheduled failure")
