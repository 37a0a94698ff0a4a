"""Measuring whether a model has learned a release: twins and a paired test.

A twin of a released item is the same record (prompt, question, options, answer) rendered with
a new image seed (`hvgen twins`). For a model that never saw the release, a released item and
its twin are exchangeable: the two images are independent draws of the same generator, so which
of them was published is a coin flip the model cannot know. A model that does better on the
released items than on their twins, beyond what that coin flip allows, has learned the release.

One job per module:

* `items`      — the paired right/wrong table (items × models), clustered by image;
* `paired`     — the exact one-sided test (McNemar; clustered by image: the sign-flip test);
* `bootstrap`  — cluster bootstrap of accuracy gaps and of each model's gap relative to the
  others' median;
* `correction` — Holm's step-down adjustment across subtasks;
* `assess`     — per model and subtask: accuracies, gaps, tests, verdicts (pure, no I/O);
* `simulate`   — simulated clean and memorising models (tests and the calibration script);
* `report`     — terminal rows, verdict lines and the plot;
* `command`    — `hvgen contamination`: read, score, assess, write.
"""
