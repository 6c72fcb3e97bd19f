"""Choosing the one speaker when several people are in view, and following them over time.

The rule, for every backend: candidates (face boxes for MediaPipe, people's
keypoint boxes for OpenPose and imports) are linked into tracks frame to frame
by nearest centre. Each candidate scores size x centrality (box height over
frame height, times 1 - horizontal offset from the centre over the frame
width); a track's weight is the sum of its scores, so the person who is large,
central and in view longest weighs most. In each frame the speaker is the
heaviest track whose time span covers the frame; when that track has no
candidate in the frame (missed detection) the frame has no speaker rather than
someone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dr2prep.keypoints.openpose_format import N_POINTS

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels

LINK_RADIUS = 1.0  # a candidate joins a track when its centre is within this many box heights of the track's last box
MAX_GAP = 30  # frames a track may go unseen and still be continued (1 s at 30 FPS)
MIN_RIVAL_SAMPLES = 3  # a track seen fewer times is taken for a false detection, not a second person
CENTRE_PENALTY = 1.0  # score factor lost per frame width of horizontal offset from the centre
PERSON_MIN_CONFIDENCE = 0.1  # keypoints below this do not count towards a person's box


@dataclass
class Track:
    """One person's candidates over time: frames (ascending), boxes, index of the candidate in each frame."""

    frames: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    members: list[int] = field(default_factory=list)
    weight: float = 0.0

    def covers(self, frame: int) -> bool:
        return self.frames[0] <= frame <= self.frames[-1]

    def member_at(self, frame: int) -> int | None:
        """Index of this track's candidate in `frame`, or None when it was not seen there."""
        i = int(np.searchsorted(self.frames, frame))
        return self.members[i] if i < len(self.frames) and self.frames[i] == frame else None

    def box_at(self, frame: int) -> Box:
        """The box of the sample nearest in time (the earlier one on a tie)."""
        i = int(np.searchsorted(self.frames, frame))
        if i == len(self.frames) or (i > 0 and frame - self.frames[i - 1] <= self.frames[i] - frame):
            i -= 1
        return self.boxes[i]


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _height(box: Box) -> float:
    return max(box[3] - box[1], 1.0)


def speaker_score(box: Box, width: int, height: int) -> float:
    """Size x centrality of one candidate: larger and more central scores higher."""
    offset = abs(_centre(box)[0] - width / 2) / width
    return _height(box) / height * max(0.0, 1.0 - CENTRE_PENALTY * offset)


def link_tracks(candidates: Sequence[Sequence[Box]], width: int, height: int) -> list[Track]:
    """Link each frame's candidate boxes into tracks (greedy, highest score first; deterministic)."""
    tracks: list[Track] = []
    for frame, boxes in enumerate(candidates):
        order = sorted(range(len(boxes)), key=lambda i: -speaker_score(boxes[i], width, height))
        taken: set[int] = set()
        for i in order:
            cx, cy = _centre(boxes[i])
            best, best_distance = None, LINK_RADIUS
            for t, track in enumerate(tracks):
                if t in taken or frame - track.frames[-1] > MAX_GAP:
                    continue
                last = track.boxes[-1]
                lx, ly = _centre(last)
                distance = np.hypot(cx - lx, cy - ly) / _height(last)
                if distance <= best_distance:
                    best, best_distance = t, distance
            if best is None:
                tracks.append(Track())
                best = len(tracks) - 1
            track = tracks[best]
            track.frames.append(frame)
            track.boxes.append(tuple(float(v) for v in boxes[i]))
            track.members.append(i)
            track.weight += speaker_score(boxes[i], width, height)
            taken.add(best)
    return tracks


def speaker_tracks(tracks: list[Track], n_frames: int) -> list[Track | None]:
    """Per frame, the heaviest track whose span covers it (None where no track does)."""
    ranked = sorted(tracks, key=lambda t: -t.weight)
    return [next((t for t in ranked if t.covers(f)), None) for f in range(n_frames)]


def speaker_indices(candidates: Sequence[Sequence[Box]], width: int, height: int) -> list[int | None]:
    """Per frame, the index of the speaker's candidate, or None when the speaker was not seen."""
    tracks = link_tracks(candidates, width, height)
    return [None if s is None else s.member_at(f) for f, s in enumerate(speaker_tracks(tracks, len(candidates)))]


def keep_strips(candidates: Sequence[Sequence[Box]], width: int, height: int) -> list[tuple[int, int] | None]:
    """Per frame, the columns [x0, x1) that belong to the speaker, or None to keep the whole frame.

    MediaPipe Holistic follows one person; to make that person the speaker,
    every other person seen at least MIN_RIVAL_SAMPLES times (within MAX_GAP
    frames of a sighting) is cut off at the midpoint between their face and the
    speaker's (the rest of the frame is greyed out). `candidates` may be
    sampled: frames without boxes take the tracks' nearest boxes.
    """
    n_frames = len(candidates)
    tracks = link_tracks(candidates, width, height)
    rivals_of = [t for t in tracks if len(t.frames) >= MIN_RIVAL_SAMPLES]
    strips: list[tuple[int, int] | None] = []
    for frame, speaker in enumerate(speaker_tracks(tracks, n_frames)):
        # face detectors miss faces now and then: a rival stays for MAX_GAP frames around their sightings
        rivals = [t for t in rivals_of if t is not speaker and t.frames[0] - MAX_GAP <= frame <= t.frames[-1] + MAX_GAP]
        if speaker is None or not rivals:
            strips.append(None)
            continue
        sx = _centre(speaker.box_at(frame))[0]
        x0, x1 = 0.0, float(width)
        for rival in rivals:
            rx = _centre(rival.box_at(frame))[0]
            if rx < sx:
                x0 = max(x0, (rx + sx) / 2)
            elif rx > sx:
                x1 = min(x1, (rx + sx) / 2)
        strips.append((int(round(x0)), int(round(x1))))
    return strips


def person_box(person: np.ndarray) -> Box | None:
    """The box around one person's confident keypoints ((137, 3) array), or None when there are none."""
    confident = person[person[:, 2] >= PERSON_MIN_CONFIDENCE]
    if len(confident) == 0:
        return None
    (x0, y0), (x1, y1) = confident[:, :2].min(axis=0), confident[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def pick_speaker(people: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """Per frame, the speaker out of all detected people: list of (N_t, 137, 3) -> (T, 137, 3).

    Frames where the speaker was not seen get zeros (confidence 0).
    """
    candidates, owners = [], []
    for frame_people in people:
        boxes, index = [], []
        for i, person in enumerate(frame_people):
            box = person_box(person)
            if box is not None:
                boxes.append(box)
                index.append(i)
        candidates.append(boxes)
        owners.append(index)
    out = np.zeros((len(people), N_POINTS, 3))
    for frame, chosen in enumerate(speaker_indices(candidates, width, height)):
        if chosen is not None:
            out[frame] = people[frame][owners[frame][chosen]]
    return out
