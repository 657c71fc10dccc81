"""The README's commands, read from the README itself, so that a test runs them as a reader would copy them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def bash_lines() -> list[str]:
    """Every command line of every ```bash block, comments removed."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def command(start: str, **values) -> list[str]:
    """The arguments after `ls-context` of the one README line that starts with `start`, with `values` replaced.

    `values` maps a word of the line (a placeholder such as "12" or "gold.json") to what the test uses.
    """
    [line] = [line for line in bash_lines() if line.startswith(start)]
    words = shlex.split(line)
    words = words[words.index(next(w for w in words if w.endswith("ls-context"))) + 1:]
    return [str(values.get(word, word)) for word in words]
