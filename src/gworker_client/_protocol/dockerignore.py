"""Which files of a Docker build context count: ``.dockerignore``, by Docker's rules. Shared by the
SDK (which uploads a context's files) and the image builder (which copies from them), so that
both agree on what the context holds.

    ignore = DockerIgnore.from_dir(context)     # or DockerIgnore(lines); DockerIgnore() is empty
    ignore.ignored("app/.cache/x")              # -> bool, for a context-relative path
    context_files(context, ignore)              # -> ["Dockerfile", "app/main.py", ...]

Docker's rules: blank lines and ``#`` comments are skipped; patterns are cleaned (``./a/`` is
``a``, a leading ``/`` is the context root); ``*``, ``?`` and ``[...]`` match within one path
component and ``**`` any number of them; ``!`` re-includes; the last matching line wins; and a
pattern that matches a directory matches everything under it.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from pathlib import Path


def pattern_regex(pattern: str, double_star: bool) -> re.Pattern[str]:
    """Go's ``filepath.Match`` syntax as a regex (``**`` crosses directories if allowed).
    Raises ValueError for an unterminated ``[``."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if double_star and pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):  # "**/" also matches no directory at all
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(f"pattern {pattern!r} has an unterminated '['")
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("^") else body
            out.append(f"[{body}]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def clean(pattern: str) -> str:
    """A path or pattern as Docker cleans it: normalized, relative to the context root."""
    return posixpath.normpath(pattern.strip()).lstrip("/") or "."


class DockerIgnore:
    """A context's ``.dockerignore`` rules; ``DockerIgnore()`` ignores nothing."""

    def __init__(self, lines: Sequence[str] = ()) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []  # (re-include?, pattern)
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = clean(line[1:] if include else line)
            self.rules.append((include, pattern_regex(pattern, double_star=True)))
        # With a "!" rule, something under an ignored directory may come back: walk into it.
        self.exceptions = any(include for include, _ in self.rules)

    @staticmethod
    def from_dir(context: Path) -> DockerIgnore:
        path = context / ".dockerignore"
        return DockerIgnore(path.read_text().splitlines()) if path.is_file() else DockerIgnore()

    def ignored(self, rel: str) -> bool:
        """Whether the context-relative path ``rel`` is excluded (a pattern matching any of its
        parent directories counts, as in Docker)."""
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for include, regex in self.rules:
            if any(regex.match(p) for p in prefixes):
                verdict = not include
        return verdict


def context_files(context: Path, ignore: DockerIgnore) -> list[str]:
    """The context's files and symlinks that ``ignore`` keeps, relative and sorted. Symlinks are
    listed, never followed: upload them as links (their target), never their target's contents,
    which may lie outside the context."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(context):
        base = Path(dirpath).relative_to(context).as_posix()
        prefix = "" if base == "." else f"{base}/"
        for name in list(dirnames):
            ignored = ignore.ignored(prefix + name)
            if os.path.islink(os.path.join(dirpath, name)):
                if not ignored:
                    found.append(prefix + name)  # os.walk does not descend into it
            elif ignored and not ignore.exceptions:
                dirnames.remove(name)
        found.extend(prefix + n for n in filenames if not ignore.ignored(prefix + n))
    return sorted(found)
