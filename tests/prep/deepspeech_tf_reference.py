"""DeepSpeech v0.1.0's BiRNN built and frozen by TensorFlow itself: the parity reference.

Imported only when TensorFlow is installed (tests/prep/test_audio_deepspeech.py); it mirrors
DeepSpeech.py `BiRNN()` and `create_inference_graph()` of v0.1.x with dropout off and small
layer widths. Runs under TensorFlow 1.x, or 2.x with tf_keras (TF_USE_LEGACY_KERAS=1).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # BasicLSTMCell lives in tf_keras under TF >= 2.16

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
N_INPUT, N_CONTEXT, RELU_CLIP = 26, 9, 20.0


def basic_lstm_cell(n_cell: int):
    """TensorFlow's BasicLSTMCell, or AttributeError when this TensorFlow has none."""
    return tf1.nn.rnn_cell.BasicLSTMCell(n_cell, forget_bias=1.0, state_is_tuple=True)


def build_frozen_deepspeech(
    path: str, n_hidden: int, n_characters: int = 29, seed: int = 0, stddev: float = 0.2
) -> None:
    """Write a frozen v0.1.x-style output_graph.pb with random normal weights.

    DeepSpeech initialised with stddev 0.046875 for 2048-wide layers; narrow test layers need
    a larger spread for the logits and LSTM gates to leave the linear range.
    """
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(seed)
        n_cell = n_hidden
        width = N_INPUT + 2 * N_INPUT * N_CONTEXT
        batch_x = tf1.placeholder(tf.float32, [None, None, width], name="input_node")
        seq_length = tf1.placeholder(tf.int32, [None], name="input_lengths")
        init = tf1.random_normal_initializer(stddev=stddev)
        batch_x_shape = tf.shape(batch_x)
        x = tf.reshape(tf.transpose(batch_x, [1, 0, 2]), [-1, width])

        def dense(name, inputs, n_in, n_out, relu=True):
            b = tf1.get_variable(f"b{name}", [n_out], initializer=init)
            h = tf1.get_variable(f"h{name}", [n_in, n_out], initializer=init)
            out = tf.add(tf.matmul(inputs, h), b)
            return tf.minimum(tf.nn.relu(out), RELU_CLIP) if relu else out

        layer_1 = dense("1", x, width, n_hidden)
        layer_2 = dense("2", layer_1, n_hidden, n_hidden)
        layer_3 = dense("3", layer_2, n_hidden, 2 * n_cell)
        layer_3 = tf.reshape(layer_3, [-1, batch_x_shape[0], 2 * n_cell])
        outputs, _ = tf1.nn.bidirectional_dynamic_rnn(
            cell_fw=basic_lstm_cell(n_cell), cell_bw=basic_lstm_cell(n_cell), inputs=layer_3,
            dtype=tf.float32, time_major=True, sequence_length=tf.cast(seq_length, tf.int64),
        )  # fmt: skip
        outputs = tf.reshape(tf.concat(outputs, 2), [-1, 2 * n_cell])
        layer_5 = dense("5", outputs, 2 * n_cell, n_hidden)
        layer_6 = dense("6", layer_5, n_hidden, n_characters, relu=False)
        tf.reshape(layer_6, [-1, batch_x_shape[0], n_characters], name="logits")
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            frozen = tf1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), ["logits"])
    with open(path, "wb") as f:
        f.write(frozen.SerializeToString())


def run_frozen_logits(path: str, network_input: np.ndarray) -> np.ndarray:
    """(S, 494) input -> (S, n_characters) logits, run by TensorFlow on the frozen graph."""
    graph_def = tf1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    graph = tf.Graph()
    with graph.as_default():
        tf1.import_graph_def(graph_def, name="deepspeech")
        with tf1.Session(graph=graph) as session:
            logits = session.run(
                "deepspeech/logits:0",
                {"deepspeech/input_node:0": network_input[None], "deepspeech/input_lengths:0": [len(network_input)]},
            )
    return logits[:, 0]
