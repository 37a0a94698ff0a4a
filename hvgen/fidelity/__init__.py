"""Control fidelity (issue 24): does a rendered image follow the condition it was rendered from?

`metrics` holds the statistics as pure functions (OKS, edge F1, SSIM, landmark NME), `pose_model`
the ViTPose re-extractor of people and, with a whole-body head, faces (and its tiny random
stand-ins), `score` picks and computes the statistic for a record's condition recipe. The build
stage's filter (`hvgen.stages.build.fidelity_filter`) stores the scores and drops the images below
a threshold.
"""
