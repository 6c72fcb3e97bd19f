"""dr2model: the audio2gestures network, training, synthesis, metrics and previews."""
