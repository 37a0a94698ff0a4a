"""Tools that read runs and model predictions: benchmark quality (HQM)."""
