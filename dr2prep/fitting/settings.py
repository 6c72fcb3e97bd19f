"""What decides a fit, without torch: `dr2 prep` builds these settings (and the stage
fingerprints them) before the fit's heavy imports, which then load beside keypoint detection."""

from __future__ import annotations

from dataclasses import dataclass, field

from dr2prep import fit_defaults


@dataclass(frozen=True)
class PriorWeights:
    """One stage's weights (SMPLify-X convention: each enters squared)."""

    body: float
    hand: float
    face: float  # expression / open-body face code
    jaw: float
    bending: float
    shape: float
    hand_keypoints: float  # data weight of the hand keypoints
    face_keypoints: float  # data weight of the face keypoints
    upright: float = 0.0  # reference frames only: global orientation away from upright, facing the camera


BENDING_RATIO = 3.17  # SMPLify's bending-prior weight relative to the pose prior's
# SMPLify-X's annealing: stiff priors first (the pose stays plausible while the camera and
# the torso settle), then looser; hand and face keypoints join in the third stage. Weights
# are per radian (per unit code) against a data term in millimetres: the last stage's 5
# treats a 1 rad joint rotation like a 5 mm keypoint error (SMPLify-X's own 404 .. 4.78
# were tuned for VPoser's latent against pixels, and are far too stiff for axis-angle here).
# The upright prior is not annealed: the body's pitch is hardly observed in 2D, so a prior that fades lets
# it drift to wherever a few pixels of keypoint mismatch pull it (objective.STIFF_JOINTS says more).
UPRIGHT_WEIGHT = 300.0
FIRST_FRAME_STAGES = tuple(
    PriorWeights(body=w, hand=w, face=w, jaw=w, bending=BENDING_RATIO * w, shape=w, hand_keypoints=float(parts),
                 face_keypoints=float(parts), upright=UPRIGHT_WEIGHT)
    for w, parts in ((100.0, False), (30.0, False), (10.0, True), (5.0, True))
)


@dataclass(frozen=True)
class FitSettings:
    """Everything that decides the fit (fingerprinted by the stage cache).

    The data term is in millimetres at the body (objective.py), so the weights mean the same
    for any resolution, focal length and framing. DR²'s ω = 1e2 was set against SMPLify-X's
    pixel loss on the authors' footage; in these units it only just halves the jitter of
    per-frame fitting, while 1e4 cuts it to about a ninth and gives the best PA-MPJPE
    (benchmarks/bench_fit.py sweeps ω; 1e5 starts to smooth real motion away).
    """

    mode: str = fit_defaults.MODE
    focal_length: float = fit_defaults.FOCAL_LENGTH
    motion_weight: float = fit_defaults.MOTION_WEIGHT  # ω of DR²'s motion loss, per rad² of body and hand motion
    translation_motion_weight: float = 1e6  # ours, the same tie for translation: per m² of x, y and per (log depth)²
    iterations: int = 6  # Levenberg-Marquardt iterations per window (window) or per frame (sequential, per-frame)
    window: int = fit_defaults.WINDOW  # frames optimised together in window mode
    rho: float = 100.0  # Geman-McClure scale in millimetres at the body
    final_weights: PriorWeights = field(default_factory=lambda: FIRST_FRAME_STAGES[-1])
    first_frame_iterations: int = 30  # Levenberg-Marquardt iterations per SMPLify-X stage on the reference frames
    reference_frames: int = 1  # frames, spread over the clip, that fix the shape and orientation together
    vposer: str = ""  # a VPoser v1.0 snapshot (.pt or its folder): the body prior and code, as the release
    low_pass_hz: float = fit_defaults.LOW_PASS_HZ  # the finished fit low-passed within shots (0: not): smoothing.py
