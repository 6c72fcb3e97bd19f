"""Run by Blender's Python (bpy) in the export tests: import a BVH, .glb or .fbx the way a user would, print JSON.

usage: python blender_inspect.py FILE FPS JOINT FRAME
Prints the armature's bone count, the action's frame range, and the named joint's and its parent's
world rotation relative to their rest (3x3, Blender's z-up world) at action frame start + FRAME.
Rest-relative world rotations do not depend on how an importer orients its bones.
"""

import json
import sys

import bpy


def main(path: str, fps: float, joint: str, frame: int) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = round(fps)
    if path.endswith(".bvh"):
        bpy.ops.import_anim.bvh(filepath=path, global_scale=1.0, frame_start=0, use_fps_scale=False,
                                update_scene_fps=False, update_scene_duration=True, rotate_mode="NATIVE")
    elif path.endswith(".fbx"):
        bpy.ops.import_scene.fbx(filepath=path)
    else:
        bpy.ops.import_scene.gltf(filepath=path)
    armatures = [ob for ob in scene.objects if ob.type == "ARMATURE"]
    arm = armatures[0]
    action = arm.animation_data.action
    start, end = action.frame_range
    scene.frame_set(int(round(start)) + frame)

    def delta(name):
        pose_bone = arm.pose.bones[name]
        posed = (arm.matrix_world @ pose_bone.matrix).to_3x3().normalized()
        rest = (arm.matrix_world @ arm.data.bones[name].matrix_local).to_3x3().normalized()
        return [list(row) for row in posed @ rest.inverted()]

    parent = arm.pose.bones[joint].parent
    print("DR2_JSON " + json.dumps({
        "armatures": len(armatures), "bones": len(arm.data.bones), "frame_range": [start, end],
        "meshes": sum(ob.type == "MESH" for ob in scene.objects),
        "joint": delta(joint), "parent": delta(parent.name) if parent else None,
        "parent_name": parent.name if parent else None,
    }))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
