"""One profile file read safely: plain data, the line of every key, duplicate keys found.

PyYAML's ``safe_load`` keeps the last of two equal keys and forgets where
anything was; this module composes the node tree with the safe loader and
builds the data itself, so every key path has a line and duplicates are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from builder.common.safe_io import FileReadError, read_bytes
from builder.errors import FieldError, ProfileError

KeyPath = tuple[str | int, ...]

MAX_FILE_BYTES = 1 << 20  # a profile is a few hundred bytes; refuse anything absurd
MAX_NODES = 20_000  # bounds alias expansion ("billion laughs")

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class YamlDocument:
    """A profile file as written: ``data`` plus the 1-based line of each key path."""

    path: Path
    data: dict[str, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[FieldError] = field(default_factory=list)  # duplicate keys, bad keys: not fatal


def format_key_path(path: KeyPath) -> str:
    """``("verify", "images", 0)`` -> ``"verify.images[0]"``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def read_yaml_document(path: Path) -> YamlDocument:
    """Read ``path`` as a profile document.

    Raises:
        ProfileError: unreadable file, bad YAML (with line and column), an empty file,
            or a top level that is not a mapping.
    """
    file = str(path)
    text = _read_text(path)
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters at once
        try:
            node = loader.get_single_node()
            if node is None:
                _fail(file, "the file is empty: a profile is a YAML mapping with at least `name`", None)
            if not isinstance(node, MappingNode) or node.tag != _MAP_TAG:
                what = "a list" if isinstance(node, SequenceNode) else "a single value"
                _fail(file, f"the top level must be a mapping (`name: ...`, `backend: ...`), got {what}", _line(node))
            walker = _Walker(loader, file)
            data = walker.value(node, ())
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        _fail(file, f"invalid YAML: character #x{exc.character:04x} is not allowed (line {line})", line)
    except yaml.MarkedYAMLError as exc:
        _fail(file, _describe_yaml_error(exc), _mark_line(exc))
    except yaml.YAMLError as exc:
        _fail(file, f"invalid YAML: {exc}", None)
    except RecursionError:
        _fail(file, "invalid YAML: nested too deeply", None)
    return YamlDocument(path=path, data=data, lines=walker.lines, problems=walker.problems)


def _read_text(path: Path) -> str:
    file = str(path)
    try:
        raw = read_bytes(path, what="profile", limit=MAX_FILE_BYTES)  # a FIFO, device or 3 GB file: refused unread
    except FileReadError as exc:
        raise ProfileError([FieldError(file, "", exc.problem)], hint=exc.hint) from None
    except FileNotFoundError:
        _fail(file, "no such profile file", None)
    except OSError as exc:
        _fail(file, f"cannot read the file: {exc.strerror or exc}", None)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(file, f"the file is not UTF-8 text (byte {exc.start})", None)


def _fail(file: str, message: str, line: int | None) -> NoReturn:
    raise ProfileError([FieldError(file, "", message, line)])


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


def _describe_yaml_error(exc: yaml.MarkedYAMLError) -> str:
    context = exc.context or ""
    if context and exc.context_mark is not None and exc.problem:
        context += f" (started at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}): "
    elif context and exc.problem:
        context += ": "
    mark = exc.problem_mark or exc.context_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    message = f"invalid YAML: {context}{exc.problem or ''}{where}"
    if "'\\t'" in (exc.problem or ""):
        message += "; tabs are not allowed for indentation in YAML, use spaces"
    return message


class _Walker:
    """Builds plain data from a node tree, recording lines and problems."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[KeyPath, int] = {(): 1}
        self.problems: list[FieldError] = []
        self.budget = MAX_NODES
        self.active: set[int] = set()
        self.visited: set[int] = set()  # a node visited twice was reached through an alias
        self.aliased = False

    def problem(self, path: KeyPath, message: str, line: int) -> None:
        self.problems.append(FieldError(self.file, format_key_path(path), message, line))

    def value(self, node: Node, path: KeyPath) -> Any:
        self.budget -= 1
        self.aliased = self.aliased or id(node) in self.visited
        self.visited.add(id(node))
        if self.budget < 0:
            how = " (aliases expanded)" if self.aliased else ""
            raise yaml.YAMLError(f"more than {MAX_NODES} values{how}; a profile is small")
        if id(node) in self.active:
            raise yaml.MarkedYAMLError(
                problem="an alias refers to the value that contains it", problem_mark=node.start_mark
            )
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                self.require_tag(node, _SEQ_TAG)
                items = []
                for index, item in enumerate(node.value):
                    self.lines[path + (index,)] = _line(item)
                    items.append(self.value(item, path + (index,)))
                return items
            self.require_tag(node, _MAP_TAG)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode, path: KeyPath) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2024-13-45
            raise yaml.MarkedYAMLError(
                problem=f"cannot read {node.value!r}: {exc}", problem_mark=node.start_mark
            ) from exc

    def require_tag(self, node: Node, tag: str) -> None:
        if node.tag != tag:
            raise yaml.MarkedYAMLError(
                problem=f"the YAML tag {node.tag!r} is not allowed", problem_mark=node.start_mark
            )

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.extend(self.merge_sources(value_node))
                continue
            key = self.key(key_node, path)
            if key is None:
                continue
            if key in first_line:
                self.problem(path + (key,), f"duplicate key {key!r} (first at line {first_line[key]})", _line(key_node))
                continue
            first_line[key] = _line(key_node)
            self.lines.setdefault(path + (key,), _line(key_node))
            result[key] = self.value(value_node, path + (key,))
        for source in merges:  # YAML merge keys (`<<: *base`): explicit keys win, earlier sources win
            merged = self.value(source, path)
            for key, value in merged.items():
                result.setdefault(key, value)
        return result

    def merge_sources(self, node: Node) -> list[Node]:
        if isinstance(node, MappingNode):
            return [node]
        if isinstance(node, SequenceNode) and all(isinstance(item, MappingNode) for item in node.value):
            return list(node.value)
        raise yaml.MarkedYAMLError(
            problem="a merge key (<<) needs a mapping or a list of mappings", problem_mark=node.start_mark
        )

    def key(self, node: Node, path: KeyPath) -> str | None:
        key = self.value(node, path) if isinstance(node, ScalarNode) else None
        if isinstance(key, str):
            return key
        if not isinstance(node, ScalarNode):
            shown = "a list or mapping"
        else:
            shown = "null" if key is None else f"{type(key).__name__} {key!r}"
        self.problem(path, f"keys must be strings, got {shown}", _line(node))
        return None
