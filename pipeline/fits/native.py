"""The compiled helpers of :mod:`pipeline.fits`, when they are built.

``pip install -e .`` compiles ``_ctokenizer.c`` and ``_cheader.c`` into
:mod:`pipeline.fits._ctokenizer`: the card tokenizer, the reader's block
scan and the keyword map. Every one of them has a pure-Python twin, the
reference its tests compare it with, used when this module is ``None``
(a checkout not installed, a machine without a C compiler).
"""

from __future__ import annotations

import logging

__all__ = ["announce", "native"]

log = logging.getLogger(__name__)

_MISSING = "turned off"
try:
    from pipeline.fits import _ctokenizer as native
except ImportError as error:  # not built: the Python twins take over
    native = None  # type: ignore[assignment]  # (typed as the module, for its stub)
    _MISSING = str(error)

_announced = False


def announce() -> None:
    """Say once, at DEBUG, whether headers are read by the compiled helpers.

    Called at the first header rather than at import: logging is usually
    configured after this module is imported, and the line would be lost.
    (The standard library's logger, silent until configured: structlog's
    would print to a command's output before logging is set up.)
    """
    global _announced
    if _announced:
        return
    _announced = True
    if native is None:
        log.debug(
            "C card tokenizer not built (%s): headers are read in Python, several times "
            "slower; `pip install -e .` with a C compiler builds it",
            _MISSING,
        )
    else:
        log.debug("headers are read by the C card tokenizer (%s)", native.__file__)
