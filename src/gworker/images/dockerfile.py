"""Dockerfiles as typed build steps, for ``Image.from_dockerfile`` and ``dockerfile_commands``.

    df = parse(text, build_args={"V": "1"}, base_config=config_of)   # -> Dockerfile
    df.stages[-1].base      # FromStep: the image (or earlier stage) the final stage starts from
    df.stages[-1].steps     # RunStep, CopyStep, EnvStep, WorkdirStep, UserStep, ... in order
    df.required_stages()    # indices of the stages the final one needs, in build order
    steps = parse_commands(["RUN apt-get update", "ENV A=1"], env=image_env)  # no FROM

The steps are the records of ``dockersteps.py``, re-exported here. A builder applies each
stage's steps in order over its base; ``dockercontext.plan_copy`` says what a CopyStep copies.
``base_config(ref)`` returns a FROM image's ``oci.OciConfig`` (pulling it), so that
``ENV PATH=/x:$PATH`` sees the base's PATH and a relative WORKDIR or COPY destination starts from
the base's workdir, as in Docker; without it the base's env is empty and its workdir "/".

What Docker does, we do: parser directives (``# escape=``; ``# syntax=`` and unknown directives
are comments, as in Docker), comments, line continuations, ``ARG`` scoping (before the first FROM
for FROM lines only; redeclared inside a stage to use it there; ``build_args`` override
defaults), ``$VAR`` substitution in every instruction Docker substitutes (RUN is left to the
shell, which gets the stage's ARGs in its environment: ``RunStep.build_env``), ``SHELL`` for
shell forms, ``ENV`` before ``ARG`` of the same name, relative WORKDIR relative to the one before.

Accepted as image metadata, as in Docker: CMD and ENTRYPOINT (a container's command is the
runtime's, as in Modal; an ENTRYPOINT runs it as its arguments), LABEL, MAINTAINER, EXPOSE.
Refused by name and line (``DockerfileError``): heredocs, RUN ``--mount``/``--network``/
``--security``, COPY/ADD flags other than ``--from``/``--chown``/``--chmod``, ADD of a URL or
git repository, ``COPY --from`` an image rather than an earlier stage, FROM ``--platform`` of
another platform, HEALTHCHECK, VOLUME, ONBUILD, STOPSIGNAL, unknown instructions, and build args
that no ARG declares.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from . import oci
from .dockerlex import (
    Instruction,
    WordError,
    directives,
    expand_word,
    expand_words,
    instructions,
    split_raw,
)
from .dockersteps import (
    CmdStep,
    CopyStep,
    Dockerfile,
    DockerfileError,
    EntrypointStep,
    EnvStep,
    ExposeStep,
    FromStep,
    LabelStep,
    RunStep,
    Stage,
    Step,
    UserStep,
    WorkdirStep,
)
from .oci import host_architecture

__all__ = [
    "CmdStep",
    "CopyStep",
    "Dockerfile",
    "DockerfileError",
    "EntrypointStep",
    "EnvStep",
    "ExposeStep",
    "FromStep",
    "LabelStep",
    "RunStep",
    "Stage",
    "Step",
    "UserStep",
    "WorkdirStep",
    "parse",
    "parse_commands",
]

DEFAULT_SHELL = ("/bin/sh", "-c")
# ARGs Docker defines without a declaration (proxies); they reach RUN but are not in the image.
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
PREDEFINED_ARGS = frozenset(_PROXIES) | {p.lower() for p in _PROXIES}
_REFUSED = {
    "HEALTHCHECK": "health checks are not run; drop it (gworker checks containers itself)",
    "VOLUME": "declare volumes on the function instead: volumes={'/path': gw.Volume...}",
    "ONBUILD": "triggers for child images are not supported; put the steps in the child",
    "STOPSIGNAL": "containers are stopped with SIGTERM, then SIGKILL; drop it",
}
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@)", re.IGNORECASE)
_HEREDOC = re.compile(r"<<-?\s*['\"]?[A-Za-z_]")


@dataclass
class _State:
    """What the parser tracks while walking one stage."""

    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)  # ARGs in scope that have a value
    shell: tuple[str, ...] = DEFAULT_SHELL
    workdir: str = "/"

    def subst_env(self) -> dict[str, str]:
        return {**self.args, **self.env}  # ENV wins over an ARG of the same name, as in Docker


class _Parser:
    def __init__(
        self,
        escape: str,
        build_args: Mapping[str, str],
        base_config: Callable[[str], oci.OciConfig] | None,
    ) -> None:
        self.escape = escape
        self.build_args = dict(build_args)
        self.base_config = base_config
        self.global_args: dict[str, str] = {}
        self.declared: set[str] = set()
        self.stages: list[tuple[FromStep, list[Step], _State]] = []
        self.names: dict[str, int] = {}

    def err(self, ins: Instruction, why: str) -> DockerfileError:
        return DockerfileError(f"line {ins.line}: {ins.keyword} {why}")

    def words(self, ins: Instruction, text: str, env: Mapping[str, str]) -> list[str]:
        try:
            return expand_words(text, env, self.escape)
        except WordError as e:
            raise self.err(ins, f"cannot be expanded: {e}") from None

    def word(self, ins: Instruction, text: str, env: Mapping[str, str]) -> str:
        try:
            return expand_word(text, env, self.escape)
        except WordError as e:
            raise self.err(ins, f"cannot be expanded: {e}") from None

    def flags(self, ins: Instruction, allowed: Sequence[str]) -> tuple[dict[str, str], str]:
        """Split leading ``--flag=value`` words off the arguments, refusing any not allowed."""
        flags: dict[str, str] = {}
        rest = ins.args
        while rest.startswith("--"):
            word = self.raw(Instruction(ins.keyword, rest, ins.line))[0]
            rest = rest[len(word) :].lstrip()  # raw words keep their quotes: a prefix of rest
            name, _, value = word[2:].partition("=")
            if name not in allowed:
                accepted = ", ".join(f"--{a}" for a in allowed) or "none"
                raise self.err(ins, f"flag --{name} is not supported (accepted: {accepted})")
            flags[name] = value
        return flags, rest

    def exec_form(self, args: str) -> list[str] | None:
        if not args.startswith("["):
            return None
        try:
            value = json.loads(args)
        except ValueError:
            return None  # not JSON: Docker then takes it as the shell form
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None

    def command(self, ins: Instruction, state: _State) -> tuple[str, ...]:
        if _HEREDOC.search(ins.args):
            raise self.err(
                ins, "heredocs (<<EOF) are not supported: put the script in a file and COPY it,"
                " or join the commands with &&"
            )  # fmt: skip
        argv = self.exec_form(ins.args)
        if argv is not None:
            return tuple(argv)
        if not ins.args:
            raise self.err(ins, "needs a command")
        return (*state.shell, ins.args)

    # -- instructions -----------------------------------------------------------------------------

    def feed(self, ins: Instruction) -> None:
        if ins.keyword == "FROM":
            self.from_(ins)
            return
        if not self.stages:
            if ins.keyword != "ARG":
                raise self.err(ins, "comes before the first FROM; only ARG may")
            self.arg(ins, None)
            return
        _, steps, state = self.stages[-1]
        handler = self.handlers().get(ins.keyword)
        if handler is None:
            if ins.keyword in _REFUSED:
                raise self.err(ins, f"is not supported: {_REFUSED[ins.keyword]}")
            raise DockerfileError(
                f"line {ins.line}: unknown instruction {ins.keyword!r} (supported: FROM, RUN,"
                " COPY, ADD, ENV, ARG, WORKDIR, USER, SHELL, CMD, ENTRYPOINT, LABEL, EXPOSE)"
            )
        step = handler(ins, state)
        if step is not None:
            steps.append(step)

    def handlers(self) -> dict[str, Callable[[Instruction, _State], Step | None]]:
        return {
            "RUN": self.run,
            "COPY": self.copy,
            "ADD": self.copy,
            "ENV": self.env,
            "ARG": self.arg,
            "WORKDIR": self.workdir,
            "USER": self.user,
            "SHELL": self.shell,
            "CMD": lambda ins, st: CmdStep(self.command(ins, st), ins.line),
            "ENTRYPOINT": lambda ins, st: EntrypointStep(self.command(ins, st), ins.line),
            "LABEL": self.label,
            "MAINTAINER": lambda ins, st: LabelStep((("maintainer", ins.args),), ins.line),
            "EXPOSE": self.expose,
        }

    def from_(self, ins: Instruction) -> None:
        flags, rest = self.flags(ins, ("platform",))
        if "platform" in flags:
            platform = self.word(ins, flags["platform"], self.global_args)
            if platform not in ("linux", f"linux/{host_architecture()}"):
                raise self.err(
                    ins, f"--platform={platform} is not this machine's platform"
                    f" (linux/{host_architecture()}); images run natively only"
                )  # fmt: skip
        words = self.words(ins, rest, self.global_args)
        name = None
        if len(words) == 3 and words[1].lower() == "as":
            name = words[2].lower()
            if not re.fullmatch(r"[a-z][a-z0-9_.-]*", name):
                raise self.err(ins, f"stage name {words[2]!r} is invalid")
            if name in self.names:
                raise self.err(ins, f"stage name {name!r} is already used")
        elif len(words) != 1:
            raise self.err(ins, "expects `FROM image [AS name]`")
        image = words[0]
        state = _State()
        stage = self.names.get(image.lower())
        if stage is not None:
            earlier = self.stages[stage][2]
            state.env, state.shell, state.workdir = (
                dict(earlier.env),
                earlier.shell,
                earlier.workdir,
            )
            image = ""
        elif image != "scratch":
            try:
                oci.parse_reference(image)
            except oci.BadReference as e:
                raise self.err(ins, str(e)) from None
            if self.base_config is not None:
                config = self.base_config(image)
                state.env = dict(kv.partition("=")[::2] for kv in config.env)
                state.workdir = config.workdir or "/"
        if name is not None:
            self.names[name] = len(self.stages)
        self.stages.append((FromStep(image, stage, name, ins.line), [], state))

    def arg(self, ins: Instruction, state: _State | None) -> None:
        raw = self.raw(ins)
        if not raw:
            raise self.err(ins, "needs a name: ARG NAME[=default]")
        target = self.global_args if state is None else state.args
        for word in raw:
            name, eq, default = word.partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise self.err(ins, f"name {name!r} is invalid")
            self.declared.add(name)
            env = self.global_args if state is None else state.subst_env()
            value: str | None
            if name in self.build_args:
                value = self.build_args[name]
            elif eq:
                value = self.word(ins, default, env)
            else:
                value = self.global_args.get(name) if state is not None else None
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value

    def raw(self, ins: Instruction) -> list[str]:
        try:
            return split_raw(ins.args, self.escape)
        except WordError as e:
            raise self.err(ins, f"cannot be parsed: {e}") from None

    def pairs(self, ins: Instruction, state: _State) -> tuple[tuple[str, str], ...]:
        """``KEY=value ...`` (each value expanded with the variables before this line) or the
        legacy ``KEY value with spaces``."""
        raw = self.raw(ins)
        env = state.subst_env()
        if not raw:
            raise self.err(ins, "needs KEY=value")
        if "=" not in raw[0]:
            value = ins.args[len(raw[0]) :].strip()
            if not value:
                raise self.err(ins, f"{raw[0]} needs a value: {ins.keyword} {raw[0]}=value")
            return ((raw[0], self.word(ins, value, env)),)
        out = []
        for word in raw:
            key, eq, value = word.partition("=")
            if not eq or not key:
                raise self.err(ins, f"expects KEY=value, got {word!r}")
            out.append((self.word(ins, key, env), self.word(ins, value, env)))
        return tuple(out)

    def env(self, ins: Instruction, state: _State) -> EnvStep:
        pairs = self.pairs(ins, state)
        state.env.update(pairs)
        return EnvStep(pairs, ins.line)

    def label(self, ins: Instruction, state: _State) -> LabelStep:
        return LabelStep(self.pairs(ins, state), ins.line)

    def run(self, ins: Instruction, state: _State) -> RunStep:
        _, rest = self.flags(ins, ())
        argv = self.command(Instruction(ins.keyword, rest, ins.line), state)
        predefined = {k: v for k, v in self.build_args.items() if k in PREDEFINED_ARGS}
        scoped = {**predefined, **state.args}
        build_env = tuple(sorted((k, v) for k, v in scoped.items() if k not in state.env))
        return RunStep(argv, build_env, ins.line)

    def copy(self, ins: Instruction, state: _State) -> CopyStep:
        add = ins.keyword == "ADD"
        flags, rest = self.flags(ins, ("chown", "chmod") if add else ("from", "chown", "chmod"))
        if _HEREDOC.search(rest):
            raise self.err(ins, "heredocs (<<EOF) are not supported: COPY a file instead")
        env = state.subst_env()
        argv = self.exec_form(rest)
        words = [self.word(ins, w, env) for w in argv] if argv else self.words(ins, rest, env)
        if len(words) < 2:
            raise self.err(ins, "needs a source and a destination")
        *sources, dest = words
        if len(sources) > 1 and not dest.endswith("/"):
            raise self.err(ins, f"with several sources needs a destination ending in '/': {dest}")
        from_stage = self.stage_ref(ins, flags["from"], env) if "from" in flags else None
        for src in sources:
            if _URL.match(src):
                raise self.err(
                    ins, f"of the URL {src!r} is not supported: download it in a RUN step"
                    " (curl or wget), or COPY a local file"
                )  # fmt: skip
            if from_stage is None and posixpath.normpath(src.lstrip("/")).startswith(".."):
                raise self.err(ins, f"source {src!r} is outside the build context")
        chown = self.word(ins, flags["chown"], env) if "chown" in flags else None
        chmod = self.word(ins, flags["chmod"], env) if "chmod" in flags else None
        if chown is not None and not re.fullmatch(r"[\w.-]+(:[\w.-]+)?", chown):
            raise self.err(ins, f"--chown={chown} is invalid: use user[:group] (names or ids)")
        if chmod is not None and not re.fullmatch(r"[0-7]{3,4}", chmod):
            raise self.err(ins, f"--chmod={chmod} is invalid: use an octal mode such as 755")
        if not dest.startswith("/"):
            slash = "/" if dest.endswith("/") or dest in (".", "./") else ""
            dest = posixpath.normpath(posixpath.join(state.workdir, dest)).rstrip("/") + slash
        return CopyStep(tuple(sources), dest, from_stage, chown, chmod, add, ins.line)

    def stage_ref(self, ins: Instruction, value: str, env: Mapping[str, str]) -> int:
        ref = self.word(ins, value, env).lower()
        current = len(self.stages) - 1
        if ref in self.names and self.names[ref] < current:
            return self.names[ref]
        if ref.isdigit() and int(ref) < current:
            return int(ref)
        raise self.err(
            ins, f"--from={ref} names no earlier stage; copying from an image is not supported:"
            f" add a stage `FROM {ref} AS name` before this one and COPY --from=name"
        )  # fmt: skip

    def workdir(self, ins: Instruction, state: _State) -> WorkdirStep:
        path = self.word(ins, ins.args, state.subst_env())
        if not path:
            raise self.err(ins, "needs a path")
        state.workdir = posixpath.normpath(posixpath.join(state.workdir, path))
        return WorkdirStep(state.workdir, ins.line)

    def user(self, ins: Instruction, state: _State) -> UserStep:
        user = self.word(ins, ins.args, state.subst_env())
        if not re.fullmatch(r"[\w.-]+(:[\w.-]+)?", user):
            raise self.err(ins, f"{user!r} is invalid: use user[:group] (names or ids)")
        return UserStep(user, ins.line)

    def shell(self, ins: Instruction, state: _State) -> None:
        argv = self.exec_form(ins.args)
        if not argv:
            raise self.err(ins, 'must be a JSON list, e.g. SHELL ["/bin/bash", "-c"]')
        state.shell = tuple(argv)

    def expose(self, ins: Instruction, state: _State) -> ExposeStep:
        ports = self.words(ins, ins.args, state.subst_env())
        for port in ports:
            if not re.fullmatch(r"\d+(-\d+)?(/(tcp|udp|sctp))?", port):
                raise self.err(ins, f"port {port!r} is invalid: use 8000 or 8000/tcp")
        if not ports:
            raise self.err(ins, "needs a port")
        return ExposeStep(tuple(ports), ins.line)

    def check_build_args(self) -> None:
        unused = sorted(set(self.build_args) - self.declared - PREDEFINED_ARGS)
        if unused:
            declared = ", ".join(sorted(self.declared)) or "none"
            raise DockerfileError(
                f"build args {', '.join(unused)} are not declared by any ARG"
                f" (declared: {declared}): add `ARG NAME` or drop them"
            )


def parse(
    text: str,
    *,
    build_args: Mapping[str, str] | None = None,
    base_config: Callable[[str], oci.OciConfig] | None = None,
) -> Dockerfile:
    """Parse a Dockerfile. ``base_config(ref)`` gives a FROM image's config (its env and
    workdir are what the Dockerfile's substitutions and relative paths start from)."""
    lines = text.splitlines()
    try:
        escape, skip = directives(lines)
    except WordError as e:
        raise DockerfileError(str(e)) from None
    parser = _Parser(escape, build_args or {}, base_config)
    for ins in instructions(lines[skip:], escape, first_line=skip + 1):
        parser.feed(ins)
    if not parser.stages:
        raise DockerfileError("the Dockerfile has no FROM: start it with `FROM image`")
    parser.check_build_args()
    return Dockerfile(tuple(Stage(base, tuple(steps)) for base, steps, _ in parser.stages))


def parse_commands(
    commands: Sequence[str],
    *,
    env: Sequence[str] = (),
    workdir: str = "/",
    build_args: Mapping[str, str] | None = None,
) -> list[Step]:
    """Parse ``Image.dockerfile_commands`` lines over an image whose config has ``env``
    ("KEY=value") and ``workdir``. FROM is refused: the image before them is the base."""
    parser = _Parser("\\", build_args or {}, None)
    state = _State(workdir=workdir or "/")
    state.env = dict(kv.partition("=")[::2] for kv in env)
    parser.stages.append((FromStep("", None, None, 0), [], state))
    for ins in instructions("\n".join(commands).splitlines(), "\\", first_line=1):
        if ins.keyword == "FROM":
            raise parser.err(
                ins, "is not allowed in dockerfile_commands: the image they extend is the base"
                " (start from Image.from_registry(...) instead)"
            )  # fmt: skip
        parser.feed(ins)
    parser.check_build_args()
    return parser.stages[0][1]
