"""Data files shipped with hvgen (the print attack's font and its licence), read through
`importlib.resources`; no code here, nothing imports it as a module."""
