"""The sandbox agent runs with the standard library only, so it declares the frame format again:
both sides must agree."""

from gworker_client._protocol import sandbox as proto
from gworker_client._runtime import sandbox_agent as agent


def test_agent_and_protocol_agree_on_frames():
    assert agent.HEADER.format == proto.FRAME_HEADER.format
    assert agent.CODE.format == proto.EXIT_CODE.format
    assert agent.WINSIZE.format == proto.WINSIZE.format
    pairs = [
        (agent.EXEC, proto.FRAME_EXEC),
        (agent.STDIN, proto.FRAME_STDIN),
        (agent.STDIN_EOF, proto.FRAME_STDIN_EOF),
        (agent.STDOUT, proto.FRAME_STDOUT),
        (agent.STDERR, proto.FRAME_STDERR),
        (agent.EXIT, proto.FRAME_EXIT),
        (agent.FS, proto.FRAME_FS),
        (agent.FS_REPLY, proto.FRAME_FS_REPLY),
        (agent.RESIZE, proto.FRAME_RESIZE),
        (agent.READY, proto.FRAME_READY),
        (agent.MAIN, proto.MAIN_PROCESS),
        (agent.TIMED_OUT, proto.EXIT_TIMEOUT),
    ]
    for ours, theirs in pairs:
        assert ours == theirs
