"""The value lists `dr2 synth` and `dr2 train` offer, as plain data, so the CLI can list them without importing
OpenCV or torch."""

LOOKS = ("person", "wooden")  # previews: the demo speaker's dressing, or the plain mannequin
AUDIO_CHANNELS = ("prosody", "all")  # `dr2 train --audio-channels`: what of the audio features the network hears
