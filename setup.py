"""The one thing pyproject.toml cannot say: the optional C speed-ups of the raw prefilter.

``optional=True``: where no C compiler is found the build goes on without it, and escudo uses
the same scans in Python and Arrow (``escudo.sources.prefilter``, ``escudo.sources.auditd_hunt``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "escudo.sources._scan",
            sources=["src/escudo/sources/_scan.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(  # the auditd hunt's chunk index (escudo.sources.auditd_hunt)
            "escudo.sources._auditd",
            sources=["src/escudo/sources/_auditd.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ]
)
