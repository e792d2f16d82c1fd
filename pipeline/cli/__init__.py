"""The ``fitsflow`` command line."""
