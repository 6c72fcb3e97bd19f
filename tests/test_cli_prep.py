"""`dr2 prep` of several videos through the thin CLI: what it prints when a shard is empty, and --clip refused."""

from __future__ import annotations

from tests.cli_runner import assert_one_line_error, run_dr2


def test_an_empty_shard_says_so_and_does_nothing(make_video, tmp_path):
    one, two = make_video(0.5), make_video(0.5)
    result = run_dr2("prep", one, two, "--shard", "01/3", "--until", "media", workspace=tmp_path / "ws", check=True)
    assert result.stdout.strip() == "shard 1/3 holds no videos (there are fewer videos than shards); nothing to do"
    assert not (tmp_path / "ws" / one.stem).exists()


def test_clip_with_several_videos_is_one_line(make_video, tmp_path):
    one, two = make_video(0.5), make_video(0.5)
    result = run_dr2("prep", one, two, "--clip", "x", workspace=tmp_path / "ws")
    assert_one_line_error(result, "--clip names one clip")
