"""The media stage: a source video becomes 30 FPS frames and 16 kHz mono speech.

ffmpeg does the decoding and writes straight to disk, so memory use does not
grow with the length of the video.
"""

from __future__ import annotations

import json
import shutil
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import ffmpeg

from dr2common.atomic import write_json_atomic
from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import ffmpeg_exe, probe, run_ffmpeg
from dr2common.locking import LOCK_NAME
from dr2common.progress import say
from dr2common.rates import FPS, SAMPLE_RATE
from dr2prep.stage import StageSpec, read_record, require_record, run_stage, sha256_file

FRAME_PATTERN = "%06d.jpg"  # 000001.jpg ...: OpenPose-style names, 1-based

# version 2: width/height are those of the extracted (upright) frames, also for rotated phone videos
MEDIA = StageSpec(name="media", version="2", outputs=("frames", "audio.wav", "clip.json"))
MEDIA_NO_AUDIO = StageSpec(name="media", version="2", outputs=("frames", "clip.json"))


@dataclass(frozen=True)
class MediaSettings:
    """How frames are stored. The frame rate and sample rate are not settings: every clip has FPS and SAMPLE_RATE
    (dr2common.rates), the clocks training, synthesis and evaluation count in."""

    jpeg_quality: int = 2  # ffmpeg -q:v, 2 = near lossless; keypoint detectors like sharp frames


def check_video_file(path: Path) -> Path:
    """Refuse what cannot be a video before any work starts."""
    path = Path(path)
    if not path.exists():
        raise Dr2Error(f"{path} does not exist; check the path to the video")
    if not path.is_file():
        raise Dr2Error(f"{path} is not a file; give the path to a video file")
    if path.stat().st_size == 0:
        raise Dr2Error(f"{path} is empty (0 bytes); copy or download the video again")
    return path


def count_frames(frames_dir: Path) -> int:
    return sum(1 for _ in Path(frames_dir).glob("*.jpg"))


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def jpeg_size(path: Path) -> tuple[int, int]:
    """(width, height) of a frame dr2 extracted."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise Dr2Error(f"frame {path} cannot be read back; check the disk holding the workspace")
    return image.shape[1], image.shape[0]


def check_same_source(video: Path, clip_dir: Path, replace: bool = False) -> str:
    """The sha256 of `video`; refuses a clip that was prepared from another video (or empties it with `replace`).

    Preparing a different video under an existing clip name would mix its
    frames with the old clip's fit and features, so it needs a new --clip
    name, or --replace to throw the old clip away first.
    """
    video, clip_dir = check_video_file(video), Path(clip_dir)
    source_sha = sha256_file(video)
    try:
        clip = json.loads((clip_dir / "clip.json").read_text())
        old_sha, old_source = clip.get("source_sha256"), clip.get("source", "another video")
    except (OSError, ValueError, AttributeError):
        record = read_record(clip_dir, "media") or {}
        old_sha, old_source = record.get("inputs", {}).get("video"), "another video"
    if old_sha is None or old_sha == source_sha or old_source == str(video.resolve()):
        return source_sha  # new, the same, or the same file edited in place (its stages re-run)
    if not replace:
        raise Dr2Error(
            f"clip {clip_dir.name} in {clip_dir.parent} was prepared from another video ({old_source}); "
            f"give {video.name} its own name with --clip NAME, or add --replace to discard clip {clip_dir.name} "
            f"and prepare it from {video.name}"
        )
    say(f"media: --replace: discarding clip {clip_dir.name} (made from {old_source})")
    for entry in clip_dir.iterdir():
        if entry.name == LOCK_NAME:
            continue
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    return source_sha


def prepare_media(video: Path, clip_dir: Path, settings: MediaSettings = MediaSettings(), force: bool = False):
    """Extract frames and audio of `video` into `clip_dir`; skipped when up to date.

    A video without an audio track still gets its frames (kept in the
    workspace); the caller decides that training needs speech.
    """
    video = check_video_file(video)
    info = probe(video)
    if not info.has_video:
        raise Dr2Error(f"{video} has no video stream; give a video of the speaker")
    spec = MEDIA if info.has_audio else MEDIA_NO_AUDIO
    source_sha = sha256_file(video)

    def build(partial: Path) -> dict:
        frames = partial / "frames"
        frames.mkdir()
        source = ffmpeg.input(str(video))
        frame_args = (
            source.video.filter("fps", fps=FPS)
            .output(str(frames / FRAME_PATTERN), start_number=1, **{"q:v": settings.jpeg_quality})
            .compile(cmd=ffmpeg_exe())
        )
        run_ffmpeg(frame_args, video, info.duration, "frames")
        n_frames = count_frames(frames)
        if n_frames == 0:
            raise Dr2Error(f"{video} decoded to no frames; check that it plays, or re-encode it")
        # the frames' own size: ffmpeg turns rotated phone videos upright while extracting
        width, height = jpeg_size(frames / (FRAME_PATTERN % 1))
        clip = {
            "source": str(video.resolve()),
            "source_sha256": source_sha,
            "duration": info.duration,
            "source_fps": info.fps,
            "width": width,
            "height": height,
            "video_codec": info.video_codec,
            "fps": FPS,
            "frames": n_frames,
            "audio": None,
        }
        if info.has_audio:
            audio_args = (
                source.audio.output(str(partial / "audio.wav"), ac=1, ar=SAMPLE_RATE, acodec="pcm_s16le")
                .compile(cmd=ffmpeg_exe())
            )
            run_ffmpeg(audio_args, video, info.duration, "audio")
            clip["audio"] = {
                "sample_rate": SAMPLE_RATE,
                "channels": 1,
                "seconds": wav_seconds(partial / "audio.wav"),
                "source_rate": info.audio_rate,
                "source_channels": info.audio_channels,
                "source_codec": info.audio_codec,
            }
        write_json_atomic(partial / "clip.json", clip)
        return {"frames": n_frames, "audio_seconds": clip["audio"]["seconds"] if clip["audio"] else None}

    # the rates stay in the recorded settings: workspaces prepared when they were options remain up to date
    recorded = {"fps": FPS, "sample_rate": SAMPLE_RATE, **asdict(settings)}
    return run_stage(clip_dir, spec, {"video": source_sha}, recorded, build, force=force)


@dataclass(frozen=True)
class ClipMedia:
    """What the media stage left for later stages to draw on: frames in order, their rate, the speech."""

    frames: list[Path]
    fps: float
    audio: Path | None  # None for a video without sound


def clip_media(clip_dir: Path) -> ClipMedia:
    """The media stage's outputs of `clip_dir` (e.g. for the overlay videos), checked to be intact."""
    clip_dir = Path(clip_dir)
    if read_record(clip_dir, "media") is not None:  # frames made by `dr2 prep`: check they are all there
        require_record(clip_dir, "media", "overlay")
    clip = json.loads((clip_dir / "clip.json").read_text())
    audio = clip_dir / "audio.wav"
    return ClipMedia(sorted((clip_dir / "frames").glob("*.jpg")), float(clip["fps"]), audio if audio.is_file() else None)
