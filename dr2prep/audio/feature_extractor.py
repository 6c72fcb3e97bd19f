"""The interface every audio feature extractor implements (built-in, DeepSpeech).

Its own module so that an extractor's module and `extractor.make_extractor`, which
picks one, do not import each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class FeatureExtractor(ABC):
    """Speech in, (N, dim) float32 feature rows at `source_rate` rows per second out."""

    kind: str
    dim: int
    source_rate: float
    version: str

    @abstractmethod
    def compute(self, samples: np.ndarray) -> np.ndarray:
        """(N,) float32 mono samples in [-1, 1] at 16 kHz -> (rows, dim) float32."""

    def describe(self) -> dict:
        """The kind and its settings, JSON-ready; written next to the features and into checkpoints."""
        return {"kind": self.kind, "dim": self.dim, "source_rate": self.source_rate, "version": self.version}
