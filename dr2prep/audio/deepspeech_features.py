"""DeepSpeech v0.1.x character logits as audio features, computed by the PyTorch port.

The graph's weights are loaded once per extractor; the graph's sha256 identifies the kind,
so features of two different graphs are never mixed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dr2prep.audio.deepspeech_graph import ALPHABET, graph_sha256, load_deepspeech_weights
from dr2prep.audio.deepspeech_net import DeepSpeechNet
from dr2prep.audio.feature_extractor import FeatureExtractor
from dr2prep.audio.mfcc import FEATURE_RATE, deepspeech_input

VERSION = "v0.1.x-port-1"  # bump when the port's arithmetic changes


class DeepSpeechExtractor(FeatureExtractor):
    """(N,) 16 kHz speech -> (S, 29) logits at 50 steps/s, through the graph's weights."""

    kind = "deepspeech"
    source_rate = FEATURE_RATE
    version = VERSION

    def __init__(self, graph: Path, device: str = "cpu"):
        self.graph = Path(graph)
        weights = load_deepspeech_weights(self.graph)
        self.sizes = weights.sizes()
        self.dim = weights.n_characters
        self.device = device
        self.net = DeepSpeechNet(weights).to(device).eval()
        self.sha256 = graph_sha256(self.graph)

    def logits(self, network_input: np.ndarray, show_progress: bool = True) -> np.ndarray:
        """(S, 494) standardised MFCC windows -> (S, 29) float32 logits."""
        x = torch.from_numpy(network_input).to(self.device)
        return self.net(x, show_progress=show_progress).float().cpu().numpy()

    def compute(self, samples: np.ndarray) -> np.ndarray:
        return self.logits(deepspeech_input(samples))

    def describe(self) -> dict:
        info = {**super().describe(), "graph_sha256": self.sha256, "graph_sizes": self.sizes}
        if self.dim == len(ALPHABET):
            info["channels"] = list(ALPHABET)
        return info
