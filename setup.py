"""The build of the C extensions; everything else is in pyproject.toml.

``pip install -e .`` (what ``make test`` and CI run, and the Docker image)
compiles them with the machine's C compiler:

- ``pipeline/fits/_ctokenizer.c`` + ``_cheader.c``: the card tokenizer and
  the reader's block scan and keyword map (:mod:`pipeline.fits.native`);
- ``pipeline/extract/_cfootprint.c``: the footprint of plain TAN images
  (:mod:`pipeline.extract.footprint`);
- ``pipeline/search/_csky.c``: the padded sky box of a footprint polygon
  (:mod:`pipeline.search.sky`).

All are optional: without a compiler the install still succeeds and their
pure-Python twins give the same results, several times slower (a DEBUG line
says so; in CI the tests fail when they are missing).
"""

from setuptools import Extension, setup

# Optimisation as the interpreter was built (-O3 here).
COMPILE_ARGS = ["-std=c11", "-Wall", "-Wextra"]

setup(
    ext_modules=[
        Extension(
            "pipeline.fits._ctokenizer",
            sources=["pipeline/fits/_ctokenizer.c", "pipeline/fits/_cheader.c"],
            depends=["pipeline/fits/_cheader.h"],
            extra_compile_args=COMPILE_ARGS,
            optional=True,
        ),
        Extension(
            "pipeline.extract._cfootprint",
            sources=["pipeline/extract/_cfootprint.c"],
            depends=["pipeline/_pyfloat.h"],
            # Its results must be the Python path's to the bit: no fused
            # multiply-adds where the Python code multiplies, then adds.
            extra_compile_args=[*COMPILE_ARGS, "-ffp-contract=off"],
            libraries=["m"],
            optional=True,
        ),
        Extension(
            "pipeline.search._csky",
            sources=["pipeline/search/_csky.c"],
            depends=["pipeline/_pyfloat.h"],
            # Bit for bit with pipeline.search.sky, as the footprint's is.
            extra_compile_args=[*COMPILE_ARGS, "-ffp-contract=off"],
            libraries=["m"],
            optional=True,
        ),
    ]
)
