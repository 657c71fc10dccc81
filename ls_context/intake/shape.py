"""What every request body must be before anything is stored or computed from it.

Label Studio's payloads are nested JSON whose fields end up in database columns and in the model:
a field that would fail later (an id beyond the column's range, a string PostgreSQL cannot store,
a number that is not a number, nesting that would exhaust the stack) is refused here, with the
field's path, so it is stored nowhere.
"""

from __future__ import annotations

import json
import math

from ls_context.errors import LSContextError, first_line

MAX_DEPTH = 32  # Label Studio's own payloads nest about 8 deep
MAX_ID = 2**31 - 1  # ids are INTEGER columns on PostgreSQL
MAX_STAMP = 40  # an ISO timestamp with microseconds and offset fits


class BadInput(LSContextError):
    """A request body that ls-context refuses; the message names the field."""


def parse(raw: bytes):
    """JSON as Python values, refusing NaN and Infinity (not JSON, and PostgreSQL's JSON refuses them)."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise BadInput(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BadInput(f"the body is not valid JSON: {first_line(error, 200)}") from None
    check_tree(value)
    return value


def check_tree(value) -> None:
    """Refuse nesting beyond MAX_DEPTH and strings that cannot be stored (lone surrogates); no recursion."""
    stack = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadInput(f"the body nests deeper than {MAX_DEPTH} levels (at {path or 'the top'})")
        if isinstance(node, dict):
            for key, child in node.items():
                _check_text(key, f"{path}.{key!r}" if path else repr(key))
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(node))
        elif isinstance(node, str):
            _check_text(node, path)
        elif isinstance(node, float) and not math.isfinite(node):
            raise BadInput(f"'{path}' must be a finite number")


def an_id(value, field: str, optional: bool = False) -> int | None:
    """A Label Studio id: a positive integer (never a boolean) that fits the store's columns."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise BadInput(f"'{field}' must be an integer id between 1 and {MAX_ID}")
    return value


def an_object(value, field: str, optional: bool = False) -> dict:
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise BadInput(f"'{field}' must be an object")
    return value


def a_string(value, field: str, longest: int | None = None, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (longest is not None and len(value) > longest):
        raise BadInput(f"'{field}' must be a string" + (f" of at most {longest} characters" if longest else ""))
    return value


def a_number(value, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadInput(f"'{field}' must be a number")
    return value


def a_result(value, field: str) -> list:
    """An annotation's or prediction's result: a list of region objects whose names and values have the right types."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadInput(f"'{field}' must be a list")
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        an_object(item, where)
        for key in ("from_name", "to_name", "type", "id"):
            a_string(item.get(key), f"{where}.{key}", longest=200)
        an_object(item.get("value"), f"{where}.value", optional=True)
    return value


def _check_text(text, path: str) -> None:
    if isinstance(text, str):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadInput(f"'{path or 'the body'}' holds text that is not valid Unicode (a lone surrogate)") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")
