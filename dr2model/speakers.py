"""What `dr2 train` says when given several clips: dr2 learns one speaker.

A model trained on three short clips of three different people had beats no
better than shifted audio (issue 12): the clips are pooled into one average
speaker. Telling the people apart automatically was tried on the fitted body
shapes and does not work: the two halves of one speaker's clip
(speaker_tips_46s split at 34 s, fitted separately) have betas 1.83 apart,
that speaker and the seated speaker only 1.37. So the note is printed for
every multi-clip run and the user, who knows who is in the clips, decides.
"""

from __future__ import annotations

MIXING_NOTE = ("dr2 learns one speaker: clips of different people are pooled into one average speaker whose "
               "gestures follow the speech no better than shifted audio; give clips of one person only")


def several_clips_note(names: list[str]) -> str | None:
    """The line `dr2 train` prints for several clips (None for one)."""
    if len(names) < 2:
        return None
    return f"train: {len(names)} clips ({', '.join(names)}); {MIXING_NOTE}"
