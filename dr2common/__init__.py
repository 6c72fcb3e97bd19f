"""dr2common: what dr2prep and dr2model share, below both of them.

Errors the user can fix, progress bars and status lines, atomic writes, ffmpeg, safe .npz
reading, directory locks, the device choice, and the facts every part uses once: the frame
and sample rates (rates.py) and the SMPL-X parameter names (smplx_params.py). It imports
neither package, and nothing heavy: torch, cv2 and smplx are never loaded by importing it.
"""
