"""A container's process never outlives the process that started it, even when that one dies
while the child is still being set up."""

from __future__ import annotations

import os
import subprocess

from gworker.backends.launch import dying_with_this_process


def test_a_child_of_the_starting_process_runs() -> None:
    assert subprocess.run(["true"], preexec_fn=dying_with_this_process()).returncode == 0


def test_a_child_whose_parent_is_already_gone_ends_at_once() -> None:
    # The closure knows this process as the parent; a process whose parent is another one (as
    # an orphan's is, adopted by init after its starter was killed mid-fork) must end itself.
    die = dying_with_this_process()
    middle = os.fork()
    if middle == 0:  # pragma: no cover - runs in the forked children
        inner = os.fork()
        if inner == 0:
            die()
            os._exit(0)
        _, status = os.waitpid(inner, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    _, status = os.waitpid(middle, 0)
    assert os.waitstatus_to_exitcode(status) == 1
