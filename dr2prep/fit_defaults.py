"""The SMPL-X fit's defaults as plain values.

`FitSettings`, the fit options of `dr2 prep` / `dr2 fit-smplx` and `dr2.fit_settings` all read them from here,
so the CLI shows them without importing torch and no copy can drift from the stage's.
"""

from dr2common.rates import GESTURE_BAND_HZ

MODE = "window"  # one of dr2prep.choices.FIT_MODES
FOCAL_LENGTH = 5000.0  # pixels; what SMPLify-X and the DR² release used
MOTION_WEIGHT = 1e4  # ω of DR²'s motion loss, per rad² of body and hand pose change (FitSettings says why not 1e2)
WINDOW = 32  # frames optimised together in window mode
LOW_PASS_HZ = GESTURE_BAND_HZ  # the finished fit low-passed within shots (0: not); fitting/smoothing.py says why
