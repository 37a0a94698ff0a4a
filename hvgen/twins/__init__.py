"""Twin splits: a release redrawn with new image seeds (`hvgen twins`).

A twin keeps every field of the released record — prompt, question, options, answer, ids, the
record seed that decides its scenario (corruption type, printed text, attack) — and gets a new
image seed, so the twin image is another independent draw of the same generator for the same
prompt. A model that never saw the release cannot tell a released item from its twin; one that
did answers the released ones better, which `hvgen contamination` tests. Photographs cannot be
redrawn: a photographic release's twin is the released question asked of another photograph of
the same label and stratum (`hvgen.photo_twins`, paired by each generator's `photo_twins`).

* `release` — reading a release: an hvgen run, its export, or `hvgen export --format dysca`;
* the twin records (the plan stage of a twin run) and the twin spec live in
  `hvgen.stages.twin_plan`, below the stages that use them;
* `command` — `hvgen twins`: a twin run directory, planned, rendered, perturbed and exported.
"""
