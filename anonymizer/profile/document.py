"""A profile file kept as YAML nodes, so that every problem can name its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from anonymizer.errors import ProfileError, did_you_mean


def builtin_dir() -> Path:
    """Folder of the built-in profiles (installed package data, or the source tree)."""
    from importlib.resources import files

    packaged = Path(str(files("anonymizer"))) / "profiles"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "profiles"


class Document:
    """A parsed YAML document kept as nodes, so every error can name its line."""

    def __init__(self, path: Path):
        self.source = display(path)
        try:
            text = path.read_text(encoding="utf-8")
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise ProfileError(f"invalid YAML ({getattr(exc, 'problem', 'syntax')})", self.source, line) from None
        except (OSError, UnicodeDecodeError):
            raise ProfileError("cannot read profile file", self.source) from None
        if node is None:
            raise ProfileError("empty profile", self.source)
        self.root = node
        self._constructor = yaml.SafeLoader("")
        self.problems: list[ProfileError] = []  # reported together, each with its line

    def fail(self, node: yaml.Node, message: str) -> ProfileError:
        return ProfileError(message, self.source, node.start_mark.line + 1)

    def mapping(self, node: yaml.Node, allowed: frozenset[str], what: str) -> dict[str, yaml.Node]:
        """The keys of a mapping; unknown and duplicate keys are recorded as problems and left out."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f" (allowed: {', '.join(sorted(allowed))})"
                self.problems.append(self.fail(key_node, f"unknown key {key!r} in {what}{hint}"))
            elif key in out:
                self.problems.append(self.fail(key_node, f"duplicate key {key!r} in {what}"))
            else:
                out[key] = value_node
        return out

    def value(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def text(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            raise self.fail(node, f"{what} must be a non-empty string")
        return str(node.value)

    def choice(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> str:
        value = self.text(node, what)
        if value not in allowed:
            raise self.fail(node, f"{what} must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return list(node.value)


def display(path: Path) -> str:
    """Built-in profiles are named relative to the profiles folder, others as given."""
    try:
        return "profiles/" + str(path.resolve().relative_to(builtin_dir().resolve()))
    except ValueError:
        return str(path)
