"""Export of SMPL-X results to what avatar tools open: BVH, glTF binary, AMASS-style .npz and FBX (through Blender).

`export_result(path, formats, out)` is what `dr2 export` calls; each format has its own module.
"""

from dr2model.export.formats import FORMATS, export_result

__all__ = ["FORMATS", "export_result"]
