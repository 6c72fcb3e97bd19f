"""The finished fit, low-passed within shots: keypoint jitter out, gestures kept.

MediaPipe's landmarks shake by a few pixels from frame to frame. The motion
loss (ω) ties neighbouring frames together, but raising it until the shake is
gone also pulls the poses themselves (ω = 1e5 moved speaker_tips' upper body
13 mm from ω = 1e4). What ω leaves is small in position (about 0.5 mm at the
upper-body joints) but large in speed: 18-19 % of the joints' velocity power
on real footage lay above 8 Hz, where co-speech gestures have little, and it
tripled the fits' jerk. A zero-lag low-pass of the fit's variables at 8 Hz
(dr2common.low_pass) removes it; the network then learns, and a BVH export
shows, motion without the detector's shake. Each shot is filtered apart (a cut
is not motion).

The body and hand rotations are axis-angle vectors relative to the parent
joint; speaking bodies keep them far from a half turn, where that
representation wraps, so each component is filtered as a signal.
"""

from __future__ import annotations

import numpy as np
import torch

from dr2common.low_pass import low_pass
from dr2prep.shots import shot_ranges


def low_pass_fit(x: np.ndarray, cuts, fps: float, hz: float, layout) -> np.ndarray:
    """(T, D) fitted variables low-passed at `hz` within each shot, kept inside the layout's bounds; hz 0: x."""
    if hz <= 0:
        return x
    smooth = low_pass(x, shot_ranges(len(x), cuts), fps, hz)
    return layout.clamp(torch.as_tensor(smooth, dtype=torch.float32)).numpy()
