"""The one thing pyproject.toml cannot say: the optional C speed-up of the raw prefilter.

``optional=True``: where no C compiler is found the build goes on without it, and escudo uses
the same scan in Python and Arrow (``escudo.sources.prefilter``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "escudo.sources._scan",
            sources=["src/escudo/sources/_scan.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
