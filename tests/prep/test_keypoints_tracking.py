"""Choosing the speaker among several people: size, centrality, continuity over time, false detections."""

from __future__ import annotations

import numpy as np

from dr2prep.keypoints.openpose_format import N_POINTS
from dr2prep.keypoints.tracking import keep_strips, pick_speaker, speaker_indices, speaker_score

W, H = 1280, 720


def face(cx: float, cy: float, size: float) -> tuple[float, float, float, float]:
    return cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2


def test_score_prefers_large_and_central():
    assert speaker_score(face(640, 200, 100), W, H) > speaker_score(face(640, 200, 60), W, H)
    assert speaker_score(face(640, 200, 100), W, H) > speaker_score(face(1100, 200, 100), W, H)


def test_speaker_is_kept_when_another_person_is_briefly_larger():
    # the speaker (centre) is in every frame; a guest at the side leans in for 10 frames and looks bigger
    frames = []
    for t in range(60):
        guest = face(1050, 250, 160 if 20 <= t < 30 else 90)
        frames.append([guest, face(640 + t, 200, 120)] if t % 2 else [face(640 + t, 200, 120), guest])
    chosen = speaker_indices(frames, W, H)
    assert all(frames[t][chosen[t]][0] < 800 for t in range(60))


def test_missed_speaker_gives_no_one_rather_than_the_other_person():
    frames = [[face(640, 200, 120), face(150, 250, 60)] for _ in range(30)]
    frames[12] = [face(150, 250, 60)]  # speaker's face missed in one frame
    chosen = speaker_indices(frames, W, H)
    assert chosen[12] is None and chosen[11] == 0 and chosen[13] == 0


def test_speaker_moving_across_the_frame_is_followed():
    frames = [[face(200 + 15 * t, 300, 100), face(1200, 300, 70)] for t in range(60)]
    chosen = speaker_indices(frames, W, H)
    assert chosen == [0] * 60


def test_strips_cut_at_midpoints_and_ignore_one_off_false_faces():
    n = 40
    frames = [[] for _ in range(n)]
    for t in [*range(0, n, 5), n - 1]:  # sampled like the MediaPipe face pass: every 5th and the last
        frames[t] = [face(640, 200, 120), face(240, 220, 80)]
    frames[10].append(face(1100, 100, 30))  # a face seen once (a poster): not a person
    strips = keep_strips(frames, W, H)
    assert all(s == (440, W) for s in strips)


def test_no_strips_for_a_single_person():
    frames = [[face(640, 200, 120)] if t % 5 == 0 else [] for t in range(30)]
    assert keep_strips(frames, W, H) == [None] * 30


def test_pick_speaker_from_openpose_people():
    def person(cx, height, conf=0.9):
        p = np.zeros((N_POINTS, 3))
        p[:25, 0] = cx + np.linspace(-height / 6, height / 6, 25)
        p[:25, 1] = np.linspace(100, 100 + height, 25)
        p[:25, 2] = conf
        return p

    people = [np.stack([person(200, 250), person(640, 500)]) for _ in range(10)]
    people[4] = np.zeros((0, N_POINTS, 3))
    out = pick_speaker(people, W, H)
    assert out.shape == (10, N_POINTS, 3)
    assert np.allclose(out[[0, 3, 9], 12, 0], 640) and not out[4].any()


def test_a_rival_missed_by_the_face_detector_stays_cut_off_for_a_while():
    frames = [[] for _ in range(41)]
    for t in [*range(0, 41, 5)]:
        frames[t] = [face(660, 150, 130)] + ([face(130, 470, 85)] if t <= 30 else [])
    strips = keep_strips(frames, W, H)
    assert all(s is not None and s[0] > 300 for s in strips)
