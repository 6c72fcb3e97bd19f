"""The value lists `dr2 synth` offers, as plain data, so the CLI can list them without importing OpenCV or torch."""

LOOKS = ("person", "wooden")  # previews: the demo speaker's dressing, or the plain mannequin
