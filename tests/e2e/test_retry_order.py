"""A retried input goes back to its place at the front of its function's queue, so an ordered
``map`` does not wait behind the whole backlog for it."""

from __future__ import annotations

from retry_order_app import app, step


def test_a_retried_input_runs_before_the_backlog(server):
    n = 60
    with app.run():
        started_at = list(step.map(range(n)))
    # without its place kept, the retry of input 0 would start last (after all n - 1 others);
    # back at the front it starts once its 0.5 s delay is over, about 5 inputs later
    assert started_at[0] < n // 2, started_at
