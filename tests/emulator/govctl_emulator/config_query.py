"""The subset of AWS Config's advanced-query language that govctl sends.

AWS Config answers `SelectAggregateResourceConfig` with a SQL-like expression
(no FROM clause). This module parses the part of that language govctl uses and
refuses everything else, so a query that only "works" because the emulator is
lenient fails here as loudly as it would be a surprise against AWS:

    SELECT <path>[, <path>...] [WHERE <cond> [AND <cond>...]]
    <cond> := <path> = '<literal>' | <path> IN ('<literal>'[, '<literal>'...])

Keywords are case-insensitive, property paths are dotted (`configuration.layers.arn`)
and string literals are single-quoted with a quote inside written twice (`''`).

Semantics follow the AWS Config developer guide: a condition on a path that
goes through an array holds when any element matches, and projection keeps the
nesting of the configuration item (selecting `configuration.layers.arn` yields
`{"configuration": {"layers": [{"arn": ...}, ...]}}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_EXPRESSION_LENGTH = 4096

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[.,()=])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"SELECT", "WHERE", "AND", "IN"}
_MISSING = object()


class ExpressionError(ValueError):
    """The expression is outside the supported language (or not valid at all)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "keyword", "ident", "string", "punct" or "end"
    value: str
    position: int


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    values: frozenset[str]

    def matches(self, item: dict[str, Any]) -> bool:
        return any(
            isinstance(value, str) and value in self.values
            for value in _leaf_values(item, self.path)
        )


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    conditions: tuple[Condition, ...]

    def matches(self, item: dict[str, Any]) -> bool:
        return all(condition.matches(item) for condition in self.conditions)

    def project(self, item: dict[str, Any]) -> dict[str, Any]:
        mask = _build_mask(self.fields)
        projected = _apply_mask(item, mask)
        return {} if projected is _MISSING else projected


def parse(expression: str) -> Query:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"The expression is {len(expression)} characters long; the maximum is {MAX_EXPRESSION_LENGTH}."
        )
    return _Parser(_tokenize(expression)).query()


def _tokenize(expression: str) -> list[Token]:
    tokens = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise ExpressionError(
                f"Unexpected character {expression[position]!r} at position {position}."
            )
        kind = match.lastgroup
        text = match.group()
        if kind == "string":
            tokens.append(Token("string", text[1:-1].replace("''", "'"), position))
        elif kind == "ident" and text.upper() in _KEYWORDS:
            tokens.append(Token("keyword", text.upper(), position))
        elif kind != "space":
            tokens.append(Token(kind, text, position))  # type: ignore[arg-type]
        position = match.end()
    tokens.append(Token("end", "", position))
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]):
        self._tokens = tokens
        self._index = 0

    def query(self) -> Query:
        self._expect("keyword", "SELECT")
        fields = [self._path()]
        while self._accept("punct", ","):
            fields.append(self._path())
        conditions = []
        if self._accept("keyword", "WHERE"):
            conditions.append(self._condition())
            while self._accept("keyword", "AND"):
                conditions.append(self._condition())
        self._expect("end", "")
        return Query(tuple(fields), tuple(conditions))

    def _condition(self) -> Condition:
        path = tuple(self._path().split("."))
        if self._accept("punct", "="):
            return Condition(path, frozenset([self._string()]))
        self._expect("keyword", "IN")
        self._expect("punct", "(")
        values = [self._string()]
        while self._accept("punct", ","):
            values.append(self._string())
        self._expect("punct", ")")
        return Condition(path, frozenset(values))

    def _path(self) -> str:
        parts = [self._expect("ident", None).value]
        while self._accept("punct", "."):
            parts.append(self._expect("ident", None).value)
        return ".".join(parts)

    def _string(self) -> str:
        return self._expect("string", None).value

    def _accept(self, kind: str, value: str) -> bool:
        token = self._tokens[self._index]
        if token.kind == kind and token.value == value:
            self._index += 1
            return True
        return False

    def _expect(self, kind: str, value: str | None) -> Token:
        token = self._tokens[self._index]
        if token.kind != kind or (value is not None and token.value != value):
            wanted = value or kind
            found = "end of expression" if token.kind == "end" else repr(token.value)
            raise ExpressionError(
                f"Expected {wanted} but found {found} at position {token.position}."
            )
        self._index += 1
        return token


def _leaf_values(node: Any, path: tuple[str, ...]) -> list[Any]:
    """Every value at `path`, looking through arrays on the way."""
    if isinstance(node, list):
        return [value for element in node for value in _leaf_values(element, path)]
    if not path:
        return [node]
    if isinstance(node, dict) and path[0] in node:
        return _leaf_values(node[path[0]], path[1:])
    return []


def _build_mask(fields: tuple[str, ...]) -> dict[str, Any]:
    """A tree of selected keys; an empty dict means "the whole value"."""
    mask: dict[str, Any] = {}
    for field in fields:
        node = mask
        *parents, leaf = field.split(".")
        for part in parents:
            if part in node and not node[part]:
                break  # an ancestor is already selected whole
            node = node.setdefault(part, {})
        else:
            node[leaf] = {}
    return mask


def _apply_mask(node: Any, mask: dict[str, Any]) -> Any:
    if not mask:
        return node
    if isinstance(node, list):
        return [
            projected
            for projected in (_apply_mask(element, mask) for element in node)
            if projected is not _MISSING
        ]
    if not isinstance(node, dict):
        return _MISSING
    projected = {}
    for key, child_mask in mask.items():
        if key in node:
            value = _apply_mask(node[key], child_mask)
            if value is not _MISSING:
                projected[key] = value
    return projected if projected else _MISSING
