"""The stage cache on its own: what makes a stage re-run, and what survives a crash."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dr2prep.stage import StageSpec, fingerprint_path, read_record, run_stage

SPEC = StageSpec(name="double", version="1", outputs=("double",))


@dataclass(frozen=True)
class Settings:
    factor: int = 2


def make_builder(calls: list, fail_after_write: bool = False):
    def build(partial):
        calls.append(partial)
        (partial / "double").mkdir(exist_ok=True)
        (partial / "double" / "value.txt").write_text(str(len(calls)))
        if fail_after_write:
            raise KeyboardInterrupt  # what a crash looks like from inside the stage
        return {"calls": len(calls)}

    return build


def test_skips_when_inputs_and_settings_match(tmp_path):
    calls = []
    first = run_stage(tmp_path, SPEC, {"x": "a"}, Settings(), make_builder(calls))
    again = run_stage(tmp_path, SPEC, {"x": "a"}, Settings(), make_builder(calls))
    assert (first.skipped, again.skipped) == (False, True)
    assert len(calls) == 1


@pytest.mark.parametrize(
    "change",
    [
        dict(inputs={"x": "b"}),
        dict(settings=Settings(factor=3)),
        dict(spec=StageSpec(name="double", version="2", outputs=("double",))),
        dict(force=True),
    ],
)
def test_reruns_when_something_changed(tmp_path, change):
    calls = []
    run_stage(tmp_path, SPEC, {"x": "a"}, Settings(), make_builder(calls))
    arguments = dict(spec=SPEC, inputs={"x": "a"}, settings=Settings(), force=False) | change
    outcome = run_stage(tmp_path, arguments["spec"], arguments["inputs"], arguments["settings"],
                        make_builder(calls), force=arguments["force"])
    assert not outcome.skipped and len(calls) == 2
    assert (tmp_path / "double" / "value.txt").read_text() == "2"


def test_reruns_when_an_output_is_deleted_or_record_damaged(tmp_path):
    calls = []
    run_stage(tmp_path, SPEC, {}, None, make_builder(calls))
    (tmp_path / "double" / ".stage.json").write_text("{not json")
    run_stage(tmp_path, SPEC, {}, None, make_builder(calls))
    assert len(calls) == 2


def test_crash_inside_build_keeps_the_previous_result(tmp_path):
    calls = []
    run_stage(tmp_path, SPEC, {"x": "a"}, None, make_builder(calls))
    with pytest.raises(KeyboardInterrupt):
        run_stage(tmp_path, SPEC, {"x": "b"}, None, make_builder(calls, fail_after_write=True))
    assert (tmp_path / "double" / "value.txt").read_text() == "1"
    assert read_record(tmp_path, "double")["inputs"] == {"x": "a"}


def test_resumable_stage_keeps_partial_work_only_for_the_same_key(tmp_path):
    spec = StageSpec(name="double", version="1", outputs=("double",), resumable=True)
    seen = []

    def crash(partial):
        (partial / "chunk-000.npz").write_text("done")
        raise KeyboardInterrupt

    def finish(partial):
        seen.append((partial / "chunk-000.npz").exists())
        (partial / "double").mkdir()
        (partial / "double" / "value.txt").write_text("ok")

    with pytest.raises(KeyboardInterrupt):
        run_stage(tmp_path, spec, {"x": "a"}, None, crash)
    run_stage(tmp_path, spec, {"x": "a"}, None, finish)  # same key: resumes
    with pytest.raises(KeyboardInterrupt):
        run_stage(tmp_path, spec, {"x": "a"}, None, crash, force=True)
    run_stage(tmp_path, spec, {"x": "b"}, None, finish)  # new key: starts afresh
    assert seen == [True, False]


def test_directory_fingerprint_follows_content_not_records(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("1")
    before = fingerprint_path(tmp_path / "d")
    (tmp_path / "d" / ".stage.json").write_text("{}")
    assert fingerprint_path(tmp_path / "d") == before
    (tmp_path / "d" / "a.txt").write_text("2")
    assert fingerprint_path(tmp_path / "d") != before
