"""What a COPY or ADD copies: its sources found in a build context, as Docker finds them.

    ignore = Ignore.from_dir(context)                     # the context's .dockerignore, if any
    entries = plan_copy(context, step.sources, step.dest, ignore)
    for e in entries: ...                                 # CopyEntry(source host path, dest path)

``plan_copy`` resolves each source (a path or a ``*``/``?``/``[...]`` pattern, relative to the
context root; a leading "/" means the root too) and lists, parents first, every directory, file and
symlink to create in the image, with its absolute destination (a file re-included by a ``!`` rule
under an ignored directory comes without its parents: create missing parents as Docker does):

- a file goes to ``dest`` itself, or into it when ``dest`` ends in "/", when there are several
  sources or matches, or when ``dest_is_dir(dest)`` says the image already has a directory there;
- a directory's *contents* go into ``dest`` (the directory itself is not recreated), recursively;
- symlinks inside a copied directory stay symlinks; a source that is itself a symlink is followed,
  and must resolve inside the context.

``.dockerignore`` follows Docker's rules (``gworker_client/_protocol/dockerignore.py``, shared
with the SDK, which uploads what it keeps). Ignored files cannot be copied, as in Docker.
The same plan serves ``COPY --from=<stage>`` with that stage's root filesystem as ``context``
(and ``Ignore()``, which ignores nothing).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gworker_client._protocol.dockerignore import DockerIgnore, clean, pattern_regex

from .dockersteps import DockerfileError

Ignore = DockerIgnore  # the context's .dockerignore rules, shared with the SDK

_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class CopyEntry:
    source: Path  # on the host: a directory (create it), a file (copy it) or a symlink (recreate)
    dest: str  # absolute path in the image


def _inside(root: Path, rel: str) -> Path:
    """``root/rel`` with symlinks followed, refused when it resolves outside ``root``."""
    real_root = root.resolve()
    path = (root / rel).resolve()
    if path != real_root and real_root not in path.parents:
        raise DockerfileError(f"COPY source {rel!r} resolves outside the build context")
    return path


def _matches(root: Path, pattern: str, ignore: Ignore) -> list[str]:
    try:
        regex = pattern_regex(pattern, double_star=False)
    except ValueError as e:
        raise DockerfileError(f"COPY source {e}") from None
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root).as_posix()
        for name in sorted(dirnames + filenames):
            rel = name if base == "." else f"{base}/{name}"
            if regex.match(rel) and not ignore.ignored(rel):
                found.append(rel)
        dirnames.sort()
    return found


def _walk(root: Path, top: str, dest: str, ignore: Ignore) -> Iterator[CopyEntry]:
    """Entries for the contents of the context directory ``top``, parents first."""
    start = _inside(root, top)
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames.sort()
        here = Path(dirpath)
        rel_here = here.relative_to(start).as_posix()
        for name in sorted(dirnames + filenames):
            rel = name if rel_here == "." else f"{rel_here}/{name}"
            ctx_rel = rel if top == "." else f"{top}/{rel}"
            if ignore.ignored(ctx_rel):
                if name in dirnames and not ignore.exceptions:
                    dirnames.remove(name)  # with a "!" rule, something below may come back
                continue
            yield CopyEntry(here / name, posixpath.join(dest, rel))


def plan_copy(
    context: Path,
    sources: Sequence[str],
    dest: str,
    ignore: Ignore,
    dest_is_dir: Callable[[str], bool] | None = None,
) -> list[CopyEntry]:
    """Everything one COPY/ADD creates, parents first (see the module's docstring)."""
    if not dest.startswith("/"):
        raise DockerfileError(f"COPY destination {dest!r} must be absolute (parse() makes it so)")
    found: list[str] = []
    for source in sources:
        pattern = clean(source)
        if pattern.startswith(".."):
            raise DockerfileError(f"COPY source {source!r} is outside the build context")
        if _WILDCARD.search(pattern):
            matched = _matches(context, pattern, ignore)
            if not matched:
                raise DockerfileError(f"COPY source {source!r} matches no file in the context")
            found.extend(matched)
            continue
        if pattern != "." and ignore.ignored(pattern):
            raise DockerfileError(f"COPY source {source!r} is excluded by .dockerignore")
        if not os.path.lexists(context / pattern):
            raise DockerfileError(f"COPY source {source!r} is not in the build context")
        found.append(pattern)
    into = dest.endswith("/") or len(found) > 1 or bool(dest_is_dir and dest_is_dir(dest))
    if len(found) > 1 and not dest.endswith("/"):
        raise DockerfileError(
            f"COPY of several files ({', '.join(found[:3])}...) needs a destination ending"
            f" in '/', not {dest!r}"
        )
    base = posixpath.normpath(dest)
    entries: list[CopyEntry] = []
    for rel in found:
        path = _inside(context, rel)
        if path.is_dir():
            entries.extend(_walk(context, rel, base, ignore))
        else:
            target = posixpath.join(base, posixpath.basename(rel)) if into else base
            entries.append(CopyEntry(path, target))
    return entries
