"""Types of the compiled TAN footprint (``_cfootprint.c``).

See :mod:`pipeline.extract.footprint`.
"""

from collections.abc import Mapping

from pipeline.fits.cards import CardValue

Point = tuple[float, float]

def tan_footprint(
    values: Mapping[str, CardValue], naxis: tuple[int, ...], /
) -> tuple[tuple[Point, Point, Point, Point], Point] | None: ...
