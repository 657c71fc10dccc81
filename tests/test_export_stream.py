"""Reading a Label Studio export one task at a time: same tasks as json.load, the file never held whole."""

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ls_context.quality.export import ExportError, _TaskList, iter_export

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=10)
TASK = st.fixed_dictionaries({"id": st.integers(1, 10**6), "data": st.dictionaries(TEXT, VALUE, max_size=3)})


def read(raw: bytes) -> list:
    return list(iter_export(io.BytesIO(raw), "export.json"))


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few bytes, so tasks, strings and multi-byte characters cross chunk edges."""
    monkeypatch.setattr(_TaskList, "CHUNK", 7)


@settings(max_examples=60, deadline=None)
@given(tasks=st.lists(TASK, max_size=6), indent=st.sampled_from([None, 1]), ascii_only=st.booleans())
def test_the_tasks_are_those_json_load_reads(tasks, indent, ascii_only):
    raw = json.dumps(tasks, indent=indent, ensure_ascii=ascii_only).encode()
    _TaskList.CHUNK, saved = 5, _TaskList.CHUNK
    try:
        assert read(raw) == json.loads(raw)
    finally:
        _TaskList.CHUNK = saved


def test_a_task_is_read_before_the_rest_of_the_file(small_chunks):
    tasks = [{"id": n, "data": {"text": "é" * 50}} for n in range(200)]
    handle = io.BytesIO(json.dumps(tasks, ensure_ascii=False).encode())
    stream = iter_export(handle)

    assert next(stream) == tasks[0]
    assert handle.tell() < 1000 < len(handle.getvalue())
    assert list(stream) == tasks[1:]


@pytest.mark.parametrize("raw", [b"[]", b"  \n[ ]\n", b"\xef\xbb\xbf[]"])
def test_empty_lists_and_a_byte_order_mark_are_fine(raw):
    assert read(raw) == []


def test_a_byte_order_mark_before_tasks_is_skipped():
    assert read(b"\xef\xbb\xbf [{\"id\": 1}]") == [{"id": 1}]


@pytest.mark.parametrize("raw, message", [
    (b"not json", "is not valid JSON"),
    (b"", "is not valid JSON"),
    (b'{"tasks": []}', "must be a JSON list of tasks"),
    (b"[1, 2]", "item 1 of the export is not a task object"),
    (b'[{"id": 1}, "x"]', "item 2 of the export is not a task object"),
    (b'[{"id": 1} {"id": 2}]', "expected ',' or ']' after task 1"),
    (b'[{"id": 1},', "is not valid JSON"),
    (b'[{"id": 1}', "the file ends inside the list"),
    (b'[{"id": 1, "data": {"text": "cut', "is not valid JSON"),
    (b'[{"id": 1}] trailing', "text after the list of tasks"),
    (b'[{"id": 1, "data": \xff}]', "not valid UTF-8"),
    (b"[" + b"[" * 200_000, "nests too deeply"),
])
def test_bad_exports_are_one_clear_error(raw, message, small_chunks):
    with pytest.raises(ExportError, match="export.json: .*" + message.replace("(", r"\(")):
        read(raw)


def test_a_task_too_large_to_be_real_stops_reading(monkeypatch):
    monkeypatch.setattr(_TaskList, "MAX_TASK", 1000)
    monkeypatch.setattr(_TaskList, "CHUNK", 100)
    handle = io.BytesIO(b'[{"id": 1, "data": {"text": "' + b"x" * 100_000)

    with pytest.raises(ExportError, match="is not valid JSON"):
        list(iter_export(handle, "export.json"))
    assert handle.tell() < 10_000  # gave up long before the end


def test_a_file_cut_between_two_tasks_says_it_ends_early():
    with pytest.raises(ExportError, match=r"the file ends inside the list, after task 2"):
        read(b'[{"id": 1}, {"id": 2}, ')
