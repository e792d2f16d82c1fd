"""fitsflow: ingest FITS files dropped into watched directories into a catalogue."""

__version__ = "0.1.0"
