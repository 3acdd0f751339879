"""YAML input with bounds, for config files and ``--world KEY=VALUE`` values.

* Safe: only plain data (`yaml.SafeLoader`), never objects.
* Bounded: files larger than `MAX_BYTES` are refused before they are read, and a document
  whose nodes, with every alias counted as the size of what it repeats, exceed `MAX_NODES`
  is refused while it is parsed, so a small "billion laughs" file of nested aliases fails at
  once instead of exhausting memory in whatever later walks it.
* Numbers as YAML 1.2 reads them: ``1e-3`` and ``2E5`` are floats (YAML 1.1, PyYAML's
  default, reads them as strings because they lack a dot).
* Unique keys: a mapping that repeats a key is an error (YAML 1.2 requires unique keys;
  PyYAML would silently keep the last value).

Every failure is a `ValueError` naming the source (file or option) and, for a syntax
error, its line and column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20
MAX_NODES = 100_000

_FLOAT_1_2 = re.compile(r"""^(?:
      [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    | [-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    | [-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    | [-+]?\.(?:inf|Inf|INF)
    | \.(?:nan|NaN|NAN)
    )$""", re.VERBOSE)


class _TooLarge(yaml.YAMLError):
    pass


class BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` with YAML 1.2 floats and a bound on the expanded node count."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._nodes = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            anchor = self.peek_event().anchor
            if anchor in self.anchors:
                self._count(self._size(self.anchors[anchor]))
        else:
            self._count(1)
        return super().compose_node(parent, index)

    def _count(self, n: int) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise _TooLarge(f"more than {MAX_NODES:,} values once its aliases are expanded "
                            "(an alias bomb?)")

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # << keys: merged, not repeated
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool):
                    continue  # a list or mapping as a key: PyYAML refuses it itself
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} appears twice in one mapping",
                        key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)

    def _size(self, node: Any) -> int:
        """Nodes under ``node``, every repetition counted (memoised: aliases share nodes)."""
        key = id(node)
        if key not in self._sizes:
            if isinstance(node, yaml.SequenceNode):
                size = 1 + sum(self._size(child) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                size = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
            else:
                size = 1
            self._sizes[key] = min(size, MAX_NODES + 1)
        return self._sizes[key]


BoundedLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2,
                                    list("-+0123456789."))


def load_yaml(text: str, source: str) -> Any:
    """Parse ``text`` (from ``source``, named in errors) with `BoundedLoader`."""
    if len(text) > MAX_BYTES:
        raise ValueError(f"{source} is larger than {MAX_BYTES // 1024} KiB; a config is a "
                         "few lines")
    try:
        return yaml.load(text, Loader=BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except _TooLarge as exc:
        raise ValueError(f"{source} is too large: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"malformed YAML in {source}{where}: {problem}") from None
    except RecursionError:
        raise ValueError(f"{source} is nested too deeply to be a config") from None


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """Load a YAML file: missing, unreadable, too large, not UTF-8 text or malformed files
    raise ValueError naming the file."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ValueError(f"{what} {path} is a folder, not a YAML file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ValueError(f"{what} {path} is {size:,} bytes, larger than the "
                             f"{MAX_BYTES // 1024} KiB a config may have")
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} {path} is not UTF-8 text (byte {exc.start}: "
                         f"{data[exc.start:exc.start + 1]!r}); is it a YAML file?") from None
    return load_yaml(text, f"{what} {path}")
