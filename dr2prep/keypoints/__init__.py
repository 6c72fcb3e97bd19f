"""The keypoints stage: 2D body, hand and face keypoints of the speaker in OpenPose's format.

Backends: MediaPipe Holistic (default, offline), OpenPose (pyopenpose), or an import of OpenPose JSON.
"""
