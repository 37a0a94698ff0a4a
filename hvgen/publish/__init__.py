"""Publishing a finished run: the dataset card, the export formats, the rows they read (`samples`),
the HTML preview and the Hub upload. Imported by the export stage, the pipeline, scoring, the
CLI and benchmark plug-ins (their release formats); imports no stage."""
