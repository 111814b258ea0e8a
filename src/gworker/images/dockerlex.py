"""Dockerfile lexing: lines into instructions, and words with quotes, escapes and ``$VAR``
substitution, as Docker's own lexer does.

    directives(lines) -> (escape, n)   the ``# escape=`` character and how many lines are directives
    instructions(lines, escape, first_line) -> [Instruction(keyword, args, line)]

    expand_word('"${HOME:-/root}"/x', {"HOME": "/h"})   -> "/h/x"
    expand_words("a 'b c' $X", {"X": "1"})              -> ["a", "b c", "1"]
    split_raw('A="x y" B=2')                              -> ['A="x y"', 'B=2']

Forms substituted: ``$NAME``, ``${NAME}``, ``${NAME:-word}`` / ``${NAME-word}`` (default when
unset-or-empty / unset), ``${NAME:+word}`` / ``${NAME+word}`` (alternative when set), and
``${NAME:?message}`` / ``${NAME?message}`` (fail). Other modifiers (``#``, ``%``, ``/``) are
refused by name rather than left in place. Single quotes are literal; inside double quotes the
escape character escapes only ``"``, ``$`` and itself; elsewhere it escapes any character. An unset
variable expands to the empty string, as in Docker. ``escape`` is the Dockerfile's escape
character (``\\`` or, by the ``# escape=`` directive, a backtick).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class WordError(ValueError):
    """A word could not be expanded (an unterminated quote or brace, a refused modifier), or a
    directive is invalid; the parser adds the instruction and line."""


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text, self.env, self.escape = text, env, escape
        self.i = 0

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def words(self, split: bool, stop: str = "") -> list[str]:
        """Read words until the end (or an unquoted ``stop`` character, left unread)."""
        words: list[str] = []
        cur: list[str] = []
        started = False
        while self.i < len(self.text):
            ch = self.peek()
            if stop and ch in stop:
                break
            if split and ch in " \t\n":
                self.take()
                if started:
                    words.append("".join(cur))
                    cur, started = [], False
                continue
            started = True
            if ch == "'":
                self.take()
                end = self.text.find("'", self.i)
                if end < 0:
                    raise WordError(f"unterminated single quote in {self.text!r}")
                cur.append(self.text[self.i : end])
                self.i = end + 1
            elif ch == '"':
                self.take()
                cur.append(self.double_quoted())
            elif ch == self.escape:
                self.take()
                cur.append(self.take())  # an escape at the very end escapes nothing
            elif ch == "$":
                self.take()
                cur.append(self.variable())
            else:
                cur.append(self.take())
        if started:
            words.append("".join(cur))
        return words

    def double_quoted(self) -> str:
        out: list[str] = []
        while True:
            ch = self.take()
            if ch == "":
                raise WordError(f"unterminated double quote in {self.text!r}")
            if ch == '"':
                return "".join(out)
            if ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.take())
            elif ch == "$":
                out.append(self.variable())
            else:
                out.append(ch)

    def variable(self) -> str:
        if self.peek() != "{":
            m = _NAME.match(self.text, self.i)
            if not m:
                return "$"  # a lone dollar is literal, as in Docker
            self.i = m.end()
            return self.env.get(m.group(), "")
        self.take()
        m = _NAME.match(self.text, self.i)
        if not m:
            raise WordError(f"bad variable name after '${{' in {self.text!r}")
        name, self.i = m.group(), m.end()
        op = self.take()
        if op == "":
            raise WordError(f"missing '}}' in {self.text!r}")
        if op == "}":
            return self.env.get(name, "")
        colon = op == ":"
        if colon:
            op = self.take()
        if op not in ("-", "+", "?"):
            shown = (":" if colon else "") + op
            raise WordError(
                f"unsupported modifier {shown!r} in ${{{name}...}} of {self.text!r}: only"
                " ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt} and ${VAR:?message}"
                " are supported"
            )
        word = "".join(self.words(split=False, stop="}"))
        if self.take() != "}":
            raise WordError(f"missing '}}' in {self.text!r}")
        value = self.env.get(name)
        is_set = value is not None and (value != "" or not colon)
        if op == "-":
            return value if is_set and value is not None else word
        if op == "+":
            return word if is_set else ""
        if not is_set:
            raise WordError(f"{name}: {word or 'is not set'}")
        return value or ""


def expand_word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """``text`` as one word: quotes removed, variables substituted, whitespace kept."""
    return "".join(_Lexer(text, env, escape).words(split=False))


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """``text`` split into words on unquoted whitespace, each expanded."""
    return _Lexer(text, env, escape).words(split=True)


def split_raw(text: str, escape: str = "\\") -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes for a later ``expand_word``."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == escape and quote == '"' and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in " \t\n":
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
            if ch in "'\"":
                quote = ch
            elif ch == escape and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
        i += 1
    if quote:
        raise WordError(f"unterminated quote in {text!r}")
    if cur:
        words.append("".join(cur))
    return words


# -- lines ----------------------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # continuation lines joined, comments inside removed
    line: int


def instructions(lines: Sequence[str], escape: str, first_line: int) -> list[Instruction]:
    """Join continuations (dropping comment and blank lines inside them, as Docker does) and
    split each instruction into its keyword and arguments; ``line`` is where it starts."""
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    for n, raw in enumerate(lines, first_line):
        text = raw.rstrip("\r\n")
        stripped = text.lstrip()
        if stripped.startswith("#") or (buf and not stripped):
            continue  # comments and blank lines inside a continuation are dropped, as in Docker
        if not buf:
            if not stripped:
                continue
            start = n
        m = continuation.search(text)
        if m:
            buf.append(text[: m.start()])
            continue
        buf.append(text)
        out.append(_instruction("".join(buf).strip(), start))
        buf = []
    if buf:
        out.append(_instruction("".join(buf).strip(), start))
    return out


def _instruction(text: str, line: int) -> Instruction:
    keyword, _, args = text.partition(" ")
    if "\t" in keyword:
        keyword, _, rest = keyword.partition("\t")
        args = f"{rest} {args}"
    return Instruction(keyword.upper(), args.strip(), line)


def directives(lines: Sequence[str]) -> tuple[str, int]:
    """The escape character and how many leading lines are directives."""
    escape, n = "\\", 0
    for raw in lines:
        m = _DIRECTIVE.match(raw.strip())
        if not m:
            break
        n += 1
        if m.group(1).lower() == "escape":
            if m.group(2) not in ("\\", "`"):
                raise WordError(
                    f"line {n}: escape character {m.group(2)!r} is invalid: use \\ or `"
                )
            escape = m.group(2)
    return escape, n
