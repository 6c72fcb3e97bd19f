"""The DeepSpeech v0.1.x network in PyTorch: (S, 494) MFCC windows -> (S, 29) character logits.

Three clipped-ReLU layers, a bidirectional LSTM with TensorFlow BasicLSTMCell semantics
(gates i, j, f, o; forget bias 1.0), a clipped-ReLU layer and a linear layer, as in
DeepSpeech.py `BiRNN()` of v0.1.0 with dropout off (inference). The LSTM runs as nn.LSTM
(oneDNN on CPU, cuDNN on CUDA), its weights reordered at load time.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dr2common.progress import progress_bar
from dr2prep.audio.deepspeech_graph import DeepSpeechWeights

RELU_CLIP = 20.0  # DeepSpeech's --relu_clip: min(max(x, 0), 20)
FORGET_BIAS = 1.0  # BasicLSTMCell(n_cell_dim, forget_bias=1.0)
TF_TO_TORCH_GATES = [0, 2, 1, 3]  # TensorFlow's i, j, f, o blocks in PyTorch's order i, f, g (= j), o
_CHUNK_STEPS = 1024  # LSTM steps per call: bounds the memory of input projections on long speech


def _linear(weight: np.ndarray, bias: np.ndarray) -> nn.Linear:
    """nn.Linear from TensorFlow's (in, out) matrix and (out,) bias."""
    layer = nn.Linear(weight.shape[0], weight.shape[1])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight.T)))
        layer.bias.copy_(torch.from_numpy(np.array(bias)))
    return layer


def _torch_lstm(kernel: np.ndarray, bias: np.ndarray) -> nn.LSTM:
    """One direction of a BasicLSTMCell as nn.LSTM; the same cell arithmetic, another weight layout.

    kernel (in + cell, 4 cell) multiplies [x, h] and yields gates i, j, f, o;
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * tanh(j), h' = tanh(c') * sigmoid(o),
    which is nn.LSTM's cell once the blocks are reordered and the forget bias is folded in.
    """
    n_cell = bias.shape[0] // 4
    n_in = kernel.shape[0] - n_cell
    blocks = torch.from_numpy(np.array(kernel, dtype=np.float32)).T.reshape(4, n_cell, n_in + n_cell)
    gate_bias = torch.from_numpy(np.array(bias, dtype=np.float32)).reshape(4, n_cell).clone()
    gate_bias[2] += FORGET_BIAS
    lstm = nn.LSTM(n_in, n_cell)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(blocks[TF_TO_TORCH_GATES, :, :n_in].reshape(4 * n_cell, n_in))
        lstm.weight_hh_l0.copy_(blocks[TF_TO_TORCH_GATES, :, n_in:].reshape(4 * n_cell, n_cell))
        lstm.bias_ih_l0.copy_(gate_bias[TF_TO_TORCH_GATES].reshape(-1))
        lstm.bias_hh_l0.zero_()
    return lstm


class TFBidirectionalLSTM(nn.Module):
    """`tf.nn.bidirectional_dynamic_rnn` over two BasicLSTMCells, for one sequence.

    Each direction runs in chunks of _CHUNK_STEPS, carrying its state across chunks: the same
    result as one pass, with memory bounded for long speech and a progress bar between chunks.
    """

    def __init__(self, fw: tuple[np.ndarray, np.ndarray], bw: tuple[np.ndarray, np.ndarray]):
        super().__init__()
        self.forward_lstm = _torch_lstm(*fw)
        self.backward_lstm = _torch_lstm(*bw)
        self.n_cell = self.forward_lstm.hidden_size

    def forward(self, x: torch.Tensor, show_progress: bool = False) -> torch.Tensor:
        """x (S, in) -> (S, 2 cell): forward outputs, then backward outputs, per step."""
        steps = x.shape[0]
        out = x.new_empty(steps, 2, self.n_cell)
        quiet = {} if show_progress else {"disable": True}  # otherwise progress_bar decides (--quiet, TTY)
        with progress_bar(total=2 * steps, desc="deepspeech lstm", unit="step", **quiet) as bar:
            for direction, lstm in enumerate((self.forward_lstm, self.backward_lstm)):
                sequence = x if direction == 0 else x.flip(0)
                state = None
                for start in range(0, steps, _CHUNK_STEPS):
                    stop = min(start + _CHUNK_STEPS, steps)
                    y, state = lstm(sequence[start:stop, None], state)
                    if direction == 0:
                        out[start:stop, 0] = y[:, 0]
                    else:
                        out[steps - stop : steps - start, 1] = y[:, 0].flip(0)
                    bar.update(stop - start)
        return out.reshape(steps, 2 * self.n_cell)


class DeepSpeechNet(nn.Module):
    """DeepSpeech v0.1.x: (S, 494) standardised MFCC windows -> (S, n_characters) logits."""

    def __init__(self, weights: DeepSpeechWeights, relu_clip: float = RELU_CLIP):
        super().__init__()
        self.relu_clip = relu_clip
        self.layer_1 = _linear(*weights.dense["1"])
        self.layer_2 = _linear(*weights.dense["2"])
        self.layer_3 = _linear(*weights.dense["3"])
        self.lstm = TFBidirectionalLSTM(weights.lstm["fw"], weights.lstm["bw"])
        self.layer_5 = _linear(*weights.dense["5"])
        self.layer_6 = _linear(*weights.dense["6"])

    def _clipped_relu(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, min=0.0, max=self.relu_clip)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor, show_progress: bool = False) -> torch.Tensor:
        x = self._clipped_relu(self.layer_1(x))
        x = self._clipped_relu(self.layer_2(x))
        x = self._clipped_relu(self.layer_3(x))
        x = self.lstm(x, show_progress=show_progress)
        x = self._clipped_relu(self.layer_5(x))
        return self.layer_6(x)
