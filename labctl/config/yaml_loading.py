"""YAML loading that remembers where each key was, so errors can name file and line."""

from __future__ import annotations

from pathlib import Path

import yaml

from labctl.core.errors import ConfigError

__all__ = ["load_yaml", "YamlDoc", "format_validation_error"]


class YamlDoc:
    """Parsed YAML data plus the line (1-based) of every key path."""

    def __init__(self, data, lines: dict[tuple, int], source: str) -> None:
        self.data = data
        self.lines = lines
        self.source = source

    def line_of(self, path: tuple) -> int | None:
        """Line of the deepest known prefix of ``path``."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def where(self, path: tuple) -> str:
        line = self.line_of(path)
        dotted = ".".join(str(p) for p in path) or "(top level)"
        return f"{self.source}" + (f", line {line}" if line else "") + f", key {dotted}"


def _walk(node, path: tuple, lines: dict) -> object:
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = _walk(key_node, path, lines)
            try:
                hash(key)
            except TypeError as exc:
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: a key must be a plain value"
                ) from exc
            if key in out:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice")
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _walk(value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            items.append(_walk(item, path + (i,), lines))
        return items
    return _SCALARS.construct_object(node, deep=True)


_SCALARS = yaml.SafeLoader("")


def load_yaml(
    path: str | Path | None = None, *, text: str | None = None, source: str | None = None
) -> YamlDoc:
    """Load a YAML file (or ``text``) safely, keeping key line numbers."""
    if text is None:
        if path is None:
            raise ConfigError("load_yaml needs a path or text")
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"{p}: file not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read: {exc}") from exc
        source = source or str(p)
    source = source or "<text>"
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}{where}: not valid YAML: {problem}") from exc
    if node is None:
        raise ConfigError(f"{source}: the file is empty")
    lines: dict[tuple, int] = {}
    try:
        data = _walk(node, (), lines)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    return YamlDoc(data, lines, source)


def format_validation_error(exc, doc: YamlDoc, what: str) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into one ConfigError naming file, line, key."""
    messages = []
    for err in exc.errors():
        loc = tuple(
            p
            for p in err["loc"]
            if not (isinstance(p, str) and p.startswith(("function-", "tagged-union")))
        )
        # a device's "kind:driver" (the union's tag) is inserted into the path: drop it
        clean = list(loc)
        if len(clean) >= 3 and clean[0] == "devices":
            device = (
                doc.data.get("devices", {}).get(clean[1]) if isinstance(doc.data, dict) else None
            )
            if isinstance(device, dict) and isinstance(clean[2], str) and clean[2] not in device:
                del clean[2]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check spelling; see the reference in README.md)"
        messages.append(f"{doc.where(tuple(clean))}: {msg}")
    return ConfigError(f"invalid {what}:\n  " + "\n  ".join(messages))
