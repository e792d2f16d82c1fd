"""Reading FITS headers safely: structure, cards, checksums, limits."""

from pipeline.fits.cards import Card, CardValue
from pipeline.fits.model import FitsFile, Hdu, ReadWarning
from pipeline.fits.reader import read_fits

__all__ = ["Card", "CardValue", "FitsFile", "Hdu", "ReadWarning", "read_fits"]
