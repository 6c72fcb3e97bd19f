"""The packages point one way: dr2common <- dr2prep <- dr2model <- dr2 <- cli, with no import cycle.

Reads the source with benchmarks/import_graph.py (ast only), so it runs in well under a second.
"""

from pathlib import Path

from benchmarks.import_graph import ROOT, all_edges, import_cycles, project_modules, upward_imports


def _problems(root: Path):
    edges = all_edges(root)
    return upward_imports(edges), import_cycles(edges)


def test_no_upward_import_and_no_cycle_in_the_project():
    upward, cycles = _problems(ROOT)
    assert not upward, "upward imports: " + "; ".join(f"{e.importer}:{e.line} -> {e.imported}" for e in upward)
    assert not cycles, f"import cycles: {cycles}"


def test_the_graph_sees_every_package():
    modules = project_modules(ROOT)
    assert {"dr2common.errors", "dr2prep.stage", "dr2model.train", "cli"} <= set(modules)
    importers = {e.importer for e in all_edges(ROOT)}
    assert "dr2model.train" in importers and "dr2prep.media" in importers


def _problems_in(tmp_path: Path, files: dict[str, str]):
    """The upward imports and cycles of a small tree of the project's packages holding `files`."""
    for name, source in {"dr2common/__init__.py": "", "dr2prep/__init__.py": "", "dr2model/__init__.py": "",
                         **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return _problems(tmp_path)


def test_a_prep_module_importing_the_model_is_caught_even_inside_a_function(tmp_path):
    upward, _ = _problems_in(tmp_path, {"dr2prep/info.py": "def f():\n    from dr2model.preview import describe\n",
                                        "dr2model/preview.py": "from dr2prep import info\n"})
    assert [(e.importer, e.imported, e.top_level) for e in upward] == [("dr2prep.info", "dr2model.preview", False)]


def test_common_importing_prep_or_model_is_caught(tmp_path):
    upward, _ = _problems_in(tmp_path, {"dr2common/errors.py": "import dr2prep.stage\nfrom dr2model import train\n",
                                        "dr2prep/stage.py": "", "dr2model/train.py": ""})
    assert sorted(e.imported for e in upward) == ["dr2model.train", "dr2prep.stage"]


def test_a_cycle_through_a_lazy_import_is_caught_and_relative_imports_resolve(tmp_path):
    upward, cycles = _problems_in(tmp_path, {
        "dr2prep/audio/__init__.py": "",
        "dr2prep/audio/extractor.py": "def make():\n    from .deepspeech import Net\n",
        "dr2prep/audio/deepspeech.py": "from dr2prep.audio.extractor import make\nclass Net: pass\n"})
    assert not upward
    assert cycles == [["dr2prep.audio.deepspeech", "dr2prep.audio.extractor"]]


def test_the_api_and_the_cli_may_import_anything(tmp_path):
    assert _problems_in(tmp_path, {"dr2/__init__.py": "import dr2model.train\nimport dr2prep.stage\n",
                                   "dr2model/train.py": "", "dr2prep/stage.py": "",
                                   "cli.py": "import dr2\nimport dr2model.train\n"}) == ([], [])


def test_lookup_tables_and_shared_infrastructure_load_without_heavy_packages():
    """Importing a table of the body model or dr2common must not pull in torch, smplx, cv2 or mediapipe."""
    import subprocess
    import sys

    modules = ("dr2prep.bodymodel.skeleton", "dr2prep.bodymodel.openpose_correspondence", "dr2common.errors",
               "dr2common.progress", "dr2common.atomic", "dr2common.rates", "dr2common.smplx_params",
               "dr2common.device", "dr2prep.fitting.params_file")
    code = (f"import sys\nimport {', '.join(modules)}\n"
            "print(sorted(m for m in ('torch', 'smplx', 'cv2', 'mediapipe') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_package_folder_is_a_regular_package():
    """pyproject's package discovery ships only folders with an __init__.py."""
    folders = {path.parent for layer in ("dr2common", "dr2prep", "dr2model") for path in (ROOT / layer).rglob("*.py")}
    missing = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, f"no __init__.py in {missing}"
