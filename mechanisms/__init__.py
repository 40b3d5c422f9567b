"""What a trained learner computes: Fourier circuits, attention heads, probes, interventions, over
checkpoints.

Analyses are functions from (model, data) to plain numbers and arrays, one concern per module; each is
checked on a network whose mechanism was planted by hand. This package imports ``tasks``, ``synth`` and
``baselines``, never ``compare``.
"""
