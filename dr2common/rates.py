"""The two clocks every part of dr2 runs on, video frames and audio samples, and the band gestures move in.

Frames are resampled to the paper's 30 FPS when a video is prepared, and
training, synthesis and evaluation count time in those frames; speech is read
as 16 kHz mono, what the DeepSpeech v0.1.0 model was trained on. The fit, the
synthesised motion and the held-out benchmark keep motion below GESTURE_BAND_HZ
(dr2common.low_pass).
"""

FPS = 30  # frames per second of every clip, training window and synthesised sequence
SAMPLE_RATE = 16_000  # Hz of the speech the audio feature extractors read
GESTURE_BAND_HZ = 8.0  # co-speech gesture motion lies below this; a fit's velocity above it is mostly jitter
