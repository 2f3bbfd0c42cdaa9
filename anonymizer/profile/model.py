"""The composed profile as data: :class:`Rule` and :class:`Profile` (frozen)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anonymizer.pixels.rules import PixelPolicy
from anonymizer.profile.selector import Selector

DEFAULT_SHIFT = (-3650, -365)


@dataclass(frozen=True)
class Rule:
    """One rule: which elements, what action, with which parameters, set where."""

    selector: Selector
    action: str
    params: Mapping[str, Any]
    origin: str
    base: Path | None = None  # folder for relative file parameters (lookup CSV)
    table: bool = False  # a row of Table E.1-1 or its supplement (not a profile's own rule)


@dataclass(frozen=True)
class Profile:
    """A composed, validated profile; immutable."""

    name: str
    version: str
    description: str
    source: str
    options: tuple[str, ...]
    rules: tuple[Rule, ...]
    private_tags: str = "remove"
    unlisted_tags: str = "keep"
    shift_days: tuple[int, int] = DEFAULT_SHIFT
    layout: str | None = None
    project: str = ""
    pixels: PixelPolicy = field(default_factory=PixelPolicy)
