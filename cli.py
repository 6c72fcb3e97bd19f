"""The `dr2` command line: parses options and calls one function of the Python API (`import dr2`), nothing more.

Nothing heavy is imported at start-up (choice lists come from light modules), so `--help` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dr2prep import fit_defaults
from dr2prep.choices import FEATURE_KINDS, FIT_MODES, KEYPOINT_BACKENDS, STAGES
from dr2model.choices import AUDIO_CHANNELS, LOOKS
from dr2common.device import DEVICE_CHOICES
from dr2common.errors import Dr2Error
from dr2common.rates import FPS  # a low-pass cutoff must stay below half of it (dr2common.low_pass.cutoff_problem)
from dr2prep.workspace import DEFAULT_WORKSPACE

# `dr2` alone shows its help through this usage error (click 8.2 and later; 8.1 exits normally instead)
NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


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
    if quiet or "dr2common.progress" in sys.modules:  # not loaded yet: not quiet already, and `--help` needs no tqdm
        from dr2common.progress import set_quiet

        set_quiet(quiet)
    ctx.obj = {"workspace": workspace, "device": device}


def fit_options(command):
    """The options of the SMPL-X fit, shared by `prep` and `fit-smplx`."""
    options = [
        click.option("--smplx-model", help="'open' or the path of SMPL-X's SMPLX_NEUTRAL.npz (.pkl is refused) "
                                           "[default: $DR2_SMPLX_MODEL, else the open body]."),
        click.option("--mode", type=click.Choice(FIT_MODES), default=fit_defaults.MODE, show_default=True,
                     help="window: frames of a window together (fast); sequential: frame after frame (the paper); "
                          "per-frame: no temporal terms."),
        click.option("--focal-length", type=click.FloatRange(min=1.0), default=fit_defaults.FOCAL_LENGTH,
                     show_default=True, help="Pinhole focal length in px; principal point at the image centre."),
        click.option("--motion-weight", type=click.FloatRange(min=0.0), default=fit_defaults.MOTION_WEIGHT,
                     show_default=True,
                     help="ω of DR²'s motion loss per rad² (the data term is in mm at the body)."),
        click.option("--window", type=click.IntRange(min=1), default=fit_defaults.WINDOW, show_default=True,
                     help="Frames optimised together in window mode."),
        click.option("--vposer", type=click.Path(path_type=Path), help="VPoser v1.0 snapshot: body prior and code."),
        click.option("--low-pass-hz", type=click.FloatRange(min=0.0, max=FPS / 2, max_open=True),
                     default=fit_defaults.LOW_PASS_HZ, show_default=True,
                     help="Low-pass the finished fit at this frequency within shots, removing keypoint jitter "
                          "(0: keep the raw fit)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def fit_settings(mode: str, focal_length: float, motion_weight: float, window: int, vposer: Path | None,
                 low_pass_hz: float):
    import dr2

    return dr2.fit_settings(mode=mode, focal_length=focal_length, motion_weight=motion_weight, window=window,
                            vposer=vposer, low_pass_hz=low_pass_hz)


@dr2.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--clip", help="Clip name in the workspace (default: the video's file name); one video only.")
@click.option("--replace", is_flag=True,
              help="The clip name holds another video's clip: discard that clip and prepare this video under it.")
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
@click.option("--workers", default="auto", show_default=True,
              help="Processes per video for keypoint detection and the fit's shots: a number, or auto (the cores, "
                   "shared among --jobs); same result for any number.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Videos prepared at once when given several videos or a folder.")
@click.option("--shard", help="K/N: prepare only the K-th of N slices of the sorted videos (for cluster array jobs).")
@click.option("--overlay", is_flag=True, help="Also write overlay videos (e.g. keypoints/overlay.mp4) to eyeball.")
@click.option("--audio-features", "feature_kind", type=click.Choice(FEATURE_KINDS),
              help="Audio feature extractor [default: deepspeech when a graph is given, else builtin].")
@click.option("--deepspeech-graph", type=click.Path(path_type=Path),
              help="output_graph.pb of DeepSpeech v0.1.0: gives the paper's audio features [env DR2_DEEPSPEECH_GRAPH].")
@fit_options
@click.pass_obj
def prep(obj: dict, videos: tuple[Path, ...], clip: str | None, replace: bool, until: str | None, only: str | None,
         force: bool, keypoint_backend: str, keypoints_dir: Path | None, openpose_models: Path | None, workers: str,
         jobs: int, shard: str | None, overlay: bool, feature_kind: str | None, deepspeech_graph: Path | None,
         smplx_model: str | None, mode: str, focal_length: float, motion_weight: float, window: int,
         vposer: Path | None, low_pass_hz: float) -> None:
    """Turn each video (or the videos in a FOLDER) into training data: frames + audio, 2D keypoints, SMPL-X fit,
    audio features. Several videos: each its own clip, a summary table at the end, exit code 1 if any failed."""
    import dr2

    options = dict(until=until, only=only, force=force, replace=replace, keypoints=keypoint_backend,
                   keypoints_dir=keypoints_dir, openpose_models=openpose_models, workers=workers, overlay=overlay,
                   feature_kind=feature_kind, deepspeech_graph=deepspeech_graph, smplx_model=smplx_model,
                   fit=fit_settings(mode, focal_length, motion_weight, window, vposer, low_pass_hz),
                   device=obj["device"])
    if len(videos) == 1 and not videos[0].is_dir() and shard is None:
        click.echo(str(dr2.prepare(videos[0], obj["workspace"], clip=clip, **options)))
        return
    if clip:
        raise Dr2Error("--clip names one clip, so it needs exactly one video; several videos are named after their files")
    results = dr2.prepare_many(videos, obj["workspace"], jobs=jobs, shard=shard, **options)
    if not results:  # only an empty shard gives none
        from dr2prep.batch import parse_shard

        k, n = parse_shard(shard)
        click.echo(f"shard {k}/{n} holds no videos (there are fewer videos than shards); nothing to do")
        return
    click.echo(dr2.summary_table(results, until, only))
    if any(r.error for r in results):
        sys.exit(1)


@dr2.command("fit-smplx")
@click.argument("clip")
@fit_options
@click.option("--overlay", is_flag=True, help="Also write smplx/overlay.mp4 (the fitted body over the frames).")
@click.option("--force", is_flag=True, help="Refit even when up to date.")
@click.option("--workers", default="auto", show_default=True,
              help="Processes fitting the clip's shots side by side: a number, or auto (the cores); same result "
                   "for any number.")
@click.pass_obj
def fit_smplx(obj: dict, clip: str, smplx_model: str | None, mode: str, focal_length: float, motion_weight: float,
              window: int, vposer: Path | None, low_pass_hz: float, overlay: bool, force: bool, workers: str) -> None:
    """Re-run only the SMPL-X fit of CLIP (a clip directory, or a clip name in the workspace)."""
    import dr2

    fit = fit_settings(mode, focal_length, motion_weight, window, vposer, low_pass_hz)
    click.echo(str(dr2.fit_smplx(clip, obj["workspace"], fit, smplx_model, force=force, overlay=overlay,
                                 device=obj["device"], workers=workers)))


@dr2.command()
@click.option("--clips", "clips", multiple=True, required=True, type=click.Path(path_type=Path),
              help="A prepared clip directory (WORKSPACE/CLIP); repeat for several clips.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("dr2-model"), show_default=True,
              help="Model directory (checkpoints, config, codecs, TensorBoard logs).")
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True, help="Passes over all windows.")
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop after this many steps (overrides --epochs).")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--sigma", type=click.FloatRange(0.0, 1.0), default=0.2, show_default=True,
              help="Eq. 1 noise on the initial state (paper: 0.1-0.3; diversity vs continuity).")
@click.option("--posture-weight", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
              help="Weight of the unpaired posture loss that keeps samples apart (0: the loss set without it).")
@click.option("--absolute-pose", is_flag=True,
              help="Decoders give absolute poses (the paper's output) instead of offsets from the initial state.")
@click.option("--audio-channels", type=click.Choice(AUDIO_CHANNELS), default="all", show_default=True,
              help="What the network hears of the built-in audio features: all channels, or only their prosody "
                   "(loudness, voicing, pitch, onsets; try it when gestures shrink on new speech). DeepSpeech "
                   "features are heard whole.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--standing", is_flag=True, help="Standing speaker: the body decoder also predicts translation.")
@click.option("--vposer", type=click.Path(path_type=Path), help="VPoser v1.0 snapshot for the body code.")
@click.option("--force", is_flag=True, help="Start over instead of resuming from the last checkpoint.")
@click.option("--audio-features", "feature_kind", type=click.Choice(FEATURE_KINDS),
              help="Audio features to train on when the clips hold several kinds [default: the one they hold].")
@click.pass_obj
def train(obj: dict, clips: tuple[Path, ...], out_dir: Path, epochs: int, max_steps: int | None, batch_size: int,
          learning_rate: float, sigma: float, posture_weight: float, seed: int, standing: bool, vposer: Path | None,
          force: bool, feature_kind: str | None = None, absolute_pose: bool = False,
          audio_channels: str = "all") -> None:
    """Train the audio2gestures network on prepared clips."""
    import dr2

    result = dr2.train(list(clips), out_dir, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                       learning_rate=learning_rate, sigma=sigma, posture_weight=posture_weight, seed=seed,
                       standing=standing, vposer=vposer, feature_kind=feature_kind, force=force,
                       absolute_pose=absolute_pose, audio_channels=audio_channels,
                       device=obj["device"])
    click.echo(str(result.model_dir))


@dr2.command()
@click.argument("speech", type=click.Path(path_type=Path))
@click.option("--model", "model_dir", type=click.Path(path_type=Path), default=Path("dr2-model"), show_default=True,
              help="Model directory written by `dr2 train`.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Output folder [default: WORKSPACE/synth].")
@click.option("--num-samples", type=click.IntRange(min=1), default=1, show_default=True,
              help="Sequences to generate for the same speech (one-to-many); sample k uses seed S+k.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the first sample.")
@click.option("--init-frame", type=click.IntRange(min=0),
              help="Start every sample from this training frame (0-based over the training clips in order); "
                   "default: a random training frame per sample.")
@click.option("--grid", is_flag=True, help="One preview with all samples side by side instead of one per sample.")
@click.option("--no-preview", is_flag=True, help="Write only the SMPL-X parameters (.npz), no video.")
@click.option("--view", "view_page", is_flag=True,
              help="Also write <speech>_view.html beside the results: all samples in 3D with the speech (offline).")
@click.option("--renderer", type=click.Choice(("auto", "builtin", "pyrender")), default="auto", show_default=True,
              help="Preview renderer: pyrender (needs pyrender-maintained and EGL/OSMesa), the built-in OpenCV one, "
                   "or auto (pyrender on a GPU, else built-in).")
@click.option("--look", type=click.Choice(LOOKS), default="person", show_default=True,
              help="Preview body: dressed as a person, or the plain wooden mannequin (faster to draw).")
@click.option("--smplx-model", envvar="DR2_SMPLX_MODEL",
              help="SMPL-X .npz the training clips were fitted with (default: the open body) [env DR2_SMPLX_MODEL].")
@click.option("--deepspeech-graph", type=click.Path(path_type=Path),
              help="output_graph.pb, for models trained on DeepSpeech features [env DR2_DEEPSPEECH_GRAPH].")
@click.option("--overlap", type=click.IntRange(1, 127),
              help="Frames consecutive windows share and cross-fade [default: dr2's; 1 = the paper's stride 127].")
@click.option("--state-noise", type=click.FloatRange(0.0, 1.0),
              help="Eq. 1 noise σ on each window's initial state as the network sees it [default: dr2's; "
                   "0 = the paper].")
@click.option("--anchor", type=click.FloatRange(0.0, 1.0),
              help="Pull of each window's initial state back to the sample's first [default: dr2's; 0 = the paper].")
@click.option("--low-pass-hz", type=click.FloatRange(0.0, FPS / 2, max_open=True),
              help="Low-pass of the generated motion in Hz [default: dr2's, the band of the fits it learnt from; "
                   "0 = off, the paper].")
@click.pass_obj
def synth(obj: dict, speech: Path, model_dir: Path, out_dir: Path | None, num_samples: int, seed: int,
          init_frame: int | None, grid: bool, no_preview: bool, renderer: str, smplx_model: str | None,
          deepspeech_graph: Path | None, overlap: int | None, state_noise: float | None,
          view_page: bool = False, anchor: float | None = None, look: str = "person",
          low_pass_hz: float | None = None) -> None:
    """Gestures for SPEECH (any length): SMPL-X parameters per frame (.npz) and a preview video with the audio."""
    import dr2

    outputs = dr2.synthesize(model_dir, speech, out_dir or obj["workspace"] / "synth", num_samples=num_samples,
                             seed=seed, init_frame=init_frame, preview=not no_preview, grid=grid, renderer=renderer,
                             smplx_model=smplx_model, deepspeech_graph=deepspeech_graph, overlap=overlap,
                             state_noise=state_noise, anchor=anchor, device=obj["device"], look=look,
                             low_pass_hz=low_pass_hz)
    for path in dict.fromkeys(p for o in outputs for p in (o.params_path, o.preview_path) if p is not None):
        click.echo(str(path))
    if view_page:
        page = outputs[0].params_path.with_name(f"{speech.stem}_view.html")
        click.echo(str(dr2.view([o.params_path for o in outputs], speech, page, smplx_model=smplx_model)))


@dr2.command("eval")
@click.option("--model", "model_dir", type=click.Path(path_type=Path),
              help="Model directory: evaluate its gestures for the clips' speech and each --audio.")
@click.option("--clips", "clips", multiple=True, type=click.Path(path_type=Path),
              help="Prepared clip (WORKSPACE/CLIP): its fit quality, and with --model gestures for its speech "
                   "against its fit; repeat for several.")
@click.option("--audio", "audio", multiple=True, type=click.Path(path_type=Path),
              help="Speech file to synthesise for (no ground truth); repeat for several. Needs --model.")
@click.option("--num-samples", type=click.IntRange(min=1), default=3, show_default=True,
              help="Samples per input (diversity needs two or more).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the report as JSON here.")
@click.option("--smplx-model", envvar="DR2_SMPLX_MODEL",
              help="SMPL-X .npz the clips were fitted with (default: the open body) [env DR2_SMPLX_MODEL].")
@click.option("--deepspeech-graph", type=click.Path(path_type=Path),
              help="output_graph.pb, for models trained on DeepSpeech features [env DR2_DEEPSPEECH_GRAPH].")
@click.pass_obj
def eval_command(obj: dict, model_dir: Path | None, clips: tuple[Path, ...], audio: tuple[Path, ...], num_samples: int,
                 seed: int, json_path: Path | None, smplx_model: str | None, deepspeech_graph: Path | None) -> None:
    """Beat consistency, diversity, FGD, jitter and L1 of synthesised gestures; fit quality of clips."""
    import dr2

    report = dr2.evaluate(model_dir, list(clips), list(audio), num_samples=num_samples, seed=seed, json_path=json_path,
                          smplx_model=smplx_model, deepspeech_graph=deepspeech_graph, device=obj["device"])
    click.echo(dr2.format_report(report))


@dr2.command()
@click.argument("result", type=click.Path(path_type=Path))
@click.option("--format", "formats", multiple=True, required=True,
              type=click.Choice(("bvh", "gltf", "amass", "fbx")),
              help="bvh (skeleton), gltf (.glb skinned body), amass (.npz of the SMPL-X Blender add-on), "
                   "fbx (through Blender's bpy: `make blender`); repeat for several.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Output file (one format) or folder [default: beside RESULT].")
@click.option("--smplx-model", envvar="DR2_SMPLX_MODEL",
              help="SMPL-X .npz the result was made with (default: the open body) [env DR2_SMPLX_MODEL].")
def export(result: Path, formats: tuple[str, ...], out: Path | None, smplx_model: str | None) -> None:
    """Export RESULT (a `dr2 synth` .npz or a clip's smplx/params.npz) for Blender, Unity, Unreal, three.js."""
    import dr2

    for path in dr2.export(result, list(formats), out, smplx_model=smplx_model).values():
        click.echo(str(path))


@dr2.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--audio", type=click.Path(path_type=Path),
              help="Speech to play with the motion [default: the `audio` its synth .json names, if present].")
@click.option("--out", type=click.Path(path_type=Path),
              help="The page to write [default: beside the first RESULT, <stem>_view.html].")
@click.option("--smplx-model", envvar="DR2_SMPLX_MODEL",
              help="SMPL-X .npz the results were made with (default: the open body) [env DR2_SMPLX_MODEL].")
def view(results: tuple[Path, ...], audio: Path | None, out: Path | None, smplx_model: str | None) -> None:
    """One offline HTML page animating RESULTS (samples of one speech) in 3D with the speech."""
    import dr2

    click.echo(str(dr2.view(list(results), audio, out, smplx_model=smplx_model)))


@dr2.command()
@click.pass_obj
def demo(obj: dict) -> None:
    """Run the chain on an input the demo generates itself (what `make demo` runs)."""
    import dr2

    click.echo(str(dr2.demo(obj["workspace"], device=obj["device"])))


@dr2.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def info(as_json: bool) -> None:
    """Versions, ffmpeg, CUDA devices and available stages."""
    import json

    import dr2
    from dr2model.info import format_info

    data = dr2.info()
    click.echo(json.dumps(data, indent=2) if as_json else format_info(data))


def main() -> None:
    """Entry point: user-fixable problems (click's usage errors too) become one line and exit code 2."""
    try:
        dr2.main(standalone_mode=False)
    except Dr2Error as error:
        click.echo(f"dr2: error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("dr2: interrupted; finished stages are kept", err=True)
        sys.exit(130)
    except NO_ARGS_IS_HELP as error:
        error.show()
        sys.exit(error.exit_code)
    except click.UsageError as error:
        command = " ".join(["dr2", *(error.ctx.command_path.split()[1:] if error.ctx else [])])
        click.echo(f"dr2: error: {error.format_message().rstrip('.')}; see `{command} --help`", err=True)
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("dr2: interrupted; finished stages are kept", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
