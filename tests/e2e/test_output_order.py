"""A container's printed lines reach the caller's terminal whole, before the call's result."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from gworker_client import _output

APPS = Path(__file__).parent.parent / "apps"


def test_container_lines_come_whole_and_before_the_result(server):
    result = server.gw("run", str(APPS / "output_app.py"), "--n", "8")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for x in range(8):
        said, printed = f"computing {x} in a container", f"the square of {x} is {x * x}"
        assert said in lines and printed in lines, result.stdout
        assert lines.index(said) < lines.index(printed)
        mapped = f"mapped {x} to {x * x}"
        assert mapped in lines
        yielded, streamed = f"yielding {x} in a container", f"streamed {x} as {x * x}"
        assert yielded in lines and streamed in lines, result.stdout
        assert lines.index(yielded) < lines.index(streamed)
    # every line is one of the app's or one of the container's: nothing spliced
    known = ("computing ", "the square of ", "mapped ", "yielding ", "streamed ")
    assert all(line.startswith(known) for line in lines), result.stdout


def test_line_writer_never_splices_lines_of_two_threads():
    target = io.StringIO()
    writer = _output.LineWriter(target)

    def talk(name: str) -> None:
        for i in range(200):
            writer.write(name)
            writer.write(f" says {i}")
            writer.write("\n")

    threads = [threading.Thread(target=talk, args=(n,)) for n in ("alpha", "beta")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = target.getvalue().splitlines()
    assert len(lines) == 400
    assert all(line.split(" says ")[0] in ("alpha", "beta") for line in lines)
    writer.write("partial")
    assert target.getvalue().count("partial") == 0
    writer.flush()
    assert target.getvalue().endswith("partial")


def test_a_container_line_arriving_in_pieces_is_printed_whole(capsys):
    partial: dict[str, str] = {}
    cursor = _output.write_logs([[1, "stdout", "yielding 3 in a con"]], 0, partial)
    print("the caller's line")
    cursor = _output.write_logs(
        [[2, "stdout", "tainer\nnext"], [2, "stdout", "dup"]], cursor, partial
    )
    assert cursor == 2
    assert capsys.readouterr().out == "the caller's line\nyielding 3 in a container\n"
    assert partial == {"stdout": "next"}
