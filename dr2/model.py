"""A trained model in Python: `load_model(DIR)` once, then `.synthesize(speech)` as often as wanted.

`Model.synthesize` returns the samples' SMPL-X parameters in memory; writing
them (`save`), previews (`preview`) and export (`dr2.export`) are separate
calls. `synthesize` (the function) is `dr2 synth`: files in, files out.
Both run the same code as `dr2 synth` (`dr2model.synthesis`), so the same
seed gives the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPEECH_STEM = "speech"  # file stem of samples synthesised from a waveform rather than a file


@dataclass(frozen=True)
class Sample:
    """One synthesised sequence: `smplx.SMPLX` forward arguments per frame, and how it was started.

    `params` holds betas (T, 10), global_orient (T, 3), body_pose (T, 63),
    jaw/leye/reye_pose (T, 3), left/right_hand_pose (T, 45, full axis-angle
    relative to the mean hand), expression (T, 10) and transl (T, 3), float32,
    at `fps` frames per second.
    """

    params: dict[str, np.ndarray]
    seed: int
    init_frame: int  # training frame (state bank) it started from
    clip: str  # training clip whose speaker (shape, orientation, place) it wears
    init_noise: bool  # Eq. 1 noise was added to its initial state (a shared init_frame, sample after the first)
    speech: Path | None  # the speech file, None for a waveform
    options: dict = field(default_factory=dict)  # window, stride, overlap, state_noise, anchor, smoothing
    fps: int = 30

    @property
    def frames(self) -> int:
        return len(self.params["body_pose"])


class Model:
    """A trained dr2 model held in memory (network in eval mode on `device`), ready for many `synthesize` calls."""

    def __init__(self, loaded, model_dir: Path, device: str, smplx_model: str | None = None,
                 deepspeech_graph: str | Path | None = None):
        self.loaded = loaded  # dr2model.checkpoint.LoadedModel
        self.model_dir = Path(model_dir)
        self.device = device
        self.smplx_model = smplx_model
        self.deepspeech_graph = deepspeech_graph
        self._body = None
        self._extractor = None

    def __repr__(self) -> str:
        return (f"dr2.Model({str(self.model_dir)!r}, step {self.step}, {self.feature_kind} features, "
                f"{len(self.loaded.state_bank)} training frames, device {self.device!r})")

    @property
    def config(self) -> dict:
        return self.loaded.config

    @property
    def step(self) -> int | None:
        return self.config.get("step")

    @property
    def feature_kind(self) -> str:
        return self.loaded.feature_kind

    def synthesize(self, speech, num_samples: int = 1, seed: int = 0, init_frame: int | None = None,
                   sample_rate: int | None = None, overlap: int | None = None,
                   state_noise: float | None = None, anchor: float | None = None,
                   low_pass_hz: float | None = None) -> list[Sample]:
        """Gestures for `speech`: a file path (any format ffmpeg reads) or a waveform (N,) / (N, channels).

        A waveform is at `sample_rate` (default 16 kHz). Sample k uses seed
        `seed + k` and starts from a random training frame, or from
        `init_frame` for all. `overlap` / `state_noise` / `anchor` / `low_pass_hz` default to `dr2 synth`'s.
        """
        from dr2model import synthesis

        overlap = synthesis.OVERLAP if overlap is None else overlap
        state_noise = synthesis.STATE_NOISE if state_noise is None else state_noise
        anchor = synthesis.ANCHOR if anchor is None else anchor
        low_pass_hz = synthesis.LOW_PASS_HZ if low_pass_hz is None else low_pass_hz
        speech_path = None if isinstance(speech, np.ndarray) else Path(speech)
        synthesis.require_decodable(self.loaded, self.model_dir)
        result = synthesis.synthesize_states(
            self.loaded, speech if speech_path is None else speech_path, num_samples, seed, init_frame, self.device,
            self.deepspeech_graph, synthesis.SMOOTHING_RANGE, sample_rate=sample_rate, overlap=overlap,
            state_noise=state_noise, anchor=anchor, extractor=self.feature_extractor(), low_pass_hz=low_pass_hz)
        options = synthesis.synthesis_options(overlap, state_noise, anchor, low_pass_hz=low_pass_hz)
        samples = []
        for k in range(num_samples):
            frame = int(result.init_frames[k])
            identity = synthesis.identity_of(self.loaded, frame)
            params = synthesis.smplx_params(self.loaded, result.pose[k], result.face[k], identity)
            samples.append(Sample(params, int(result.seeds[k]), frame, identity.name,
                                  bool(init_frame is not None and k > 0), speech_path, options, synthesis.FPS))
        return samples

    def save(self, samples: list[Sample], out_dir: str | Path, stem: str | None = None) -> list[Path]:
        """Write each sample as `dr2 synth` does: `<stem>_seed<S>.npz` (SMPL-X arrays) and `.json` (how it was made).

        `stem` defaults to the speech file's (or "speech" for a waveform).
        The .npz is what `dr2 export`, `dr2 view` and `dr2model.synthesis.load_sample` read.
        """
        from dr2model import synthesis
        from dr2common.atomic import savez_atomic, write_json_atomic

        out_dir = synthesis.check_output_dir(Path(out_dir))
        paths = []
        for sample in samples:
            name = f"{stem or _stem(sample)}_seed{sample.seed}"
            if sample.speech is not None:
                synthesis.check_stem_free(out_dir, stem or _stem(sample), sample.speech)
            params_path = out_dir / f"{name}.npz"
            savez_atomic(params_path, **sample.params)
            write_json_atomic(out_dir / f"{name}.json", synthesis.sample_info(
                self.loaded, self.model_dir, sample.frames, sample.speech, sample.seed, sample.init_frame,
                sample.init_noise, sample.clip, sample.options))
            paths.append(params_path)
        return paths

    def preview(self, samples: list[Sample], out_dir: str | Path, stem: str | None = None, grid: bool = False,
                renderer: str = "auto", look: str = "person") -> list[Path]:
        """Preview videos with the speech (when it came from a file): one per sample, or one side by side (`grid`).
        `look`: "person" (dressed) or "wooden" (the plain mannequin).

        Named as `dr2 synth` names them: `<stem>_seed<S>.mp4` or `<stem>_grid.mp4`.
        """
        from dr2model.preview import render_preview

        body = self.body_model()
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        labels = [f"seed {s.seed}, frame {s.init_frame}" for s in samples]
        speech = samples[0].speech if samples else None
        if grid:
            path = out_dir / f"{stem or _stem(samples[0])}_grid.mp4"
            return [render_preview([s.params for s in samples], body, speech, path, labels, renderer, look=look)]
        return [render_preview([s.params], body, s.speech, out_dir / f"{stem or _stem(s)}_seed{s.seed}.mp4", [label],
                               renderer, look=look) for s, label in zip(samples, labels)]

    def feature_extractor(self):
        """The audio feature extractor of the model's kind, made once (DeepSpeech's graph is read once).

        None for a kind dr2 cannot compute: synthesis then explains that.
        """
        if self._extractor is None:
            from dr2prep.audio.extractor import FEATURE_KINDS, make_extractor

            kind = self.feature_kind
            if kind in FEATURE_KINDS:
                self._extractor = make_extractor(kind, self.deepspeech_graph if kind == "deepspeech" else None,
                                                 self.device)
        return self._extractor

    def body_model(self):
        """The SMPL-X body the training clips were fitted with (loaded once; a different one is refused)."""
        if self._body is None:
            from dr2model.synthesis import require_body_model
            from dr2prep.bodymodel.loading import load_body_model

            body = load_body_model(self.smplx_model)
            require_body_model(self.loaded, body, self.model_dir)
            self._body = body
        return self._body


def _stem(sample: Sample) -> str:
    return sample.speech.stem if sample.speech is not None else SPEECH_STEM


def load_model(model_dir: str | Path = "dr2-model", device: str = "auto", smplx_model: str | None = None,
               deepspeech_graph: str | Path | None = None) -> Model:
    """The model `dr2 train` wrote to `model_dir`, loaded once onto `device` ("auto": CUDA when present).

    `smplx_model` (for previews; None: $DR2_SMPLX_MODEL, else the open body)
    must be the body the training clips were fitted with; `deepspeech_graph`
    (else $DR2_DEEPSPEECH_GRAPH) is needed only by models trained on DeepSpeech features.
    """
    from dr2.defaults import resolve_device
    from dr2model.checkpoint import load_model as load

    device = resolve_device(device)
    return Model(load(Path(model_dir), device), Path(model_dir), device, smplx_model, deepspeech_graph)


def synthesize(model_dir: str | Path, speech: str | Path, out_dir: str | Path, num_samples: int = 1, seed: int = 0,
               init_frame: int | None = None, preview: bool = True, grid: bool = False, renderer: str = "auto",
               smplx_model: str | None = None, deepspeech_graph: str | Path | None = None,
               overlap: int | None = None, state_noise: float | None = None, anchor: float | None = None,
               device: str = "auto", look: str = "person", low_pass_hz: float | None = None):
    """`dr2 synth`: speech file -> `<stem>_seed<S>.npz` + `.json` per sample in `out_dir`, and previews.

    Returns one `dr2model.synthesis.SampleOutput` per sample (its paths, seed,
    initial frame). For results in memory use `load_model(...).synthesize(...)`.
    """
    from dr2.defaults import resolve_device
    from dr2model.synthesis import synthesize as synthesize_files

    options = {k: v for k, v in (("overlap", overlap), ("state_noise", state_noise), ("anchor", anchor),
                                 ("low_pass_hz", low_pass_hz)) if v is not None}
    return synthesize_files(Path(model_dir), Path(speech), Path(out_dir), num_samples=num_samples, seed=seed,
                            init_frame=init_frame, device=resolve_device(device), preview=preview, grid=grid,
                            deepspeech_graph=deepspeech_graph, body_model=smplx_model, renderer=renderer, look=look,
                            **options)
