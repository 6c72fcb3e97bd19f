"""The audio2gestures network of DR², exactly as Tables 1–3 of the supplementary.

Audio encoder (Table 1) + pose encoder (Table 2) -> a 288×128 feature -> face,
body and hand Conv1D decoders (Table 3). Only the network lives here; data,
losses and the training loop are in their own modules. dr2 trains the same
layers to give the pose relative to the initial state (`relative_pose`), which
keeps samples started from different states apart (dr2model/losses.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

WINDOW = 128  # frames per generated sequence (Table 1's time axis)
AUDIO_DIM = 29  # DeepSpeech character logits per frame
FACE_DIM = 10  # SMPL-X expression
BODY_DIM = 35  # body code 32 + camera translation 3
HAND_DIM = 24  # 12 + 12 hand code
TRANSLATION_DIM = 3  # the optional extra body outputs for standing subjects
POSE_FEATURE_DIM = 32  # Table 2's output, "p"
AUDIO_FEATURE_DIM = 256  # Table 1's channels after the U-Net
HIDDEN_DIM = 256  # decoder hidden channels (Table 3)
LEAKY_SLOPE = 0.2


@dataclass(frozen=True)
class NetworkConfig:
    """The sizes that define a network; saved with every checkpoint.

    `extra_translation` adds 3 body outputs (and 3 pose-state inputs) for
    standing subjects (supplementary §1.2).
    """

    audio_dim: int = AUDIO_DIM
    face_dim: int = FACE_DIM
    body_dim: int = BODY_DIM
    hand_dim: int = HAND_DIM
    extra_translation: bool = False
    # The decoders give the pose relative to the initial state (P̂_t = P_1 + decoder_t) instead of the absolute
    # pose state. The layers are Tables 1–3 either way; False is the paper's (and older checkpoints') output.
    relative_pose: bool = False

    @property
    def body_out(self) -> int:
        return self.body_dim + (TRANSLATION_DIM if self.extra_translation else 0)

    @property
    def pose_dim(self) -> int:
        """Size of the pose state P (59, or 62 with the extra translation)."""
        return self.body_out + self.hand_dim

    def to_dict(self) -> dict:
        return asdict(self)


def conv_block_2d(in_ch: int, out_ch: int, kernel, stride, padding) -> nn.Sequential:
    """Conv2D -> LeakyReLU -> BatchNorm (supplementary §1.1). `padding` is (left, right, top, bottom)."""
    return nn.Sequential(
        nn.ZeroPad2d(padding),
        nn.Conv2d(in_ch, out_ch, kernel, stride),
        nn.LeakyReLU(LEAKY_SLOPE),
        nn.BatchNorm2d(out_ch),
    )


def conv_block_1d(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    """Conv1D k3 -> LeakyReLU -> BatchNorm, the U-Net's unit."""
    return nn.Sequential(
        nn.Conv1d(in_ch, out_ch, 3, stride, padding=1),
        nn.LeakyReLU(LEAKY_SLOPE),
        nn.BatchNorm1d(out_ch),
    )


class UNet1D(nn.Module):
    """A standard 4-level 1-D U-Net (Ronneberger et al.) on 256×128: 4 strided downs, 4 ups with concat skips.

    Lengths 128 -> 64 -> 32 -> 16 -> 8 and back; channels stay 256 (Table 1).
    """

    def __init__(self, channels: int = AUDIO_FEATURE_DIM, levels: int = 4):
        super().__init__()
        self.downs = nn.ModuleList(conv_block_1d(channels, channels, stride=2) for _ in range(levels))
        self.bottom = conv_block_1d(channels, channels)
        self.ups = nn.ModuleList(conv_block_1d(2 * channels, channels) for _ in range(levels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 256, T) with T divisible by 16 -> (B, 256, T)."""
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(x)
        x = self.bottom(x)
        for up, skip in zip(self.ups, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-1], mode="linear", align_corners=False)
            x = up(torch.cat([x, skip], dim=1))
        return x


class AudioEncoder(nn.Module):
    """Table 1: (B, 128, 29) audio features -> (B, 256, 128).

    Paddings are chosen so every shape in Table 1 comes out exactly:
    1×128×29 -> 32×64×13 -> 128×32×5 -> 256×32×2 -> 256×32×2. The 4×4/1 conv
    needs an odd total time padding (3: one before, two after) to keep 32 frames.
    """

    def __init__(self, audio_dim: int = AUDIO_DIM):
        super().__init__()
        if audio_dim != AUDIO_DIM:
            raise ValueError(f"Table 1 is defined for {AUDIO_DIM}-dim audio features, got {audio_dim}")
        # ZeroPad2d order: (feature left, feature right, time top, time bottom).
        self.convs = nn.Sequential(
            conv_block_2d(1, 32, (4, 4), (2, 2), (0, 0, 1, 1)),  # 1×128×29 -> 32×64×13
            conv_block_2d(32, 128, (4, 4), (2, 2), (0, 0, 1, 1)),  # -> 128×32×5
            conv_block_2d(128, 256, (4, 4), (1, 1), (0, 0, 1, 2)),  # -> 256×32×2
            conv_block_2d(256, 256, (3, 1), (1, 1), (0, 0, 1, 1)),  # -> 256×32×2
        )
        self.unet = UNet1D(AUDIO_FEATURE_DIM)

    @staticmethod
    def to_sequence(x: torch.Tensor, length: int = WINDOW) -> torch.Tensor:
        """Reshape 256×32×2 -> 256×64, then bilinear interpolation to 256×`length` (Table 1)."""
        b, c, t, w = x.shape
        x = x.reshape(b, 1, c, t * w)
        x = F.interpolate(x, size=(c, length), mode="bilinear", align_corners=False)
        return x.reshape(b, c, length)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio: (B, T=128, 29) -> (B, 256, 128)."""
        x = self.convs(audio.unsqueeze(1))
        x = self.to_sequence(x, audio.shape[1])
        return self.unet(x)


class PoseEncoder(nn.Module):
    """Table 2: initial pose state (B, 59) -> pose feature p (B, 32)."""

    def __init__(self, pose_dim: int = BODY_DIM + HAND_DIM):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(pose_dim, 128),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(128, 128),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(128, POSE_FEATURE_DIM),
        )

    def forward(self, initial_pose: torch.Tensor) -> torch.Tensor:
        return self.mlp(initial_pose)


class Decoder(nn.Sequential):
    """Table 3: (B, 288, 128) -> (B, out, 128) with Conv1D k3 288->256->256->out, LeakyReLU between."""

    def __init__(self, out_dim: int, in_dim: int = AUDIO_FEATURE_DIM + POSE_FEATURE_DIM):
        super().__init__(
            nn.Conv1d(in_dim, HIDDEN_DIM, 3, 1, padding=1),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv1d(HIDDEN_DIM, HIDDEN_DIM, 3, 1, padding=1),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv1d(HIDDEN_DIM, out_dim, 3, 1, padding=1),
        )


class Audio2Gestures(nn.Module):
    """DR²'s generator: (audio window, initial pose state) -> pose and face sequences.

    The pose state P is [body code | translation | hands] (59, or 62 with the
    extra standing translation appended after the hands); the face F is 10.
    """

    def __init__(self, config: NetworkConfig = NetworkConfig()):
        super().__init__()
        self.config = config
        self.audio_encoder = AudioEncoder(config.audio_dim)
        self.pose_encoder = PoseEncoder(config.pose_dim)
        self.face_decoder = Decoder(config.face_dim)
        self.body_decoder = Decoder(config.body_out)
        self.hand_decoder = Decoder(config.hand_dim)

    def features(self, audio_feature: torch.Tensor, initial_pose: torch.Tensor) -> torch.Tensor:
        """Concat p (repeated over time) to the audio feature: (B, 256, T), (B, D) -> (B, 288, T)."""
        p = self.pose_encoder(initial_pose)
        p = p.unsqueeze(-1).expand(-1, -1, audio_feature.shape[-1])
        return torch.cat([audio_feature, p], dim=1)

    def decode(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 288, T) -> pose (B, T, D_pose), face (B, T, 10), in the pose-state layout."""
        face = self.face_decoder(features)
        body = self.body_decoder(features)
        hands = self.hand_decoder(features)
        body_dim = self.config.body_dim
        # Keep the standing translation (if any) after the hands, as in the pose state.
        pose = torch.cat([body[:, :body_dim], hands, body[:, body_dim:]], dim=1)
        return pose.transpose(1, 2), face.transpose(1, 2)

    def generate(self, audio_feature: torch.Tensor, initial_pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 256, T) encoded audio, (B, D) initial states -> pose (B, T, D), face (B, T, 10).

        With `relative_pose` the decoded pose is an offset from the initial state: a window keeps the posture
        it starts from unless the audio moves it, so different initial states give different samples.
        """
        pose, face = self.decode(self.features(audio_feature, initial_pose))
        if self.config.relative_pose:
            pose = pose + initial_pose.unsqueeze(1).to(pose.dtype)
        return pose, face

    def forward(self, audio: torch.Tensor, initial_pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (B, T, 29), initial_pose (B, D) or (B, K, D) -> pose (B, [K,] T, D), face (B, [K,] T, 10).

        With K initial states per audio window (the paired and unpaired
        branches), the audio is encoded once and shared: the encoder output
        does not depend on the initial state.
        """
        audio_feature = self.audio_encoder(audio)
        if initial_pose.dim() == 2:
            return self.generate(audio_feature, initial_pose)
        b, k, d = initial_pose.shape
        repeated = audio_feature.unsqueeze(1).expand(-1, k, -1, -1).reshape(b * k, *audio_feature.shape[1:])
        pose, face = self.generate(repeated, initial_pose.reshape(b * k, d))
        return pose.reshape(b, k, *pose.shape[1:]), face.reshape(b, k, *face.shape[1:])
