"""Built-in benchmark generators; importing this package registers them with the engine."""

from hvgen.generators import (
    dysca,  # noqa: F401
    faceqa,  # noqa: F401
    herm,  # noqa: F401
    hqh,  # noqa: F401
    vlbias,  # noqa: F401
)
