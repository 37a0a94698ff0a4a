"""The built-in face readers, one module per source release format; importing this package
registers them all. Imported only by the `hvgen.readers.faces` package head."""

from hvgen.readers.faces.sources import (  # noqa: F401  (each import registers its readers)
    affectnet,
    celeba,
    dynamic_expression,
    fairface,
    ferplus,
    forgery,
    images,
    lfw,
    rafdb,
    utkface,
)
