"""Files that ship inside the package: the ready label configs and the example scenarios.

In a source checkout they are the top-level `label_configs/` and `examples/` folders; in an
installed wheel the same files, mapped to `ls_context.label_configs` and `ls_context.examples`.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

from .errors import LSContextError


def folder(package: str) -> Path:
    """A shipped folder as a path on disk (wheels install as plain files)."""
    with as_file(files(package)) as path:
        return Path(path)


def label_configs() -> Path:
    return folder("ls_context.label_configs")


def examples() -> Path:
    return folder("ls_context.examples")


def shipped_configs() -> list[str]:
    """Names of the ready label configs, such as "text-classification"."""
    return sorted(path.stem for path in label_configs().glob("*.xml"))


def config_path(name_or_path: str) -> Path:
    """A label config file given by path, or by the name of a shipped one."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = label_configs() / f"{Path(name_or_path).stem}.xml"
    if shipped.is_file() and ("/" not in name_or_path):
        return shipped
    raise LSContextError(f"{name_or_path}: no such file, and no shipped config of that name "
                         f"(shipped: {', '.join(shipped_configs())})")
