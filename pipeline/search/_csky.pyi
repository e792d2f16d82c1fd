"""Types of the compiled sky box (``_csky.c``).

See :mod:`pipeline.search.sky`.
"""

def polygon_box(
    corners: list[tuple[float, float]], padding: float, polar: float, /
) -> tuple[float, float, float, float] | None: ...
