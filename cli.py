"""The `dr2` command line: parses options and calls the stage functions, nothing more."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dr2prep.audio.extractor import FEATURE_KINDS
from dr2prep.device import DEVICE_CHOICES
from dr2prep.errors import Dr2Error
from dr2prep.progress import set_quiet
from dr2prep.keypoints.stage import BACKENDS as KEYPOINT_BACKENDS
from dr2prep.pipeline import STAGES
from dr2prep.workspace import DEFAULT_WORKSPACE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workspace", type=click.Path(path_type=Path), default=DEFAULT_WORKSPACE, show_default=True,
              help="Directory holding one folder per clip.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True,
              help="Where training, fitting and synthesis run.")
@click.option("--quiet", is_flag=True, help="No progress bars or status lines.")
@click.version_option(package_name="dr2")
@click.pass_context
def dr2(ctx: click.Context, workspace: Path, device: str, quiet: bool) -> None:
    """dr2: co-speech gestures of one speaker from about two minutes of video (DR², WACV 2024)."""
    set_quiet(quiet)
    ctx.obj = {"workspace": workspace, "device": device}


@dr2.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--clip", help="Clip name in the workspace (default: the video's file name).")
@click.option("--until", "until", type=click.Choice(STAGES), help="Run the stages up to and including this one.")
@click.option("--only", "only", type=click.Choice(STAGES), help="Run just this stage.")
@click.option("--force", is_flag=True, help="Re-run the selected stages even when up to date.")
@click.option("--keypoints", "keypoint_backend", type=click.Choice(KEYPOINT_BACKENDS), default="mediapipe", show_default=True,
              help="Keypoint detector: MediaPipe Holistic (built in, offline), OpenPose (needs pyopenpose), "
                   "or import OpenPose JSON.")
@click.option("--keypoints-dir", type=click.Path(path_type=Path),
              help="With --keypoints import: folder of OpenPose *_keypoints.json.")
@click.option("--openpose-models", type=click.Path(path_type=Path),
              help="With --keypoints openpose: OpenPose's models/ folder.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes for keypoint detection (same result for any number).")
@click.option("--overlay", is_flag=True, help="Also write overlay videos (e.g. keypoints/overlay.mp4) to eyeball.")
@click.option("--audio-features", "feature_kind", type=click.Choice(FEATURE_KINDS),
              help="Audio feature extractor [default: deepspeech when a graph is given, else builtin].")
@click.option("--deepspeech-graph", type=click.Path(path_type=Path), envvar="DR2_DEEPSPEECH_GRAPH",
              help="output_graph.pb of DeepSpeech v0.1.0: gives the paper's audio features [env DR2_DEEPSPEECH_GRAPH].")
@click.pass_obj
def prep(obj: dict, video: Path, clip: str | None, until: str | None, only: str | None, force: bool,
         keypoint_backend: str, keypoints_dir: Path | None, openpose_models: Path | None, workers: int, overlay: bool,
         feature_kind: str | None, deepspeech_graph: Path | None) -> None:
    """Turn VIDEO into training data: frames + audio, 2D keypoints, audio features."""
    from dr2prep.audio import AudioFeatureSettings, default_kind
    from dr2prep.device import resolve_device
    from dr2prep.keypoints.stage import KeypointSettings
    from dr2prep.pipeline import PrepSettings, prepare_clip

    keypoints = KeypointSettings(backend=keypoint_backend,
                                 import_dir=str(keypoints_dir or ""),
                                 openpose_models=str(openpose_models or ""))
    audio = AudioFeatureSettings(kind=feature_kind or default_kind(deepspeech_graph),
                                 deepspeech_graph=str(deepspeech_graph) if deepspeech_graph else None)
    clip_dir = prepare_clip(video, obj["workspace"], clip=clip, until=until, only=only, force=force,
                            settings=PrepSettings(keypoints=keypoints, audio_features=audio),
                            device=resolve_device(obj["device"]), workers=workers, overlay=overlay)
    click.echo(str(clip_dir))


@dr2.command()
@click.pass_obj
def demo(obj: dict) -> None:
    """Run the chain on an input the demo generates itself (what `make demo` runs)."""
    from dr2model.demo import run_demo
    from dr2prep.device import resolve_device

    click.echo(str(run_demo(obj["workspace"], device=resolve_device(obj["device"]))))


@dr2.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def info(as_json: bool) -> None:
    """Versions, ffmpeg, CUDA devices and available stages."""
    import json

    from dr2prep.info import collect_info, format_info

    data = collect_info()
    click.echo(json.dumps(data, indent=2) if as_json else format_info(data))


def main() -> None:
    """Entry point: user-fixable problems become one line and exit code 2."""
    try:
        dr2.main(standalone_mode=False)
    except Dr2Error as error:
        click.echo(f"dr2: error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("dr2: interrupted; finished stages are kept", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("dr2: interrupted; finished stages are kept", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
