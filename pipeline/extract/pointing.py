"""Where the telescope pointed, from header keywords.

Pairs are tried in this order, each pair from one HDU (primary first):

1. ``RA``/``DEC`` — the pointing (NOAO: sexagesimal hours; ESO: degrees)
2. ``RA_PNT``/``DEC_PNT`` — the pointing of X-ray missions (Chandra, XMM)
3. ``TELRA``/``TELDEC`` — the telescope's own position (NOAO)
4. ``OBJCTRA``/``OBJCTDEC`` — the object (MaxIm DL, DSS, amateur software)
5. ``RA_TARG``/``DEC_TARG`` — the proposal target (HST, Chandra)
6. ``RA_OBJ``/``DEC_OBJ`` — the object (XMM, Swift, ESO pipelines)

Pointing before target: for dithers, offsets and mosaics the pointing is
where the data are. Values are read as :mod:`pipeline.extract.angles`
says and in the frame ``RADESYS``/``EQUINOX`` of their HDU name (``EPOCH`` is
not used here: on pointing keywords it is often the observation epoch), then
brought to ICRS. An unreadable or out-of-range pair is a ``bad_pointing``
warning and the next pair is tried. Which HDUs are looked at, and what
comes when no pair is found, is :mod:`pipeline.extract.fields`' choice.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.extract.angles import parse_dec, parse_ra
from pipeline.extract.frames import UnsupportedFrame, equatorial_frame, to_icrs
from pipeline.extract.keywords import Headers
from pipeline.fits.cards import CardValue

__all__ = ["POINTING_KEYWORDS", "find_pointing"]

POINTING_KEYWORDS = (
    ("RA", "DEC"),
    ("RA_PNT", "DEC_PNT"),
    ("TELRA", "TELDEC"),
    ("OBJCTRA", "OBJCTDEC"),
    ("RA_TARG", "DEC_TARG"),
    ("RA_OBJ", "DEC_OBJ"),
)


def find_pointing(
    headers: Headers, positions: Sequence[int] | None = None
) -> tuple[float, float] | None:
    """ICRS (ra, dec) in degrees from the first usable keyword pair, or None.

    ``positions`` limits the HDUs looked at (all, primary first, by default).
    """
    for ra_keyword, dec_keyword in POINTING_KEYWORDS:
        for position in headers.positions() if positions is None else positions:
            values = headers.of(position)
            raw_ra, raw_dec = values.get(ra_keyword), values.get(dec_keyword)
            if _blank(raw_ra) or _blank(raw_dec):
                continue
            try:
                ra, dec = parse_ra(raw_ra), parse_dec(raw_dec)
            except ValueError as error:
                shown = f"{ra_keyword} = {raw_ra!r}, {dec_keyword} = {raw_dec!r}"
                headers.warn("bad_pointing", f"{shown}: {error}", position)
                continue
            try:
                [(ra, dec)] = to_icrs([(ra, dec)], equatorial_frame(values, use_epoch=False))
            except UnsupportedFrame as error:
                headers.warn("frame_unsupported", f"{ra_keyword}/{dec_keyword}: {error}", position)
                continue
            return ra, dec
    return None


def _blank(value: CardValue) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
