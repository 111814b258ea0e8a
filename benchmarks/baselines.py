"""The same trivial work for the baselines; module level so worker processes can import it."""

from __future__ import annotations


def echo(x: int) -> int:
    return x


class Echo:
    """Wrapped with ``ray.remote`` at run time, so importing this module never needs Ray."""

    def f(self, x: int) -> int:
        return x
