"""The value lists `dr2 prep` offers (stages, keypoint backends, fit modes, audio feature kinds), as plain data.

Kept apart from the modules that implement them so the CLI can list the choices
without importing torch, OpenCV or MediaPipe; those modules import the lists from here.
"""

STAGES = ("media", "shots", "keypoints", "smplx", "audio_features")
KEYPOINT_BACKENDS = ("mediapipe", "openpose", "import")
FIT_MODES = ("window", "sequential", "per-frame")
FEATURE_KINDS = ("builtin", "deepspeech")
