/*
 * What the two sources of pipeline.fits._ctokenizer share:
 * _ctokenizer.c (cards into Card tuples, and the module) and _cheader.c
 * (the reader's per-block and per-header helpers).
 */
#ifndef FITSFLOW_CHEADER_H
#define FITSFLOW_CHEADER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define CARD 80 /* bytes per card */

/* Every byte of data[0:n] in 0x20..0x7E. */
int fitsflow_all_printable(const unsigned char *data, Py_ssize_t n);

/* The module's functions defined in _cheader.c. */
PyObject *fitsflow_scan_blocks(PyObject *module, PyObject *data);
PyObject *fitsflow_first_values(PyObject *module, PyObject *cards);
PyObject *fitsflow_card_rows(PyObject *module, PyObject *cards);
PyObject *fitsflow_header_object(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

extern const char fitsflow_scan_blocks_doc[];
extern const char fitsflow_first_values_doc[];
extern const char fitsflow_card_rows_doc[];
extern const char fitsflow_header_object_doc[];

#endif
