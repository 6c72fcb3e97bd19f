"""Run by Blender's Python (the `bpy` module), never imported by dr2: a .glb in, an .fbx out.

usage: python blender_fbx.py IN.glb OUT.fbx FPS
Blender's own glTF importer and FBX exporter do the work; the scene's frame range is the animation's.
"""

import sys

import bpy


def main(glb: str, fbx: str, fps: float) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = round(fps)
    scene.render.fps_base = round(fps) / fps
    bpy.ops.import_scene.gltf(filepath=glb)
    actions = list(bpy.data.actions)
    if actions:
        start, end = actions[0].frame_range
        scene.frame_start, scene.frame_end = int(start), int(end)
    bpy.ops.export_scene.fbx(filepath=fbx, add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
                             bake_anim_use_nla_strips=False, bake_anim_simplify_factor=0.0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
