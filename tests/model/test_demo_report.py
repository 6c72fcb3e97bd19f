"""The demo's self-measurement: head direction from the rotation chain, upper-body MPJPE, sample distance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dr2model.demo_report import (UPPER_BODY, body_joints, head_angles, measure_demo, sample_distance,
                                  upper_body_mpjpe)
from dr2prep.fitting.camera import FACING_CAMERA

HEAD_ROW, NECK_ROW, SPINE3_ROW = 14, 11, 8  # body_pose rows of the head, neck, spine3


def _facing(frames: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tile(FACING_CAMERA, (frames, 1)), np.zeros((frames, 21, 3))


def test_head_angle_follows_the_whole_chain_from_pelvis_to_head():
    orient, pose = _facing(5)
    pose[1, HEAD_ROW, 1] = 0.5  # head turned (yaw) by 0.5 rad
    pose[2, NECK_ROW, 1], pose[2, SPINE3_ROW, 1] = 0.3, 0.4  # the turn split between neck and spine adds up
    pose[3, HEAD_ROW, 0] = -0.35  # a nod: pitch counts too
    orient[4] = 0.0  # no global rotation: SMPL-X's rest body faces away from the camera
    angles = head_angles(orient, pose.reshape(5, 63))
    assert angles[0] == pytest.approx(0.0, abs=0.05)
    assert angles[1] == pytest.approx(math.degrees(0.5), abs=0.05)
    assert angles[2] == pytest.approx(math.degrees(0.7), abs=0.05)
    assert angles[3] == pytest.approx(math.degrees(0.35), abs=0.05)
    assert angles[4] == pytest.approx(180.0, abs=0.05)


@pytest.fixture(scope="module")
def body():
    from dr2prep.bodymodel.loading import load_body_model

    return load_body_model("open")


@pytest.mark.slow
def test_mpjpe_and_sample_distance_in_millimetres(body):
    orient, pose = _facing(4)
    truth = {"global_orient": orient, "body_pose": pose.reshape(4, 63), "transl": np.zeros((4, 3))}
    joints = body_joints(body, truth)
    moved = body_joints(body, {**truth, "transl": np.full((4, 3), 0.3)})
    assert upper_body_mpjpe(moved, joints) == pytest.approx(0.0, abs=1e-3)  # pelvis-aligned: a shift is free
    bent = joints.copy()
    bent[:, UPPER_BODY[-1]] += np.array([0.0, 0.0, 0.13])  # one of the 13 joints 130 mm off
    assert upper_body_mpjpe(bent, joints) == pytest.approx(10.0, abs=1e-3)
    assert sample_distance(bent, joints) == pytest.approx(10.0, abs=1e-3)


@pytest.mark.slow
def test_report_flags_a_fit_that_turns_away(body):
    orient, pose = _facing(6)
    truth = {"global_orient": orient, "body_pose": pose.reshape(6, 63), "transl": np.zeros((6, 3))}
    turned = pose.copy()
    turned[:, HEAD_ROW, 1] = 2.1  # the mannequin fit's 120 degrees
    fitted = {**truth, "body_pose": turned.reshape(6, 63), "betas": np.zeros(10)}
    arms = pose.copy()
    arms[:, 17, 1] = -1.2  # sample 2 bends its left elbow
    samples = [truth, {**truth, "body_pose": arms.reshape(6, 63)}]
    report = measure_demo(body, truth, fitted, samples)
    checks = report.passed()
    assert not checks["fit faces the camera"] and checks["sample 1 faces the camera"]
    assert report.bodies[1].head_median_deg == pytest.approx(math.degrees(2.1), abs=1e-3)
    assert report.fit_mpjpe_mm > 10 and report.sample_distance_mm > 10
    assert any("checks failed: fit faces the camera" in line for line in report.lines())
