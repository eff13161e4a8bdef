"""YAML loading that remembers line numbers, so every error can name file and line.

Mappings load as :class:`LDict` and sequences as :class:`LList`; both carry ``line`` (1-based,
where the node starts) and ``key_line(key)`` / ``item_line(i)`` for their children.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from voicecoach.errors import LocatedError


class LDict(dict):
    """A dict from YAML that knows the line of each key."""

    line: int | None = None
    lines: dict[Any, int]

    def key_line(self, key: Any) -> int | None:
        return getattr(self, "lines", {}).get(key, self.line)


class LList(list):
    """A list from YAML that knows the line of each item."""

    line: int | None = None
    lines: list[int]

    def item_line(self, i: int) -> int | None:
        lines = getattr(self, "lines", [])
        return lines[i] if 0 <= i < len(lines) else self.line


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    out = LDict()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, file: str, error: type[LocatedError] = LocatedError) -> Any:
    """Parse YAML text; a syntax error becomes ``error`` naming file and line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise error(f"invalid YAML: {problem}", file, line) from None
    except yaml.reader.ReaderError as exc:
        # Not a MarkedYAMLError: it carries a character position, and its str() spans lines.
        line = text.count("\n", 0, max(0, exc.position)) + 1 if isinstance(exc.position, int) else 1
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        raise error(f"invalid YAML: unacceptable character {char!r} ({exc.reason})", file, line) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {' '.join(str(exc).split())}", file, 1) from None


def read_yaml_file(path: Path, error: type[LocatedError] = LocatedError) -> Any:
    """Read and parse a YAML file; unreadable files become ``error`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error("not a UTF-8 text file", str(path), None) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", str(path), None) from None
    return load_yaml(text, str(path), error)


def line_of(container: Any, key: Any = None) -> int | None:
    """The line of ``container[key]`` (or of the container itself) when known."""
    if isinstance(container, LDict):
        return container.key_line(key) if key is not None else container.line
    if isinstance(container, LList):
        return container.item_line(key) if isinstance(key, int) else container.line
    return None


def read_yaml_fast(path: Path, error: type[LocatedError]) -> Any:
    """:func:`voicecoach.yamlio.read_yaml_file` with libyaml's parser when it is installed (about
    eight times faster on the intents file). Any problem falls back to the pure-Python reader,
    which names file and line."""
    try:
        import yaml

        loader = _C_LOADER.get("loader")
        if loader is None:
            class _CLoader(yaml.CSafeLoader):
                pass

            _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                     _construct_mapping)
            _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
                                     _construct_sequence)
            loader = _C_LOADER["loader"] = _CLoader
        text = Path(path).read_text(encoding="utf-8")
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader with line numbers
    except Exception:  # noqa: BLE001 - the slow reader gives the located error
        return read_yaml_file(Path(path), error)


_C_LOADER: dict[str, Any] = {}
