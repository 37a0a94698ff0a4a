"""The stages of a run — plan, supply, render, scenario, build, export — each reading what the
previous one committed to the run directory. Imported by `hvgen.pipeline` (which runs them in
order), the CLI and benchmark plug-ins; imports the parts below (analysis, publish, scenarios,
readers, store ...), never the pipeline or the CLI."""
