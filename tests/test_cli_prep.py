"""`dr2 prep` through the thin CLI: what it prints when a shard is empty, --clip refused, the fit options' defaults."""

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


def test_the_fit_options_default_to_fit_settings():
    """`prep`, `fit-smplx` and `dr2.fit_settings` cannot import FitSettings (torch) for their defaults; they read
    dr2prep.fit_defaults, as FitSettings does: each must show the stage's."""
    import inspect

    import cli
    import dr2
    from dr2prep.fitting.fit import FitSettings

    stage = FitSettings()
    api = inspect.signature(dr2.fit_settings).parameters
    for name in ("mode", "focal_length", "motion_weight", "window", "low_pass_hz"):
        assert api[name].default == getattr(stage, name), name
        for command in (cli.prep, cli.fit_smplx):
            (option,) = [p for p in command.params if p.name == name]
            assert option.default == getattr(stage, name), (command.name, name)
