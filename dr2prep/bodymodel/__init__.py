"""Body models for dr2: the user's SMPL-X or the open body, and a fast keypoint forward pass.

Everything downstream speaks SMPL-X parameters; see loading.BodyModel and fast_forward.FastForward.
"""

from dr2prep.bodymodel.fast_forward import FastForward, FastOutput
from dr2prep.bodymodel.loading import (
    MODEL_ENV,
    OPEN,
    BodyModel,
    HandPCA,
    default_source,
    describe_default_model,
    load_body_model,
)

__all__ = [
    "MODEL_ENV", "OPEN", "BodyModel", "FastForward", "FastOutput", "HandPCA", "default_source",
    "describe_default_model", "load_body_model",
]
