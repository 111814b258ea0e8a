"""An app file read as code (``ast``), never run: its functions and classes with their decorator
arguments, their methods, and where the code calls what. The rules in ``rules.py`` read this."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNKNOWN = object()  # an argument given as an expression this reading cannot evaluate
ENTER_DECORATORS = {"enter", "on_enter"}


@dataclass
class Method:
    name: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    decorators: set[str]  # last names: {"method", "batched", "enter", ...}

    @property
    def is_enter(self) -> bool:
        return bool(self.decorators & ENTER_DECORATORS)


@dataclass
class Deployed:
    """An ``@app.function`` or ``@app.cls``: its decorator's arguments and its code."""

    name: str
    kind: str  # "function" | "cls"
    line: int  # the decorator's line
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    options: dict[str, Any]  # literal values; UNKNOWN for expressions
    option_lines: dict[str, int]
    methods: list[Method] = field(default_factory=list)  # a class's (a function: itself)
    decorators: set[str] = field(default_factory=set)

    def has(self, option: str, *aliases: str) -> bool:
        return any(o in self.options for o in (option, *aliases))

    def value(self, option: str, *aliases: str) -> Any:
        for o in (option, *aliases):
            if o in self.options and self.options[o] is not UNKNOWN:
                return self.options[o]
        return None


@dataclass
class AppSource:
    path: Path
    tree: ast.Module
    constants: dict[str, Any]
    deployed: list[Deployed]

    def lines_of(self, node: ast.AST) -> str:
        return f"{self.path}:{getattr(node, 'lineno', 0)}"


def dotted(node: ast.AST) -> str:
    """``torch.load`` for ``torch.load(...)``'s func; "" when it is not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):  # SomeClass().method -> "SomeClass().method"
        inner = dotted(node.func)
        return ".".join([inner + "()", *reversed(parts)]) if inner else ""
    return ""


def last_name(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _literal(node: ast.expr, constants: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return UNKNOWN


def _constants(tree: ast.Module) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                value = _literal(stmt.value, out)
                if value is not UNKNOWN:
                    out[target.id] = value
    return out


def _deployment(dec: ast.expr) -> str | None:
    """ "function" or "cls" for ``@app.function(...)`` / ``@app.cls(...)`` (any App variable)."""
    call = dec.func if isinstance(dec, ast.Call) else dec
    if isinstance(call, ast.Attribute) and call.attr in ("function", "cls"):
        return call.attr
    return None


def read(path: Path) -> AppSource:
    tree = ast.parse(path.read_text(), filename=str(path))
    constants = _constants(tree)
    deployed = []
    for stmt in tree.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for dec in stmt.decorator_list:
            kind = _deployment(dec)
            if kind is None:
                continue
            options, lines = {}, {}
            if isinstance(dec, ast.Call):
                for kw in dec.keywords:
                    if kw.arg:
                        options[kw.arg] = _literal(kw.value, constants)
                        lines[kw.arg] = kw.value.lineno
            d = Deployed(stmt.name, kind, dec.lineno, stmt, options, lines)
            d.decorators = {last_name(x) for x in stmt.decorator_list}
            if isinstance(stmt, ast.ClassDef):
                for item in stmt.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        names = {last_name(x) for x in item.decorator_list}
                        d.methods.append(Method(item.name, item, names))
            else:
                d.methods.append(Method(stmt.name, stmt, d.decorators))
            deployed.append(d)
            break
    return AppSource(path, tree, constants, deployed)


def calls_in(node: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)]
