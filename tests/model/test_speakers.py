"""The several-clips note of `dr2 train` (dr2model/speakers.py)."""

from __future__ import annotations

from dr2model.speakers import several_clips_note


def test_several_clips_get_the_one_speaker_note_and_one_clip_none():
    assert several_clips_note(["a"]) is None
    note = several_clips_note(["a", "b"])
    assert note is not None and "a, b" in note and "one speaker" in note
