"""The files under IN, in the order that numbers them (their *ordinals*)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def discover(root: Path) -> Iterator[Path]:
    """Every regular file under ``root``, in sorted order, symlinked folders not followed.

    ``root`` may be one file. A file's ordinal is its 1-based position in this order.
    """
    if root.is_file():
        yield root
        return
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            if path.is_file():
                yield path
