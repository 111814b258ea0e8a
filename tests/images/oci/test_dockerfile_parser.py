"""The Dockerfile parser: every instruction, substitution, continuations and every refusal."""

from __future__ import annotations

import pytest

from gworker.images import dockerfile as df
from gworker.images.oci import OciConfig, host_architecture

BASE = OciConfig(env=("PATH=/usr/bin:/bin", "LANG=C.UTF-8"), workdir="/srv")


def _config(ref: str) -> OciConfig:
    assert ref in ("python:3.11-slim", "debian:12", "localhost:5000/base:1")
    return BASE


def _steps(text: str, **kw: object) -> tuple[df.Step, ...]:
    return df.parse(text, base_config=_config, **kw).stages[-1].steps  # type: ignore[arg-type]


def test_every_supported_instruction() -> None:
    text = """\
FROM python:3.11-slim
RUN apt-get update
RUN ["pip", "install", "six"]
COPY app.py /app/
ADD data.tar.gz /data/
ENV A=1
WORKDIR /app
USER 1000:1000
CMD ["python", "app.py"]
ENTRYPOINT ["/entry.sh"]
LABEL org.example.team="ml team"
MAINTAINER Ada
EXPOSE 8000 9000/udp
"""
    dockerfile = df.parse(text, base_config=_config)
    (stage,) = dockerfile.stages
    assert stage.base == df.FromStep("python:3.11-slim", None, None, 1)
    assert stage.steps == (
        df.RunStep(("/bin/sh", "-c", "apt-get update"), (), 2),
        df.RunStep(("pip", "install", "six"), (), 3),
        df.CopyStep(("app.py",), "/app/", None, None, None, False, 4),
        df.CopyStep(("data.tar.gz",), "/data/", None, None, None, True, 5),
        df.EnvStep((("A", "1"),), 6),
        df.WorkdirStep("/app", 7),
        df.UserStep("1000:1000", 8),
        df.CmdStep(("python", "app.py"), 9),
        df.EntrypointStep(("/entry.sh",), 10),
        df.LabelStep((("org.example.team", "ml team"),), 11),
        df.LabelStep((("maintainer", "Ada"),), 12),
        df.ExposeStep(("8000", "9000/udp"), 13),
    )
    assert dockerfile.required_stages() == [0]


def test_substitution_as_docker_does() -> None:
    text = """\
ARG TAG=12
FROM debian:${TAG}
ARG TAG
ARG WHO=world
ENV PATH=/opt/bin:$PATH GREETING="hello ${WHO}" EMPTY=${UNSET:-fallback} ALT=${WHO:+set}
ENV OLD=$GREETING GREETING=changed NEXT=$GREETING
ENV legacy form with  spaces
WORKDIR /work/${TAG}
USER ${WHO}
COPY ["${WHO}.txt", "$TAG/"]
RUN echo $WHO '$TAG'
LABEL note='$TAG stays' \\
      esc=\\$TAG
"""
    steps = _steps(text, build_args={"WHO": "ada"})
    env, env2, legacy, workdir, user, copy, run, label = steps
    assert env == df.EnvStep(
        (
            ("PATH", "/opt/bin:/usr/bin:/bin"),  # the base image's PATH
            ("GREETING", "hello ada"),
            ("EMPTY", "fallback"),
            ("ALT", "set"),
        ),
        5,
    )
    # Within one ENV, substitutions see the values from before the line, as in Docker.
    pairs = (("OLD", "hello ada"), ("GREETING", "changed"), ("NEXT", "hello ada"))
    assert env2 == df.EnvStep(pairs, 6)
    assert legacy == df.EnvStep((("legacy", "form with  spaces"),), 7)
    assert workdir == df.WorkdirStep("/work/12", 8)  # global ARG redeclared in the stage
    assert user == df.UserStep("ada", 9)
    assert copy == df.CopyStep(("ada.txt",), "/work/12/12/", None, None, None, False, 10)
    # RUN is not substituted by Docker: the shell does it, with the stage's ARGs in its env.
    assert run == df.RunStep(
        ("/bin/sh", "-c", "echo $WHO '$TAG'"), (("TAG", "12"), ("WHO", "ada")), 11
    )
    assert label == df.LabelStep((("note", "$TAG stays"), ("esc", "$TAG")), 12)


def test_arg_scoping_and_env_precedence() -> None:
    text = """\
ARG V=global
FROM debian:12
RUN echo no-arg-here
ARG V
ENV V=from-env
ARG V=from-arg
RUN echo $V
WORKDIR /$V
"""
    first, _, second, workdir = _steps(text)
    assert first.build_env == ()  # a global ARG is not in scope until redeclared
    assert second.build_env == ()  # ENV V wins over ARG V
    assert workdir == df.WorkdirStep("/from-env", 8)


def test_relative_workdir_and_destinations_follow_the_workdir_before() -> None:
    steps = _steps("FROM debian:12\nWORKDIR a\nWORKDIR b/../c\nCOPY x .\nCOPY y z\n")
    assert [s.path for s in steps[:2]] == ["/srv/a", "/srv/a/c"]  # type: ignore[union-attr]
    assert [s.dest for s in steps[2:]] == ["/srv/a/c/", "/srv/a/c/z"]  # type: ignore[union-attr]


def test_continuations_comments_and_directives() -> None:
    text = """\
# syntax=docker/dockerfile:1
# escape=`

# escape=\\ (not a directive any more: a comment)
FROM debian:12
RUN echo one `
    # a comment inside a continuation is dropped

    && echo two
COPY a `
     b /dst/
"""
    dockerfile = df.parse(text, base_config=_config)
    run, copy = dockerfile.stages[0].steps
    assert run == df.RunStep(("/bin/sh", "-c", "echo one     && echo two"), (), 6)
    assert copy == df.CopyStep(("a", "b"), "/dst/", None, None, None, False, 10)
    assert dockerfile.stages[0].base.line == 5


def test_shell_changes_shell_forms() -> None:
    text = 'FROM debian:12\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN a | b\nCMD c\n'
    run, cmd = _steps(text)
    assert run.argv == ("/bin/bash", "-o", "pipefail", "-c", "a | b")  # type: ignore[union-attr]
    assert cmd == df.CmdStep(("/bin/bash", "-o", "pipefail", "-c", "c"), 4)


def test_multi_stage_copy_from_earlier_stages() -> None:
    text = """\
FROM debian:12 AS Build
ENV IN_BUILD=1
RUN make
FROM scratch AS unused
FROM build AS test
FROM localhost:5000/base:1
COPY --from=build --chown=app:app --chmod=755 /out/bin /usr/local/bin/
COPY --from=2 /x /x
"""
    dockerfile = df.parse(text, base_config=_config)
    assert [s.base.name for s in dockerfile.stages] == ["build", "unused", "test", None]
    assert dockerfile.stages[2].base == df.FromStep("", 0, "test", 5)
    final = dockerfile.stages[3].steps
    assert final[0] == df.CopyStep(("/out/bin",), "/usr/local/bin/", 0, "app:app", "755", False, 7)
    assert final[1].from_stage == 2  # type: ignore[union-attr]
    assert dockerfile.required_stages() == [0, 2, 3]


def test_dockerfile_commands_extend_an_image() -> None:
    steps = df.parse_commands(
        ["RUN echo $HOME", "ENV P=$PATH:/x \\\n  Q=1", "WORKDIR sub", "COPY f ."],
        env=["PATH=/bin", "HOME=/root"],
        workdir="/w",
    )
    assert steps == [
        df.RunStep(("/bin/sh", "-c", "echo $HOME"), (), 1),
        df.EnvStep((("P", "/bin:/x"), ("Q", "1")), 2),
        df.WorkdirStep("/w/sub", 4),
        df.CopyStep(("f",), "/w/sub/", None, None, None, False, 5),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM debian:12\nHEALTHCHECK CMD true", "line 2: HEALTHCHECK is not supported"),
        ("FROM debian:12\nVOLUME /data", "line 2: VOLUME is not supported.*volumes="),
        ("FROM debian:12\nONBUILD RUN x", "line 2: ONBUILD is not supported"),
        ("FROM debian:12\nSTOPSIGNAL SIGINT", "line 2: STOPSIGNAL is not supported"),
        ("FROM debian:12\nFROBNICATE x", "line 2: unknown instruction 'FROBNICATE'"),
        ("FROM debian:12\nRUN <<EOF\necho\nEOF", "line 2: RUN heredocs"),
        ("FROM debian:12\nCOPY <<EOF /x\nhi\nEOF", "line 2: COPY heredocs"),
        ("FROM debian:12\nRUN --mount=type=cache,target=/c make", "flag --mount is not"),
        ("FROM debian:12\nRUN --network=none make", "flag --network is not"),
        ("FROM debian:12\nCOPY --link a /b", "flag --link is not supported"),
        ("FROM debian:12\nADD --from=x a /b", "flag --from is not supported"),
        ("FROM debian:12\nADD https://example.com/f.tgz /f", "URL 'https://example.com/f.tgz'"),
        ("FROM debian:12\nADD git@github.com:a/b.git /b", "URL 'git@github.com:a/b.git'"),
        ("FROM debian:12\nCOPY ../secret /s", "outside the build context"),
        ("FROM debian:12\nCOPY a b /dst", "destination ending in '/'"),
        ("FROM debian:12\nCOPY a", "needs a source and a destination"),
        ("FROM debian:12\nCOPY --from=nginx:1 /a /b", "--from=nginx:1 names no earlier stage"),
        ("FROM debian:12 AS a\nCOPY --from=a /x /y", "--from=a names no earlier stage"),
        ("FROM debian:12\nCOPY --chmod=u+x a /b", "--chmod=u\\+x is invalid"),
        ("FROM debian:12\nCOPY --chown='a b' a /b", "--chown=a b is invalid"),
        ("FROM --platform=linux/s390x debian:12", "not this machine's platform"),
        ("FROM debian:12 AS a\nFROM debian:12 AS a", "stage name 'a' is already used"),
        ("FROM debian:12 extra words", "expects `FROM image"),
        ("FROM Debian:12", "bad repository 'Debian'"),
        ("RUN echo hi\nFROM debian:12", "line 1: RUN comes before the first FROM"),
        ("# only a comment\n", "has no FROM"),
        ("# escape=x\nFROM debian:12", "escape character 'x' is invalid"),
        ("FROM debian:12\nENV A", "A needs a value"),
        ("FROM debian:12\nENV A=1 B", "expects KEY=value, got 'B'"),
        ("FROM debian:12\nENV A=${B%%x}", "unsupported modifier '%'"),
        ("FROM debian:12\nENV A=${B:?must-be-set}", "B: must-be-set"),
        ('FROM debian:12\nENV A="unterminated', "unterminated"),
        ("FROM debian:12\nARG 1BAD=x", "name '1BAD' is invalid"),
        ("FROM debian:12\nSHELL /bin/bash -c", "must be a JSON list"),
        ("FROM debian:12\nUSER", "is invalid"),
        ("FROM debian:12\nWORKDIR", "needs a path"),
        ("FROM debian:12\nEXPOSE http", "port 'http' is invalid"),
        ("FROM debian:12\nRUN", "needs a command"),
    ],
)
def test_refusals_name_the_instruction_and_line(text: str, message: str) -> None:
    with pytest.raises(df.DockerfileError, match=message):
        df.parse(text, base_config=_config)


def test_build_args_nothing_declares_are_refused() -> None:
    with pytest.raises(df.DockerfileError, match="build args TYPO are not declared.*declared: V"):
        df.parse("ARG V\nFROM debian:12", build_args={"V": "1", "TYPO": "2"})
    # Docker's predefined proxy args need no ARG, and reach RUN commands.
    (run,) = _steps("FROM debian:12\nRUN make", build_args={"HTTP_PROXY": "http://p:3128"})
    assert run.build_env == (("HTTP_PROXY", "http://p:3128"),)  # type: ignore[union-attr]


def test_from_is_refused_in_dockerfile_commands() -> None:
    with pytest.raises(df.DockerfileError, match="line 2: FROM is not allowed in dockerfile_c"):
        df.parse_commands(["RUN a", "FROM debian:12"])


def test_platform_of_this_machine_is_accepted() -> None:
    dockerfile = df.parse(f"FROM --platform=linux/{host_architecture()} debian:12")
    assert dockerfile.stages[0].base.image == "debian:12"


def test_public_names() -> None:
    assert df.__all__ == sorted(df.__all__)
    assert all(hasattr(df, name) for name in df.__all__)
