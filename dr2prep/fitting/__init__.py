"""Temporally regularised SMPLify-X (DR² supplementary §2.1-2.2): keypoints -> SMPL-X per frame.

stage.run_fit_stage is the entry point; fit.py holds the algorithm, objective.py the loss, solver.py the optimiser.
"""
