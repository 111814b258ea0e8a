"""The typed steps a Dockerfile becomes (``dockerfile.parse``), which a builder applies in order.

Each step carries its Dockerfile line, for the builder's own errors ("line 7: RUN ... failed").
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BuildError


class DockerfileError(BuildError):
    """A Dockerfile (or a dockerfile_commands line) uses something not supported, or is invalid;
    the message names the instruction, the line and what to do instead."""


@dataclass(frozen=True)
class FromStep:
    image: str  # a registry reference, "scratch", or "" when ``stage`` names an earlier stage
    stage: int | None  # index of the earlier stage this one starts from
    name: str | None  # ``AS name``
    line: int


@dataclass(frozen=True)
class RunStep:
    argv: tuple[str, ...]  # shell form: the stage's SHELL plus the command text
    build_env: tuple[tuple[str, str], ...]  # ARGs in scope: set for this command only
    line: int


@dataclass(frozen=True)
class CopyStep:
    sources: tuple[str, ...]  # relative to the build context (or to ``from_stage``'s root)
    dest: str  # a trailing "/" means "into this directory"; relative to the workdir
    from_stage: int | None  # copy from an earlier stage's filesystem, not the context
    chown: str | None  # "user[:group]", names resolved in the image's /etc/passwd
    chmod: str | None  # octal mode for what is copied
    add: bool  # ADD: a local tar archive source (gzip, bzip2, xz) is unpacked at dest
    line: int


@dataclass(frozen=True)
class EnvStep:
    env: tuple[tuple[str, str], ...]
    line: int


@dataclass(frozen=True)
class WorkdirStep:
    path: str  # absolute: a relative WORKDIR is resolved against the one before
    line: int


@dataclass(frozen=True)
class UserStep:
    user: str  # "user[:group]"
    line: int


@dataclass(frozen=True)
class CmdStep:
    argv: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class EntrypointStep:
    argv: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class LabelStep:
    labels: tuple[tuple[str, str], ...]
    line: int


@dataclass(frozen=True)
class ExposeStep:
    ports: tuple[str, ...]  # "8000" or "8000/tcp"
    line: int


Step = (
    RunStep | CopyStep | EnvStep | WorkdirStep | UserStep | CmdStep | EntrypointStep
    | LabelStep | ExposeStep
)  # fmt: skip


@dataclass(frozen=True)
class Stage:
    base: FromStep
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Dockerfile:
    stages: tuple[Stage, ...]

    def required_stages(self) -> list[int]:
        """Indices of the stages the final stage depends on (itself included), in order."""
        need = {len(self.stages) - 1}
        for i in range(len(self.stages) - 1, -1, -1):
            if i not in need:
                continue
            stage = self.stages[i]
            if stage.base.stage is not None:
                need.add(stage.base.stage)
            for step in stage.steps:
                if isinstance(step, CopyStep) and step.from_stage is not None:
                    need.add(step.from_stage)
        return sorted(need)
