"""write_video: the one encoder behind overlays, previews and the demo input."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from dr2model.demo_input import write_wav
from dr2common.errors import Dr2Error
from dr2common.ffmpeg_tools import ffmpeg_exe, probe, write_video


def frames(count: int, size=(101, 75)):
    for i in range(count):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[:, : (i * 3) % size[0]] = (0, 0, 255)  # a red bar that grows: every frame differs
        yield image


def video_frame_count(path) -> int:
    result = subprocess.run([ffmpeg_exe(), "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "null", "-"],
                            capture_output=True, text=True)
    return int(result.stderr.rsplit("frame=", 1)[1].split()[0])


def test_every_frame_with_the_audio_at_an_even_size(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, 0.1 * np.sin(np.linspace(0, 2000, 16000)).astype(np.float32))  # 1 s
    out = write_video(frames(30), tmp_path / "v.mp4", 30.0, wav)
    info = probe(out)
    assert (info.width, info.height) == (102, 76)  # padded to even for yuv420p
    assert info.has_audio and abs(info.duration - 1.0) < 0.1
    assert video_frame_count(out) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "v.mp4"]  # no temporary file left


def test_a_failing_frame_source_leaves_no_file(tmp_path):
    def broken():
        yield from frames(5)
        raise Dr2Error("frame 6 cannot be read")

    with pytest.raises(Dr2Error, match="frame 6"):
        write_video(broken(), tmp_path / "v.mp4", 30.0)
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_failure_is_one_clear_error(tmp_path):
    with pytest.raises(Dr2Error, match=r"ffmpeg could not write .*v\.mp4 .*No such file"):
        write_video(frames(3), tmp_path / "v.mp4", 30.0, tmp_path / "missing.wav")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(Dr2Error, match="no frames"):
        write_video(iter([]), tmp_path / "v.mp4", 30.0)
