"""The one thing pyproject.toml cannot say: the optional C speed-ups.

``optional=True``: where no C compiler is found the build goes on without them, and escudo uses
the same code in Python and Arrow: the raw prefilter's scan (``escudo.sources.prefilter``), the
auditd hunt's chunk index and the assembler's parent table (``escudo.sources.auditd_hunt``) and the Sysmon field extraction
(``escudo.sources.sysmon_columnar``).
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
        Extension(  # the auditd hunt's chunk index, the parent table (escudo.sources.auditd_hunt)
            "escudo.sources._auditd",
            sources=["src/escudo/sources/_auditd.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(  # the Sysmon field extraction (escudo.sources.sysmon_columnar)
            "escudo.sources._sysmon",
            sources=["src/escudo/sources/_sysmon.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ]
)
