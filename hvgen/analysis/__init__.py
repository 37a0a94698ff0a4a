"""Tools that read runs, predictions and models rather than make data: benchmark quality (HQM)
and the T2IShield backdoor scan. Imported by the CLI and by the render and build stages
(`render_scan`: the --scan hook); imports no stage."""
