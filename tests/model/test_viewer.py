"""dr2 view: the page is self-contained, and in a real headless Chromium it draws the bodies and follows the speech."""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import cv2
import numpy as np
import pytest

from dr2model.demo_input import make_demo_speech
from dr2model.export.gltf import continuous_quaternions
from dr2model.export.motion import load_motion
from dr2prep.bodymodel.loading import load_body_model
from dr2prep.bodymodel import skeleton
from tests.cli_runner import assert_one_line_error, run_dr2
from tests.model.chromium_page import BrowserPage
from tests.model.export_fixtures import FPS, require_chromium, synth_result

SECONDS = 4.0
FRAMES = int(SECONDS * FPS)
BACKGROUND = (0xF2, 0xF2, 0xF0)  # the page's scene background (RGB)
BAR_HEIGHT = 56  # the control bar under the 3D view
JOINT = skeleton.JOINT_NAMES.index("right_elbow")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """Two samples of one speech and the page `dr2 view` writes for them."""
    folder = tmp_path_factory.mktemp("view")
    results = [synth_result(folder / f"speech_seed{k}.npz", frames=FRAMES, seed=3 + k) for k in range(2)]
    speech = make_demo_speech(folder / "speech.wav", seconds=SECONDS)
    run = run_dr2("view", *results, "--audio", speech, "--out", folder / "speech_view.html", check=True)
    assert run.stdout.strip() == str(folder / "speech_view.html")
    return folder / "speech_view.html", results


def expected_quaternion(result, frame: int) -> np.ndarray:
    motion = load_motion(result, load_body_model("open"))
    return continuous_quaternions(motion.local_rotvecs[:, JOINT])[frame]


def same_rotation(a, b) -> bool:
    return abs(abs(float(np.dot(a, b))) - 1.0) < 1e-5  # q and -q are one rotation


def body_pixels(png: bytes) -> np.ndarray:
    """(H, W) bool: pixels of the 3D view (control bar cut off) that are not the scene's background."""
    picture = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return np.abs(picture[:-BAR_HEIGHT].astype(np.int32) - np.array(BACKGROUND)).max(axis=2) > 40


def test_page_is_self_contained(page):
    html = page[0].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the page fetches something"
    assert 'data:audio/wav;base64,' in html and "data:text/javascript;base64," in html
    assert html.count("<script") == 3  # the data, the import map, the page's module


def test_page_plays_in_chromium_in_sync_with_the_speech(page, tmp_path):
    require_chromium()
    path, results = page
    with BrowserPage(path.as_uri()) as browser:
        browser.wait_for("window.dr2 && window.dr2.ready === true && window.dr2.state.renders > 0")
        assert browser.evaluate("dr2.frames") == FRAMES
        browser.evaluate("dr2.play()", user_gesture=True)
        time.sleep(2.0)
        playing = browser.evaluate("({audio: document.getElementById('speech').currentTime, state: dr2.state})")
        shot = browser.screenshot()
        # the speech really plays, and the animation is at a time the speech has been at
        assert playing["audio"] >= 1.0, playing
        assert playing["state"]["playing"] and 0 < playing["state"]["time"] <= playing["audio"]

        # paused: the drawn frame is the speech's currentTime, and the drawn pose is that frame's npz pose
        browser.evaluate("dr2.pause()")
        renders = browser.evaluate("dr2.state.renders")
        browser.wait_for(f"dr2.state.renders > {renders + 1}")
        paused = browser.evaluate("({audio: document.getElementById('speech').currentTime, state: dr2.state, "
                                  f"q0: dr2.boneQuaternion(0, {JOINT}), q1: dr2.boneQuaternion(1, {JOINT})}})")
        assert paused["state"]["time"] == pytest.approx(paused["audio"], abs=1e-6)
        frame = paused["state"]["frame"]
        assert frame == min(int(paused["audio"] * FPS + 1e-6), FRAMES - 1)
        assert same_rotation(paused["q0"], expected_quaternion(results[0], frame))
        assert same_rotation(paused["q1"], expected_quaternion(results[1], frame))

        # scrubbing moves the speech, and the body follows it
        browser.evaluate("dr2.seek(1.5)")
        renders = browser.evaluate("dr2.state.renders")
        browser.wait_for(f"dr2.state.renders > {renders + 1}")
        scrubbed = browser.evaluate(f"({{audio: document.getElementById('speech').currentTime, state: dr2.state, "
                                    f"q1: dr2.boneQuaternion(1, {JOINT})}})")
        assert scrubbed["audio"] == pytest.approx(1.5, abs=1e-3) and scrubbed["state"]["frame"] == 45
        assert same_rotation(scrubbed["q1"], expected_quaternion(results[1], 45))
        # at a fixed frame (the shot while playing lands on whatever frame the load allows): no body is cut at the top
        assert not body_pixels(browser.screenshot())[:3].any(), "a body reaches the top edge at frame 45"

        # one sample alone: it stands in the middle, the sides are empty
        browser.evaluate("dr2.choose('1')")
        renders = browser.evaluate("dr2.state.renders")
        browser.wait_for(f"dr2.state.renders > {renders + 1}")
        alone = body_pixels(browser.screenshot())
        width = alone.shape[1]
        assert alone[:, width // 3 : 2 * width // 3].mean() > 0.08 and alone[:, : width // 8].mean() < 0.01
        assert browser.errors == []

    (tmp_path / "viewer.png").write_bytes(shot)
    if os.environ.get("DR2_VIEWER_SCREENSHOT"):
        shutil.copy(tmp_path / "viewer.png", os.environ["DR2_VIEWER_SCREENSHOT"])
    body = body_pixels(shot)
    height, width = body.shape
    assert body.mean() > 0.08, f"only {body.mean():.1%} of the view is body"
    # two bodies side by side: each half of the picture holds one
    assert body[:, : width // 2].mean() > 0.04 and body[:, width // 2 :].mean() > 0.04


def test_view_errors_are_one_line(tmp_path):
    result = synth_result(tmp_path / "speech_seed0.npz", frames=10)
    assert_one_line_error(run_dr2("view", tmp_path / "missing.npz"), "does not exist")
    assert_one_line_error(run_dr2("view", result, "--audio", tmp_path / "none.wav"), "not found")
    assert_one_line_error(run_dr2("view", result, "--out", tmp_path / "page.txt"), ".html")
    assert not list(tmp_path.glob("*.html"))


@pytest.mark.slow
def test_synth_view_writes_the_page_beside_the_results(model_dir, tmp_path):
    speech = make_demo_speech(tmp_path / "talk.wav", seconds=2.0)
    out = tmp_path / "out"
    run = run_dr2("synth", speech, "--model", model_dir, "--out", out, "--num-samples", 2, "--no-preview", "--view",
                  check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.stdout.split()[-1] == str(out / "talk_view.html")
    html = (out / "talk_view.html").read_text()
    data = html.split('<script type="application/json" id="dr2-data">', 1)[1].split("</script>", 1)[0]
    assert [s["label"] for s in json.loads(data)["samples"]] == ["talk_seed0", "talk_seed1"]
    assert "data:audio/wav;base64," in html


def test_vendored_three_is_the_locked_npm_release():
    """dr2model/viewer/vendor holds three.js exactly as package-lock.json's release ships it."""
    from tests.model.export_fixtures import ROOT, require_validator

    require_validator()  # `npm ci` installed node_modules (three comes with the validator)
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/three"]["version"] == "0.170.0"
    npm = ROOT / "node_modules" / "three"
    vendor = ROOT / "dr2model" / "viewer" / "vendor"
    for shipped, ours in (("build/three.module.min.js", "three.module.min.js"),
                          ("examples/jsm/controls/OrbitControls.js", "OrbitControls.js"), ("LICENSE", "LICENSE-three.txt")):
        assert (npm / shipped).read_bytes() == (vendor / ours).read_bytes(), ours
