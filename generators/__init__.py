"""The built-in benchmarks, one package each (dysca/, faceqa/, herm/, hqh/, vlbias/), installed as
``hvgen.generators``. The engine never imports them by name: it loads each through its
``hvgen.generators`` entry point (pyproject.toml), as it loads a third-party benchmark.
"""
