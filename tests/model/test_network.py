"""Tables 1–3 of the supplementary: every intermediate shape of the audio2gestures network."""

from __future__ import annotations

import pytest
import torch

from dr2model.network import Audio2Gestures, AudioEncoder, Decoder, NetworkConfig, PoseEncoder

BATCH = 2


@pytest.fixture(scope="module")
def network() -> Audio2Gestures:
    torch.manual_seed(0)
    return Audio2Gestures().eval()


def test_table1_audio_encoder_shapes(network):
    encoder: AudioEncoder = network.audio_encoder
    x = torch.randn(BATCH, 128, 29).unsqueeze(1)
    assert tuple(x.shape[1:]) == (1, 128, 29)  # DeepSpeech
    expected = [(32, 64, 13), (128, 32, 5), (256, 32, 2), (256, 32, 2)]
    kernels = [((4, 4), (2, 2)), ((4, 4), (2, 2)), ((4, 4), (1, 1)), ((3, 1), (1, 1))]
    for block, shape, (kernel, stride) in zip(encoder.convs, expected, kernels):
        conv = block[1]
        assert conv.kernel_size == kernel and conv.stride == stride
        x = block(x)
        assert tuple(x.shape[1:]) == shape
    # Reshape 256×64, bilinear interpolation to 256×128.
    b, c, t, w = x.shape
    assert (c, t * w) == (256, 64)
    x = encoder.to_sequence(x, 128)
    assert tuple(x.shape[1:]) == (256, 128)
    x = encoder.unet(x)
    assert tuple(x.shape[1:]) == (256, 128)  # U-Net


def test_unet_has_four_levels(network):
    unet = network.audio_encoder.unet
    assert len(unet.downs) == 4 and len(unet.ups) == 4
    x = torch.randn(BATCH, 256, 128)
    lengths = []
    for down in unet.downs:
        x = down(x)
        lengths.append(x.shape[-1])
    assert lengths == [64, 32, 16, 8]


def test_table1_concat_pose_feature(network):
    audio_feature = network.audio_encoder(torch.randn(BATCH, 128, 29))
    features = network.features(audio_feature, torch.randn(BATCH, 59))
    assert tuple(features.shape[1:]) == (288, 128)  # Concat p
    # p is the same for every frame.
    assert torch.equal(features[:, 256:, 0], features[:, 256:, -1])


def test_table2_pose_encoder_shapes():
    encoder = PoseEncoder(59)
    layers = list(encoder.mlp)
    assert [type(m).__name__ for m in layers] == ["Linear", "LeakyReLU", "Linear", "LeakyReLU", "Linear"]
    assert [(m.in_features, m.out_features) for m in layers if isinstance(m, torch.nn.Linear)] == [
        (59, 128), (128, 128), (128, 32)]
    assert all(m.negative_slope == 0.2 for m in layers if isinstance(m, torch.nn.LeakyReLU))
    x = torch.randn(BATCH, 59)
    outputs = []
    for layer in layers:
        x = layer(x)
        outputs.append(tuple(x.shape))
    assert outputs == [(BATCH, 128)] * 4 + [(BATCH, 32)]


@pytest.mark.parametrize("name, out", [("face_decoder", 10), ("body_decoder", 35), ("hand_decoder", 24)])
def test_table3_decoder_shapes(network, name, out):
    decoder: Decoder = getattr(network, name)
    convs = [m for m in decoder if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (288, 256, 3, 1), (256, 256, 3, 1), (256, out, 3, 1)]
    x = torch.randn(BATCH, 288, 128)  # Concat s
    shapes = []
    for layer in decoder:
        x = layer(x)
        if isinstance(layer, torch.nn.Conv1d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(256, 128), (256, 128), (out, 128)]


def test_forward_outputs_pose_state_and_face(network):
    pose, face = network(torch.randn(BATCH, 128, 29), torch.randn(BATCH, 59))
    assert pose.shape == (BATCH, 128, 59) and face.shape == (BATCH, 128, 10)


def test_two_branches_share_the_audio_encoding(network):
    """(B, K, D) initial states give the same result as K separate calls (eval mode)."""
    audio, states = torch.randn(BATCH, 128, 29), torch.randn(BATCH, 2, 59)
    pose, face = network(audio, states)
    assert pose.shape == (BATCH, 2, 128, 59) and face.shape == (BATCH, 2, 128, 10)
    for k in range(2):
        single_pose, single_face = network(audio, states[:, k])
        torch.testing.assert_close(pose[:, k], single_pose)
        torch.testing.assert_close(face[:, k], single_face)


def test_standing_adds_three_translation_outputs():
    config = NetworkConfig(extra_translation=True)
    network = Audio2Gestures(config).eval()
    assert config.pose_dim == 62 and network.body_decoder[-1].out_channels == 38
    assert network.pose_encoder.mlp[0].in_features == 62
    pose, _ = network(torch.randn(1, 128, 29), torch.randn(1, 62))
    assert pose.shape == (1, 128, 62)
