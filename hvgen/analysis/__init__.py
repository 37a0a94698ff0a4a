"""Tools that read runs and models rather than make data: the T2IShield backdoor scan."""
