"""Choosing the torch device from `--device auto|cpu|cuda`."""

from __future__ import annotations

from dr2common.errors import Dr2Error

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str = "auto") -> str:
    """'cuda' when asked for or available (auto), else 'cpu'; asking for absent CUDA is an error.

    Only "auto" and "cuda" import torch (about 2 s): "cpu" is answered without it."""
    if choice not in DEVICE_CHOICES:
        raise Dr2Error(f"unknown device {choice!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if choice == "cpu":
        return choice
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise Dr2Error("--device cuda was asked for but PyTorch sees no CUDA device; use --device cpu or auto")
    return choice
