"""dr2prep: turn a video of one speaker into training data for dr2.

Stages: media (frames + audio), keypoints, SMPL-X fit, audio features.
Each stage is a plain function; `dr2prep.stage` gives them caching and locking.
"""

__version__ = "0.1.0"
