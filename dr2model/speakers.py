"""Do the training clips look like one person? A simple check on the fitted body shapes (betas).

DR² learns one speaker: a model trained on clips of three different people
had beats no better than shifted audio (issue 12). Each clip's fit has its
own betas; clips of one person fit similar shapes, clips of different people
usually do not. The check only warns: a user may know better.
"""

from __future__ import annotations

import numpy as np

# L2 distance of the first 10 betas above which two clips look like different bodies. The two halves of one
# speaker's clip (speaker_tips_46s split at 34 s, fitted separately) differ by much less; see README.
BETAS_DISTANCE = 1.5
MIXING_NOTE = ("dr2 learns one speaker's gestures: clips of different people are pooled into one average "
               "speaker, whose gestures follow the speech no better than shifted audio")


def shape_distances(betas: dict[str, np.ndarray]) -> dict[tuple[str, str], float]:
    """Pairwise L2 distances of the clips' first 10 betas."""
    names = list(betas)
    vectors = {n: np.zeros(10) for n in names}
    for name in names:
        given = np.asarray(betas[name], np.float64).reshape(-1)[:10]
        vectors[name][:len(given)] = given
    return {(a, b): float(np.linalg.norm(vectors[a] - vectors[b]))
            for i, a in enumerate(names) for b in names[i + 1:]}


def mixing_warning(betas: dict[str, np.ndarray], limit: float = BETAS_DISTANCE) -> str | None:
    """A one-line warning when some clips' fitted shapes differ like different people's; None otherwise."""
    far = [(a, b, d) for (a, b), d in shape_distances(betas).items() if d > limit]
    if not far:
        return None
    a, b, d = max(far, key=lambda item: item[2])
    return (f"train: warning: clips {a} and {b} look like different people (body shapes {d:.1f} apart, "
            f"limit {limit}); {MIXING_NOTE}. Train one model per speaker.")
