"""The built-in face readers, one module per source release format; importing this package
registers them all."""
