"""MediaPipe Holistic, the default keypoint backend: offline, on the CPU, one person per frame.

Confidences: body points take MediaPipe's landmark visibility (neck and mid-hip
the smaller of their two landmarks'; small toes 0). MediaPipe gives hand and
face landmarks no score of their own, so each hand's points take the
visibility of the matching pose wrist and the face's points that of the nose.
Points that fall outside the frame get confidence 0 (OpenPose cannot report them).

Holistic tracks a person from frame to frame, so its output depends on where
tracking started. The clip is therefore cut into segments, each tracked from
its own first frame. Their bounds depend only on the clip's length (an even
number of equal segments of at most a set length, so that two or four workers
finish together instead of one running the last segment alone); workers only
decide how many segments run at once, and any number of workers gives the same result.
Holistic follows one person: when others are in view, a first pass finds faces
(every few frames), `tracking.keep_strips` picks the speaker, and the columns
of the frame that belong to other people are greyed out before Holistic sees it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from dr2common.errors import Dr2Error
from dr2prep.keypoints.mediapipe_mapping import FACE_MESH_TO_FACE70, HAND21_TO_OPENPOSE_HAND, POSE33_TO_BODY25
from dr2prep.keypoints.openpose_format import BODY, FACE, HAND_LEFT, HAND_RIGHT, N_POINTS
from dr2prep.keypoints.tracking import Box, keep_strips
from dr2common.progress import progress_bar
from dr2common.quick_exit import exit_quickly_when_done
from dr2common.side_by_side import share_out

# The pose model bundled in the 0.10.x wheels is the "full" one (complexity 1);
# complexity 0 and 2 download their model on first use, which fails offline.
MODEL_COMPLEXITY = 1
FACE_MODEL = 1  # full-range face detector (faces up to ~5 m); the short-range one saw false faces on real footage
FACE_PASS_MAX_WIDTH = 640  # the face pass decodes frames reduced to at most this width (JPEG DCT scaling is cheap)
MASK_VALUE = 128  # grey that replaces the columns of other people
POSE_LEFT_WRIST, POSE_RIGHT_WRIST, POSE_NOSE = 15, 16, 0
# A worker process is replaced after this many tasks (face chunks or segments): each MediaPipe graph
# leaves a few MB behind in its process, so a long clip's workers would otherwise grow with its length.
# 16 tasks are ~12 segments (about 50 s of video); a replacement costs ~1.5 s of start-up.
TASKS_PER_WORKER = 16


@dataclass(frozen=True)
class MediaPipeOptions:
    """Settings of the MediaPipe backend (part of the stage fingerprint)."""

    max_segment_frames: int = 120  # Holistic re-starts tracking at least every 4 s (see segment_bounds)
    face_stride: int = 5  # the speaker-finding face pass looks at every 5th frame
    min_detection_confidence: float = 0.5  # MediaPipe's defaults
    min_tracking_confidence: float = 0.5


def _read_landmarks(landmark_list, indices, width: int, height: int, with_visibility: bool) -> np.ndarray:
    """Landmarks `indices` of a MediaPipe landmark list -> (N, 3): x, y in pixels (pixel centres at integers),
    visibility or 1. Reading one costs about a microsecond of Python, so only those a table uses are read."""
    landmark = landmark_list.landmark
    points = np.array([(landmark[j].x, landmark[j].y, landmark[j].visibility if with_visibility else 1.0)
                       for j in indices], dtype=np.float64)
    points[:, 0] = points[:, 0] * width - 0.5
    points[:, 1] = points[:, 1] * height - 0.5
    return points


class _Table:
    """A correspondence table (mediapipe_mapping) as index arrays, applied to all its points at once.

    Each OpenPose point is the mean of its sources' positions (summed in the table's order, then divided
    by their count, as numpy's mean does) with the smallest source confidence, or a given one. The
    per-point loop this replaces, reading all 478 face-mesh landmarks where the table uses 72, cost
    2-3 ms a frame (2-3% of Holistic's CPU); this takes 0.2-0.5 ms.
    """

    def __init__(self, table: tuple[tuple[int, ...], ...]):
        self.size = len(table)
        self.rows = np.array([i for i, sources in enumerate(table) if sources], dtype=np.intp)
        self.landmarks = sorted({j for sources in table for j in sources})  # the landmarks the table uses
        where = {j: k for k, j in enumerate(self.landmarks)}
        slots = max(len(sources) for sources in table)
        # (rows, slots) positions in `landmarks`; a row with fewer sources repeats its first
        self.sources = np.array([[where[sources[min(k, len(sources) - 1)]] for k in range(slots)]
                                 for sources in table if sources], dtype=np.intp)
        self.counts = np.array([len(sources) for sources in table if sources], dtype=np.float64)

    def apply(self, points: np.ndarray, confidence: float | None) -> np.ndarray:
        """(size, 3) OpenPose points from the table's landmarks (rows in `landmarks`' order): mean position,
        smallest confidence (or `confidence`)."""
        out = np.zeros((self.size, 3))
        total = points[self.sources[:, 0], :2]
        for k in range(1, self.sources.shape[1]):
            more = self.counts > k
            total[more] = total[more] + points[self.sources[more, k], :2]
        out[self.rows, :2] = total / self.counts[:, None]
        out[self.rows, 2] = points[self.sources, 2].min(axis=1) if confidence is None else confidence
        return out


_BODY_TABLE = _Table(POSE33_TO_BODY25)
_HAND_TABLE = _Table(HAND21_TO_OPENPOSE_HAND)
_FACE_TABLE = _Table(FACE_MESH_TO_FACE70)
POSE_LANDMARKS = range(33)  # all read: the hands and the face take their confidences from the pose's


def holistic_to_openpose(result, width: int, height: int) -> np.ndarray:
    """One Holistic result -> (137, 3) OpenPose points in pixels (see the module docstring)."""
    out = np.zeros((N_POINTS, 3))
    if result.pose_landmarks is None:
        return out  # Holistic finds hands and face through the pose
    pose = _read_landmarks(result.pose_landmarks, POSE_LANDMARKS, width, height, with_visibility=True)
    out[BODY] = _BODY_TABLE.apply(pose[_BODY_TABLE.landmarks], None)
    for rows, hand, wrist in (
        (HAND_LEFT, result.left_hand_landmarks, POSE_LEFT_WRIST),
        (HAND_RIGHT, result.right_hand_landmarks, POSE_RIGHT_WRIST),
    ):
        if hand is not None:
            points = _read_landmarks(hand, _HAND_TABLE.landmarks, width, height, with_visibility=False)
            out[rows] = _HAND_TABLE.apply(points, pose[wrist, 2])
    if result.face_landmarks is not None:
        points = _read_landmarks(result.face_landmarks, _FACE_TABLE.landmarks, width, height, with_visibility=False)
        out[FACE] = _FACE_TABLE.apply(points, pose[POSE_NOSE, 2])
    outside = (out[:, 0] < -0.5) | (out[:, 0] > width - 0.5) | (out[:, 1] < -0.5) | (out[:, 1] > height - 0.5)
    out[outside] = 0.0
    return out


def _read_rgb(path: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    image = cv2.imread(path, flags)
    if image is None:
        raise Dr2Error(f"frame {path} cannot be read; re-extract the frames with `dr2 prep --only media --force`")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@contextmanager
def _quiet_mediapipe() -> Iterator[None]:
    """Hide what MediaPipe prints while it runs, unless it fails.

    Its C++ side logs straight to file descriptor 2 (a dozen lines per graph,
    and a graph per segment), ignoring GLOG/absl settings; and mediapipe 0.10.14
    calls a protobuf API that protobuf 4.25 warns about on every frame.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        with tempfile.TemporaryFile() as log:
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(log.fileno(), 2)
            try:
                yield
            except Dr2Error:
                raise  # says what is wrong in one line; the log would only bury it
            except Exception:
                os.dup2(saved, 2)
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
                os.close(saved)


def _solutions():
    """mediapipe.solutions, imported only where it runs (its import takes ~1 s)."""
    from mediapipe.python import solutions

    return solutions


@dataclass(frozen=True)
class _FaceTask:
    frames: tuple[str, ...]
    width: int
    height: int
    min_confidence: float


def _reduced_read_flag(width: int) -> int:
    for factor, flag in ((1, cv2.IMREAD_COLOR), (2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4)):
        if width / factor <= FACE_PASS_MAX_WIDTH:
            return flag
    return cv2.IMREAD_REDUCED_COLOR_8


def detect_faces(task: _FaceTask) -> list[list[Box]]:
    """Face boxes (pixels of the full frame) in each frame of `task`; stateless, one frame at a time."""
    flag = _reduced_read_flag(task.width)
    found = []
    with _quiet_mediapipe(), _solutions().face_detection.FaceDetection(
        model_selection=FACE_MODEL, min_detection_confidence=task.min_confidence
    ) as detector:
        for path in task.frames:
            result = detector.process(_read_rgb(path, flag))
            boxes = []
            for detection in result.detections or []:
                b = detection.location_data.relative_bounding_box
                x0, y0 = b.xmin * task.width, b.ymin * task.height
                boxes.append((x0, y0, x0 + b.width * task.width, y0 + b.height * task.height))
            found.append(boxes)
    return found


@dataclass(frozen=True)
class _SegmentTask:
    frames: tuple[str, ...]
    strips: tuple[tuple[int, int] | None, ...]
    width: int
    height: int
    options: MediaPipeOptions


def detect_segment(task: _SegmentTask) -> np.ndarray:
    """Holistic over one segment, tracking from its first frame: (n, 137, 3) float64."""
    out = np.zeros((len(task.frames), N_POINTS, 3))
    with _quiet_mediapipe(), _solutions().holistic.Holistic(
        static_image_mode=False,
        model_complexity=MODEL_COMPLEXITY,
        smooth_landmarks=True,
        refine_face_landmarks=True,  # the iris model gives OpenPose's two pupil points
        min_detection_confidence=task.options.min_detection_confidence,
        min_tracking_confidence=task.options.min_tracking_confidence,
    ) as holistic:
        for i, (path, strip) in enumerate(zip(task.frames, task.strips)):
            image = _read_rgb(path)
            if image.shape[:2] != (task.height, task.width):
                raise Dr2Error(
                    f"frame {path} is {image.shape[1]}x{image.shape[0]}, not {task.width}x{task.height} "
                    f"like the clip; re-extract the frames with `dr2 prep --only media --force`"
                )
            if strip is not None:
                image[:, : strip[0]] = MASK_VALUE
                image[:, strip[1] :] = MASK_VALUE
            out[i] = holistic_to_openpose(holistic.process(image), task.width, task.height)
    return out


class _WorkerProcesses:
    """`count` spawned worker processes, each replaced after TASKS_PER_WORKER tasks.

    One single-process executor per slot, replaced here rather than by
    ProcessPoolExecutor(max_tasks_per_child=...), which in Python 3.11-3.13
    can stop replacing exited workers and hang (CPython gh-115634).
    """

    def __init__(self, count: int):
        self.count = count
        self._executors: list[ProcessPoolExecutor | None] = [None] * count
        self._used = [0] * count

    def run(self, slot: int, function, task):
        """`function(task)` in the slot's process (only one thread uses a slot)."""
        if self._executors[slot] is None or self._used[slot] >= TASKS_PER_WORKER:
            if self._executors[slot] is not None:
                self._executors[slot].shutdown()
            self._executors[slot] = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"),
                                                        initializer=exit_quickly_when_done)
            self._used[slot] = 0
        self._used[slot] += 1
        return self._executors[slot].submit(function, task).result()

    def close(self) -> None:
        for executor in self._executors:
            if executor is not None:
                executor.shutdown(cancel_futures=True)


def _run_tasks(processes: _WorkerProcesses | None, function, tasks: list, sizes: list[int], desc: str) -> list:
    """Run `function` over `tasks` (in the worker processes when there are some), with one progress bar;
    the results in the tasks' order."""
    results = [None] * len(tasks)
    with progress_bar(total=sum(sizes), desc=desc, unit="frame") as bar:
        if processes is None:
            for i, task in enumerate(tasks):
                results[i] = function(task)
                bar.update(sizes[i])
            return results
        lock = threading.Lock()

        def in_slot(slot: int):
            def handle(i: int) -> None:
                results[i] = processes.run(slot, function, tasks[i])
                with lock:
                    bar.update(sizes[i])
            return handle

        share_out(range(len(tasks)), [in_slot(slot) for slot in range(processes.count)])
    return results


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def segment_bounds(frames: int, longest: int) -> list[range]:
    """The tracking segments of a clip: an even number (when more than one) of near-equal ranges of at most
    `longest` frames. They depend only on the clip's length, so any worker count gives the same keypoints;
    an even count of equal segments lets 2 or 4 workers end together (11.5 segments of 120 frames left
    one worker running alone for 4-5 s at the end of a 46 s clip)."""
    count = -(-frames // longest)
    if count > 1:
        count += count % 2
    base, extra = divmod(frames, max(count, 1))
    starts = [i * base + min(i, extra) for i in range(count + 1)]
    return [range(a, b) for a, b in zip(starts, starts[1:])]


def detect_mediapipe(
    frames: list[Path], width: int, height: int, options: MediaPipeOptions = MediaPipeOptions(), workers: int = 1
) -> tuple[np.ndarray, dict]:
    """Keypoints of the speaker in every frame: (T, 137, 3) float64, and a summary.

    `workers` processes run segments side by side; the result does not depend on it.
    """
    paths = [str(p) for p in frames]
    if not paths:
        return np.zeros((0, N_POINTS, 3)), {"frames_with_others_masked": 0, "segments": 0}
    processes = _WorkerProcesses(workers) if workers > 1 else None
    try:
        # Pass 1: faces on every face_stride-th frame, to find the speaker among several people
        # (the last frame too, so the tracks of people in view span the whole clip)
        sampled = sorted(set(range(0, len(paths), options.face_stride)) | {len(paths) - 1})
        per_task = max(1, -(-len(sampled) // (4 * workers)))
        face_chunks = _chunks(sampled, per_task)
        face_tasks = [
            _FaceTask(tuple(paths[i] for i in chunk), width, height, options.min_detection_confidence)
            for chunk in face_chunks
        ]
        found = _run_tasks(processes, detect_faces, face_tasks, [len(c) for c in face_chunks], "finding people")
        candidates: list[list[Box]] = [[] for _ in paths]
        for chunk, boxes in zip(face_chunks, found):
            for i, frame_boxes in zip(chunk, boxes):
                candidates[i] = frame_boxes
        strips = keep_strips(candidates, width, height)

        # Pass 2: Holistic over segments that depend only on the clip's length.
        bounds = segment_bounds(len(paths), options.max_segment_frames)
        tasks = [
            _SegmentTask(tuple(paths[i] for i in b), tuple(strips[i] for i in b), width, height, options)
            for b in bounds
        ]
        parts = _run_tasks(processes, detect_segment, tasks, [len(b) for b in bounds], "keypoints")
    finally:
        if processes is not None:
            processes.close()
    keypoints = np.concatenate(parts) if parts else np.zeros((0, N_POINTS, 3))
    summary = {
        "frames_with_others_masked": sum(1 for s in strips if s is not None),
        "segments": len(tasks),
    }
    return keypoints, summary
