"""Tools that read runs, predictions and models rather than make data: benchmark quality (HQM)
and the T2IShield backdoor scan."""
