/*
 * Python's float arithmetic where it is not C's, for the C twins of Python
 * code that must give its results bit for bit (pipeline/extract/_cfootprint.c,
 * pipeline/search/_csky.c). Each including module is its own shared object,
 * so each gets its own copy of these statics.
 */
#ifndef FITSFLOW_PYFLOAT_H
#define FITSFLOW_PYFLOAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

enum { DECLINED = 0, DONE = 1, FAILED = -1 };

static PyObject *hypot_function; /* math.hypot, set by load_hypot() */

/* Looks math.hypot up once, at module initialisation: 0, or -1 with an exception. */
static int
load_hypot(void)
{
    PyObject *math = PyImport_ImportModule("math");
    if (math == NULL) {
        return -1;
    }
    hypot_function = PyObject_GetAttrString(math, "hypot");
    Py_DECREF(math);
    return hypot_function == NULL ? -1 : 0;
}

/* Python's float %: the remainder takes the divisor's sign. */
static double
py_mod(double value, double divisor)
{
    double mod = fmod(value, divisor);
    if (mod != 0.0) {
        if ((divisor < 0) != (mod < 0)) {
            mod += divisor;
        }
    }
    else {
        mod = copysign(0.0, divisor);
    }
    return mod;
}

/* math.hypot(x, y), called through Python: its algorithm is its own. */
static int
py_hypot(double x, double y, double *out)
{
    PyObject *args[2] = {PyFloat_FromDouble(x), PyFloat_FromDouble(y)};
    PyObject *result = NULL;
    if (args[0] != NULL && args[1] != NULL) {
        result = PyObject_Vectorcall(hypot_function, args, 2, NULL);
    }
    Py_XDECREF(args[0]);
    Py_XDECREF(args[1]);
    if (result == NULL) {
        return FAILED;
    }
    *out = PyFloat_AsDouble(result);
    Py_DECREF(result);
    return *out == -1.0 && PyErr_Occurred() ? FAILED : DONE;
}

#endif
