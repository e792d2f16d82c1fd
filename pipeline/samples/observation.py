"""Realistic observation metadata: site, target, time, conditions, WCS."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from pipeline.samples.cards import card, commentary

__all__ = ["observation", "processing_notes", "tan_wcs"]

Site = tuple[str, str, float, float, float, tuple[str, ...]]
_TELESCOPES: tuple[Site, ...] = (
    ("INT", "ORM", 28.7606, -17.8816, 2336.0, ("WFC", "IDS")),
    ("NOT", "ORM", 28.7571, -17.8851, 2382.0, ("ALFOSC", "NOTCam")),
    ("CFHT", "MAUNAKEA", 19.8253, -155.4689, 4204.0, ("MegaPrime", "WIRCam")),
    ("CTIO-4m", "CTIO", -30.1690, -70.8063, 2207.0, ("DECam",)),
    ("LCOGT-1m0", "LSC", -30.1674, -70.8048, 2198.0, ("Sinistro",)),
    ("SOAR", "CTIO", -30.2379, -70.7337, 2713.0, ("Goodman", "SAMI")),
)
_RADIO: tuple[Site, ...] = (
    ("VLA", "NRAO", 34.0784, -107.6184, 2124.0, ("WIDAR",)),
    ("ALMA", "ALMA", -23.0229, -67.7551, 5058.0, ("BAND3", "BAND6", "BAND7")),
    ("MeerKAT", "SARAO", -30.7130, 21.4430, 1038.0, ("L-BAND", "UHF")),
)
_FILTERS = ("U", "B", "V", "R", "I", "u", "g", "r", "i", "z", "Y", "Halpha", "OIII", "clear")
_OBSERVERS = ("A. Cannon", "H. Leavitt", "V. Rubin", "C. Herschel", "M. O'Connor", "S. Bell")
_OBJECTS = ("NGC {n}", "IC {n}", "M {m}", "HD {n}{m}", "SN 20{m:02d}ab", "FIELD-{n:05d}")
_EPOCH = datetime(2012, 1, 1)
_MJD_ZERO = datetime(1858, 11, 17)


def _sexagesimal(degrees: float, sign: bool) -> str:
    prefix = ("-" if degrees < 0 else "+") if sign else ""
    total = round(abs(degrees) * 3600 * (1 if sign else 1 / 15), 2)
    hours, rest = divmod(total, 3600)
    return f"{prefix}{int(hours):02d}:{int(rest // 60):02d}:{rest % 60:05.2f}"


def observation(
    rng: random.Random, index: int, *, radio: bool = False
) -> tuple[list[bytes], tuple[float, float]]:
    """Site, target and time cards of one exposure (~55 for optical), and its RA/DEC.

    ``index`` goes into ``OBSID``, which makes every generated header distinct.
    """
    tel, site, lat, lon, height, instruments = rng.choice(_RADIO if radio else _TELESCOPES)
    ra, dec = rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 0.9)))
    start = _EPOCH + timedelta(seconds=rng.uniform(0, 12 * 365.25 * 86400))
    exptime = float(rng.choice((1, 5, 10, 30, 60, 120, 300, 600, 900, 1200)))
    end = start + timedelta(seconds=exptime)
    target = rng.choice(_OBJECTS).format(n=rng.randint(1, 7840), m=rng.randint(1, 99))
    cards = [
        card("ORIGIN", "fitsflow samples", "FITS file originator"),
        card("DATE", (start + timedelta(seconds=exptime + 30)).isoformat(timespec="seconds")),
        card("TELESCOP", tel, "telescope name"),
        card("OBSERVAT", site, "observatory"),
        card("LATITUDE", lat, "[deg] site latitude"),
        card("LONGITUD", lon, "[deg] site longitude, east positive"),
        card("HEIGHT", height, "[m] site elevation"),
        card("INSTRUME", rng.choice(instruments), "instrument"),
        card("OBSERVER", rng.choice(_OBSERVERS), "observer"),
        card("PROPID", f"{start.year}{'AB'[start.month > 6]}-{rng.randint(1, 999):03d}"),
        card("OBJECT", target, "target name"),
        card("OBSID", f"ff{index:08d}-{rng.getrandbits(40):010x}", "unique observation id"),
        card("OBSTYPE", "OBJECT", "observation type"),
        card("DATE-OBS", start.isoformat(timespec="milliseconds"), "UTC start of exposure"),
        card("MJD-OBS", round((start - _MJD_ZERO).total_seconds() / 86400, 8), "[d] MJD start"),
        card("EXPTIME", exptime, "[s] exposure time"),
        card("TIMESYS", "UTC", "time scale"),
        card("DATE-END", end.isoformat(timespec="milliseconds"), "UTC end of exposure"),
        card("MJD-END", round((end - _MJD_ZERO).total_seconds() / 86400, 8), "[d] MJD end"),
        card("RA", _sexagesimal(ra, sign=False), "target right ascension"),
        card("DEC", _sexagesimal(dec, sign=True), "target declination"),
        card("EQUINOX", 2000.0, "equinox of coordinates"),
        card("RADESYS", "ICRS", "reference frame"),
    ]
    return (cards if radio else cards + _telescope(rng) + _conditions(rng)), (ra, dec)


def _telescope(rng: random.Random) -> list[bytes]:
    altitude = rng.uniform(25, 89)
    return [
        card("IMAGETYP", "science", "image type"),
        card("FILTER", rng.choice(_FILTERS), "filter name"),
        card("DETECTOR", f"CCD{rng.randint(1, 40):02d}", "detector name"),
        card("AIRMASS", round(1 / math.sin(math.radians(altitude)), 4), "airmass at start"),
        card("ZD", round(90 - altitude, 4), "[deg] zenith distance"),
        card("ALTITUDE", round(altitude, 4), "[deg] telescope altitude"),
        card("AZIMUTH", round(rng.uniform(0, 360), 4), "[deg] telescope azimuth"),
        card("HA", _sexagesimal(rng.uniform(-60, 60), sign=True), "hour angle"),
        card("ROTANGLE", round(rng.uniform(-180, 180), 3), "[deg] rotator angle"),
        card("FOCUS", round(rng.uniform(-2, 2), 3), "[mm] focus position"),
        card("SHUTTER", rng.choice(("OPEN", "CLOSED")), "shutter state during readout"),
        card("GUIDING", rng.random() < 0.8, "autoguider locked"),
        card("GUIDERMS", round(rng.uniform(0.05, 0.6), 3), "[arcsec] guiding residual"),
    ]


def _conditions(rng: random.Random) -> list[bytes]:
    """Weather, detector and software cards."""
    binning = rng.choice((1, 2))
    width, height = rng.choice(((2048, 4096), (4096, 4096), (2048, 2048)))
    return [
        card("DOMETEMP", round(rng.uniform(-5, 20), 2), "[C] dome temperature"),
        card("OUTTEMP", round(rng.uniform(-10, 25), 2), "[C] outside temperature"),
        card("HUMIDITY", round(rng.uniform(5, 90), 1), "[%] relative humidity"),
        card("PRESSURE", round(rng.uniform(740, 780), 1), "[hPa] air pressure"),
        card("WINDSPD", round(rng.uniform(0, 15), 1), "[m/s] wind speed"),
        card("WINDDIR", round(rng.uniform(0, 360), 1), "[deg] wind direction"),
        card("SEEING", round(rng.uniform(0.5, 2.5), 2), "[arcsec] DIMM seeing"),
        card("MOONANGL", round(rng.uniform(5, 175), 2), "[deg] distance to the Moon"),
        card("PHOTOMET", rng.random() < 0.7, "photometric conditions"),
        card("CCDTEMP", round(rng.uniform(-120, -90), 2), "[C] detector temperature"),
        card("GAIN", round(rng.uniform(0.8, 3.0), 3), "[e-/ADU] gain"),
        card("RDNOISE", round(rng.uniform(2, 12), 2), "[e-] read noise"),
        card("SATURATE", rng.choice((32000, 52000, 65535)), "[ADU] saturation level"),
        card("CCDSUM", f"{binning} {binning}", "on-chip binning"),
        card("READMODE", rng.choice(("fast", "slow", "normal")), "readout mode"),
        card("DETSIZE", f"[1:{width},1:{height}]", "detector size"),
        card("DATASEC", f"[1:{width // binning},1:{height // binning}]", "data section"),
        card("BIASSEC", f"[{width // binning + 1}:{width // binning + 32},1:{height}]"),
        card("AMPNAME", rng.choice(("A", "B", "C", "D")), "amplifier"),
        card("SWCREATE", f"obsctl {rng.randint(1, 9)}.{rng.randint(0, 20)}", "software"),
        card("PIPEVER", f"{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"),
        card("QCFLAG", rng.random() < 0.9, "passed quick-look checks"),
        card("NCOMBINE", rng.randint(1, 12), "number of frames combined"),
        card("SKYLEVEL", round(rng.uniform(50, 5000), 2), "[ADU] median sky level"),
        card("ZEROPT", round(rng.uniform(22, 28), 3), "[mag] photometric zero point"),
        card("BLANKVAL", None, "no blank value defined"),
    ]


def tan_wcs(rng: random.Random, shape: tuple[int, int], crval: Sequence[float]) -> list[bytes]:
    """A celestial TAN projection with rotation (CD matrix)."""
    scale = rng.uniform(0.1, 1.0) / 3600
    angle = math.radians(rng.uniform(-180, 180))
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    return [
        card("WCSAXES", 2, "number of WCS axes"),
        card("CTYPE1", "RA---TAN", "gnomonic projection"),
        card("CTYPE2", "DEC--TAN", "gnomonic projection"),
        card("CUNIT1", "deg"),
        card("CUNIT2", "deg"),
        card("CRPIX1", (shape[1] + 1) / 2, "reference pixel"),
        card("CRPIX2", (shape[0] + 1) / 2, "reference pixel"),
        card("CRVAL1", round(crval[0], 8), "[deg] RA at reference pixel"),
        card("CRVAL2", round(crval[1], 8), "[deg] DEC at reference pixel"),
        card("CD1_1", -cos),
        card("CD1_2", sin),
        card("CD2_1", sin),
        card("CD2_2", cos),
        card("LONPOLE", 180.0),
        card("LATPOLE", round(crval[1], 8)),
    ]


def processing_notes(rng: random.Random, count: int) -> list[bytes]:
    steps = ("bias subtracted", "flat fielded", "cosmic rays removed", "WCS solved", "fringes")
    lines = [commentary("COMMENT", "FITS (Flexible Image Transport System) format, ver 4.0")]
    lines += [commentary("HISTORY", f"{rng.choice(steps)} step {n}") for n in range(count)]
    return lines
