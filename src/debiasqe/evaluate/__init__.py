"""Evaluation stage: IQA metrics (pyiqa), FID, domain triangles (eq. 1), disparity, realism."""
