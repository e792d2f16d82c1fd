"""Real FITS files no one on the team wrote: astropy's test data.

Every image HDU's footprint is compared with astropy's own answer
(``WCS(header, hdulist).calc_footprint(center=False)``, in ICRS), and the
fields of files with known content are checked one by one.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from pipeline.errors import FitsflowError
from pipeline.extract import ProductFields, extract_fields, hdu_footprint
from pipeline.fits.model import FitsFile
from tests.support.headers import ASTROPY_ROOT, max_separation, read_astropy_test_file

ALL_FILES = sorted(
    path.name for path in ASTROPY_ROOT.glob("**/tests/data/**/*.fits*") if path.is_file()
)
# astropy's lookup-table distortions (which fitsflow does not read) move
# dist_lookup's corners by 4e-7 degrees; everything else agrees to 1e-9.
TOLERANCE_DEG = 1e-6


def readable(name: str) -> FitsFile:
    try:
        return read_astropy_test_file(name)
    except FitsflowError as error:
        pytest.skip(f"fitsflow's reader refuses {name}: {error.code}")


def fields_of(name: str) -> ProductFields:
    return extract_fields(read_astropy_test_file(name).hdus)


def astropy_icrs_footprint(hdulist: fits.HDUList, index: int) -> np.ndarray | None:
    header = hdulist[index].header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wcs = WCS(header, hdulist)
        if not wcs.has_celestial:
            return None
        lng, lat = wcs.wcs.lng, wcs.wcs.lat
        sizes = hdulist[index].shape[::-1]
        corners = wcs.celestial.calc_footprint(axes=(sizes[lng], sizes[lat]), center=False)
    system = wcs.wcs.radesys.strip()
    if wcs.wcs.lngtyp == "GLON":
        sky = SkyCoord(corners[:, 0] * u.deg, corners[:, 1] * u.deg, frame="galactic").icrs
    elif system.startswith("FK4"):
        equinox = f"B{wcs.wcs.equinox}"
        sky = SkyCoord(corners[:, 0] * u.deg, corners[:, 1] * u.deg, frame="fk4", equinox=equinox)
        sky = sky.icrs
    else:
        return corners  # type: ignore[no-any-return]
    return np.array([sky.ra.deg, sky.dec.deg]).T


@pytest.mark.parametrize("name", ALL_FILES)
def test_extraction_never_fails_on_a_real_file(name: str) -> None:
    fields = extract_fields(readable(name).hdus)
    assert isinstance(fields, ProductFields)
    if fields.ra is not None:
        assert 0.0 <= fields.ra < 360.0 and fields.dec is not None and -90 <= fields.dec <= 90


@pytest.mark.parametrize("name", ALL_FILES)
def test_footprints_agree_with_astropy(name: str) -> None:
    fits_file = readable(name)
    with fits.open(read_path(name)) as hdulist:
        for hdu in fits_file.hdus:
            if hdu.kind not in ("primary", "image", "compressed_image") or not all(
                hdu.layout.science_naxis or [0]
            ):
                continue
            ours = hdu_footprint(hdu)
            reference = astropy_icrs_footprint(hdulist, hdu.index)
            if reference is None:
                assert ours is None, f"HDU {hdu.index}: astropy sees no celestial WCS"
                continue
            assert ours is not None, f"HDU {hdu.index}: astropy has a footprint, fitsflow none"
            assert max_separation(ours, reference) < TOLERANCE_DEG, f"HDU {hdu.index}"


def read_path(name: str) -> str:
    from tests.support.headers import astropy_test_file

    return str(astropy_test_file(name))


def test_chandra_event_file() -> None:
    fields = fields_of("chandra_time.fits")
    assert (fields.telescope, fields.instrument, fields.object) == ("CHANDRA", "ACIS", "Mrk 1434")
    assert fields.observer == "Dr. RICHARD PLOTKIN"
    # DATE-OBS is TT at Chandra: 2016-01-26T17:58:29 TT = 17:57:20.816 UTC.
    assert fields.obs_start == datetime(2016, 1, 26, 17, 57, 20, 816000, tzinfo=UTC)
    assert fields.exptime == 3.1
    assert (fields.ra, fields.dec) == (158.53916796181, 58.062098584962)  # RA_PNT
    assert fields.science_hdu is None and fields.footprint is None


def test_hst_acs_flt() -> None:
    fields = fields_of("j94f05bgq_flt.fits")
    assert (fields.telescope, fields.instrument, fields.object) == ("HST", "ACS", "NGC104")
    assert fields.obs_start == datetime(2005, 3, 7, 6, 51, 26, tzinfo=UTC)  # DATE-OBS + TIME-OBS
    assert fields.exptime == 400.0
    assert fields.filter == "F606W"  # FILTER1, with FILTER2 = CLEAR2L left out
    assert (fields.ra, fields.dec) == (5.655, -72.07055555556)  # RA_TARG
    assert fields.science_hdu == 1 and fields.naxis == (1, 1) and fields.bunit == "ELECTRONS"
    assert fields.footprint is not None  # TAN-SIP, native


def test_hst_stis_raw() -> None:
    fields = fields_of("o4sp040b0_raw.fits")
    assert (fields.instrument, fields.object, fields.filter) == ("STIS", "HD101998", "Clear")
    assert fields.exptime == 30.0  # the SCI extension's; the primary has none
    assert fields.science_hdu == 1 and fields.naxis == (62, 44) and fields.bunit == "COUNTS"
    assert fields.footprint is None  # LAMBDA/ANGLE: a spectrum, no celestial WCS


def test_wfpc2_old_dates_and_filter_names() -> None:
    fields = fields_of("test0.fits")
    assert fields.obs_start == datetime(1994, 5, 19, 15, 41, 16, tzinfo=UTC)  # '19/05/94'
    assert fields.filter == "F673N"  # FILTER1 = 33 is a wheel position
    assert fields.science_hdu == 1


def test_dss_plate() -> None:
    fields = fields_of("dss.14.29.56-62.41.05.fits.gz")
    assert fields.telescope == "UK 48-inch Schmidt"
    assert fields.obs_start == datetime(1976, 3, 11, 17, 38, tzinfo=UTC)  # '11/03/76' + UT
    assert fields.exptime == 70.0  # EXPOSURE
    assert fields.ra == pytest.approx(217.483333333) and fields.dec == pytest.approx(-62.68472222)
    assert fields.footprint is not None  # via astropy: WCSLIB reads the plate solution


def test_sip_wcs_image() -> None:
    fields = fields_of("sip-wcs.fits")
    assert (fields.instrument, fields.observer, fields.filter) == ("Apogee Alta", "Matt Craig", "B")
    assert fields.obs_start == datetime(2011, 9, 1, 2, 9, 5, tzinfo=UTC)
    assert fields.mjd_obs == pytest.approx(55805.089641204, abs=1e-8)
    assert (fields.naxis, fields.bitpix, fields.bunit) == ((100, 50), 16, "adu")
    # no pointing keywords: the centre of the SIP-distorted WCS
    assert fields.ra == pytest.approx(280.54610816) and fields.dec == pytest.approx(0.11259273)


def test_radio_azp_image() -> None:
    fields = fields_of("1904-66_AZP.fits")
    assert fields.bunit == "JY/BEAM"
    assert fields.beam_major == pytest.approx(0.24) and fields.beam_minor == pytest.approx(0.24)
    assert fields.beam_pa == 0.0
    assert fields.frequency == 1420405750.0
    assert fields.footprint is not None and fields.warnings == ()


@pytest.mark.parametrize(
    "name", ["m13.fits", "m13_gzip.fits", "m13_hcomp.fits", "m13_plio.fits", "m13_rice.fits"]
)
def test_m13_compressed_or_not_gives_the_same_fields(name: str) -> None:
    fields = fields_of(name)
    reference = fields_of("m13.fits")
    assert fields.naxis == (300, 300) and fields.bitpix == 16
    assert fields.footprint == reference.footprint
    assert (fields.ra, fields.dec) == (reference.ra, reference.dec)
    assert fields.science_hdu == (0 if name == "m13.fits" else 1)


def test_fk4_image_is_converted_to_icrs() -> None:
    # EQUINOX = 1950 without RADESYS: FK4 B1950, by the FITS defaults.
    fields = fields_of("checksum.fits")
    assert fields.footprint is not None
    assert fields.object == "NGC 1316"
    # The table extension's RA_OBJ/DEC_OBJ are another object's; the image's centre wins.
    assert fields.ra == pytest.approx(51.1877, abs=1e-3) and fields.dec == pytest.approx(
        -37.455, abs=1e-3
    )
