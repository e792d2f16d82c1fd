"""The build of the C card tokenizer; everything else is in pyproject.toml.

``pip install -e .`` (what ``make test`` and CI run, and the Docker image)
compiles ``pipeline/fits/_ctokenizer.c`` with the machine's C compiler. The
extension is optional: without a compiler the install still succeeds and
headers are tokenised by the pure-Python tokenizer, with the same results,
several times slower (:mod:`pipeline.fits.cards` logs which one at DEBUG; in
CI the tokenizer tests fail when it is missing).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pipeline.fits._ctokenizer",
            sources=["pipeline/fits/_ctokenizer.c", "pipeline/fits/_cheader.c"],
            depends=["pipeline/fits/_cheader.h"],
            # Optimisation as the interpreter was built (-O3 here).
            extra_compile_args=["-std=c11", "-Wall", "-Wextra"],
            optional=True,
        )
    ]
)
