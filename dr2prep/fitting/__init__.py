"""Temporally regularised SMPLify-X (DR² supplementary §2.1-2.2): keypoints -> SMPL-X per frame.

stage.run_fit_stage is the entry point; fit.py holds the algorithm, objective.py the loss, solver.py the optimiser,
settings.py what decides a fit (without torch, so `dr2 prep` builds it before torch is imported).
"""
