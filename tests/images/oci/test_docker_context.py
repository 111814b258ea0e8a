"""COPY sources resolved in a build context, with .dockerignore, as Docker resolves them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gworker.images.dockercontext import CopyEntry, Ignore, plan_copy
from gworker.images.dockersteps import DockerfileError
from gworker_client._protocol.dockerignore import DockerIgnore, context_files


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    for rel in ("app/main.py", "app/util.py", "app/data/x.bin", "app/.cache/junk", "README.md"):
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(rel)
    (ctx / "app" / "link").symlink_to("main.py")
    (ctx / "secret.key").write_text("s")
    (tmp_path / "outside.txt").write_text("o")
    (ctx / "escape").symlink_to("../outside.txt")
    return ctx


def _plan(ctx: Path, sources: list[str], dest: str, ignore: Ignore | None = None) -> list[str]:
    return [
        f"{e.source.relative_to(ctx)}->{e.dest}"
        for e in plan_copy(ctx, sources, dest, ignore or Ignore())
    ]


def test_files_and_directories(context: Path) -> None:
    assert _plan(context, ["README.md"], "/r.md") == ["README.md->/r.md"]
    assert _plan(context, ["/README.md"], "/docs/") == ["README.md->/docs/README.md"]
    # A directory's contents, not the directory, parents first; symlinks stay symlinks.
    assert _plan(context, ["app"], "/srv") == [
        "app/.cache->/srv/.cache",
        "app/data->/srv/data",
        "app/link->/srv/link",
        "app/main.py->/srv/main.py",
        "app/util.py->/srv/util.py",
        "app/.cache/junk->/srv/.cache/junk",
        "app/data/x.bin->/srv/data/x.bin",
    ]
    entry = plan_copy(context, ["app"], "/srv", Ignore())[2]
    assert entry == CopyEntry(context / "app" / "link", "/srv/link") and entry.source.is_symlink()


def test_wildcards_and_several_sources(context: Path) -> None:
    assert _plan(context, ["app/*.py"], "/code/") == [
        "app/main.py->/code/main.py",
        "app/util.py->/code/util.py",
    ]
    assert _plan(context, ["README.md", "secret.key"], "/d/") == [
        "README.md->/d/README.md",
        "secret.key->/d/secret.key",
    ]
    with pytest.raises(DockerfileError, match="needs a destination ending in '/'"):
        plan_copy(context, ["app/*.py"], "/code", Ignore())
    with pytest.raises(DockerfileError, match="matches no file"):
        plan_copy(context, ["*.rs"], "/code/", Ignore())


def test_existing_directory_in_the_image_receives_a_file(context: Path) -> None:
    entries = plan_copy(context, ["README.md"], "/opt", Ignore(), dest_is_dir=lambda p: True)
    assert [e.dest for e in entries] == ["/opt/README.md"]


def test_dockerignore(context: Path) -> None:
    (context / ".dockerignore").write_text(
        "# comment\n*.key\n**/.cache\napp/data\n!app/data/x.bin\n"
    )
    ignore = Ignore.from_dir(context)
    assert ignore.ignored("secret.key") and ignore.ignored("app/.cache/junk")
    assert not ignore.ignored("app/data/x.bin")  # re-included: the last matching line wins
    assert ignore.ignored("app/data")
    plan = _plan(context, ["."], "/c/", ignore)
    assert "secret.key->/c/secret.key" not in plan
    assert not any(".cache" in p for p in plan)
    assert "README.md->/c/README.md" in plan
    assert "app/data/x.bin->/c/app/data/x.bin" in plan and "app/data->/c/app/data" not in plan
    with pytest.raises(DockerfileError, match="excluded by .dockerignore"):
        plan_copy(context, ["secret.key"], "/s", ignore)


def test_sources_may_not_leave_the_context(context: Path) -> None:
    with pytest.raises(DockerfileError, match="outside the build context"):
        plan_copy(context, ["../outside.txt"], "/x", Ignore())
    with pytest.raises(DockerfileError, match="resolves outside the build context"):
        plan_copy(context, ["escape"], "/x", Ignore())
    with pytest.raises(DockerfileError, match="is not in the build context"):
        plan_copy(context, ["missing.txt"], "/x", Ignore())
    assert os.path.islink(context / "escape")


def test_context_files_are_what_the_sdk_uploads(context: Path) -> None:
    (context / ".dockerignore").write_text("*.key\napp/data\n!app/data/x.bin\n**/.cache\n")
    (context / "app" / "linkdir").symlink_to("data")
    files = context_files(context, DockerIgnore.from_dir(context))
    assert files == [
        ".dockerignore",
        "README.md",
        "app/data/x.bin",
        "app/link",
        "app/linkdir",
        "app/main.py",
        "app/util.py",
        "escape",
    ]
    assert "secret.key" in context_files(context, DockerIgnore())
