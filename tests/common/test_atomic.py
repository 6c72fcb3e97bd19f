"""Atomic writes: readers see the old file or the whole new one; a failed write leaves no trace."""

import json

import numpy as np
import pytest

from dr2common.atomic import atomic_path, savez_atomic, savez_compressed_atomic, write_json_atomic, write_text_atomic


def test_each_writer_replaces_the_file_and_leaves_no_temporary(tmp_path):
    write_json_atomic(tmp_path / "sub" / "a.json", {"b": 1, "a": [2]})
    assert (tmp_path / "sub" / "a.json").read_text() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
    write_text_atomic(tmp_path / "page.html", "<p>é</p>")
    savez_atomic(tmp_path / "x.npz", x=np.arange(3))
    savez_compressed_atomic(tmp_path / "x.npz", x=np.arange(4))  # over the old one
    with np.load(tmp_path / "x.npz") as data:
        assert data["x"].tolist() == [0, 1, 2, 3]
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == "<p>é</p>"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.json", "page.html", "sub", "x.npz"]


def test_an_error_while_writing_keeps_the_old_file_and_removes_the_partial_one(tmp_path):
    target = tmp_path / "report.json"
    write_json_atomic(target, {"old": True})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"new": object()})  # not JSON: fails half way through the dump
    assert json.loads(target.read_text()) == {"old": True}
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "video.mp4") as partial:
            partial.write_bytes(b"half a video")
            raise RuntimeError("the encoder died")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
