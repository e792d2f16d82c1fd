/*
 * _cfootprint: the sky footprint of the commonest image WCS, in C.
 *
 * Most images carry the plainest celestial WCS there is: CTYPE1 = 'RA---TAN',
 * CTYPE2 = 'DEC--TAN', a CD or PC matrix (or CDELT/CROTA), ICRS or FK5
 * J2000, no distortion. For those, tan_footprint(values, naxis) does what
 * pipeline/extract/footprint.py's native path does (read_celestial_wcs,
 * pixels_to_sky, to_icrs) with the same arithmetic in the same order, and
 * returns the same four corners and centre, bit for bit. The Python path
 * (the reference, and the fallback when this extension is not built) spent
 * ~25 µs an image there, most of it interpreting small functions.
 *
 * Everything else is declined (None): another projection, a third axis,
 * SIP, PV parameters, other units or frames, a value of an unexpected type,
 * anything that would make the Python path warn or raise. Declining is
 * always correct (the Python path then runs); accepting is correct only
 * where that path would give this very result, which
 * tests/unit/test_cfootprint.py checks.
 *
 * Bit for bit: the operations are the Python code's, in its order, with
 * its constants (math.degrees is x * (180 / pi)); -ffp-contract=off keeps
 * the compiler from fusing them; math.hypot is called through Python,
 * whose algorithm is not libm's; float % is Python's (sign of divisor).
 */

#include "../_pyfloat.h"
#include <string.h>

#define PV_COUNT 40          /* PVi_0 .. PVi_39, as wcs_keywords._PV_COUNT */
#define POLE_TOLERANCE 1e-10 /* spherical._TOLERANCE */
#define EQUINOX_TOLERANCE 1e-6
#define FK4_BEFORE 1984.0

static const double R0 = 180.0 / 3.14159265358979323846; /* projections._R0 */
static const double DEGREES = 180.0 / 3.14159265358979323846;
static const double RADIANS = 3.14159265358979323846 / 180.0;

/* ---- keyword names, made once -------------------------------------------- */

enum {
    K_WCSAXES, K_CTYPE1, K_CTYPE2, K_PLTRAH, K_CUNIT1, K_CUNIT2, K_PROJP1, K_PROJP2,
    K_CRPIX1, K_CRPIX2, K_CRVAL1, K_CRVAL2, K_CDELT1, K_CDELT2, K_CROTA2,
    K_LONPOLE, K_LATPOLE, K_A_ORDER, K_B_ORDER,
    K_EQUINOX, K_EPOCH, K_RADESYS, K_RADECSYS,
    K_PC, /* 8 names: PC1_1 PC1_2 PC2_1 PC2_2 PC001001 PC001002 PC002001 PC002002 */
    K_CD = K_PC + 8,
    K_PV = K_CD + 8, /* PV1_0 .. PV1_39, PV2_0 .. PV2_39 */
    K_COUNT = K_PV + 2 * PV_COUNT,
};

static PyObject *names[K_COUNT];

static int
make_names(void)
{
    static const char *fixed[] = {
        "WCSAXES", "CTYPE1",  "CTYPE2",  "PLTRAH",  "CUNIT1",  "CUNIT2",  "PROJP1",  "PROJP2",
        "CRPIX1",  "CRPIX2",  "CRVAL1",  "CRVAL2",  "CDELT1",  "CDELT2",  "CROTA2",  "LONPOLE",
        "LATPOLE", "A_ORDER", "B_ORDER", "EQUINOX", "EPOCH",   "RADESYS", "RADECSYS",
    };
    static const char *matrix[] = {"%s1_1", "%s1_2", "%s2_1", "%s2_2",
                                   "%s001001", "%s001002", "%s002001", "%s002002"};
    for (int i = 0; i < K_PC; i++) {
        names[i] = PyUnicode_InternFromString(fixed[i]);
    }
    for (int i = 0; i < 8; i++) {
        names[K_PC + i] = PyUnicode_FromFormat(matrix[i], "PC");
        names[K_CD + i] = PyUnicode_FromFormat(matrix[i], "CD");
    }
    for (int m = 0; m < PV_COUNT; m++) {
        names[K_PV + m] = PyUnicode_FromFormat("PV1_%d", m);
        names[K_PV + PV_COUNT + m] = PyUnicode_FromFormat("PV2_%d", m);
    }
    for (int i = 0; i < K_COUNT; i++) {
        if (names[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

/* ---- reading values --------------------------------------------------------- */

/* values[name], borrowed; NULL both when absent and on error (check
 * PyErr_Occurred). A value None counts as absent, as values.get() is None. */
static PyObject *
lookup(PyObject *values, int name)
{
    PyObject *value = PyDict_GetItemWithError(values, names[name]);
    return value == Py_None ? NULL : value;
}

/* wcs_keywords._optional_real/_real: a finite int or float, else default
 * when absent. Anything the Python code would refuse (bool, text, inf) or
 * could not convert declines. */
static int
real_value(PyObject *values, int name, double fallback, double *out)
{
    PyObject *value = lookup(values, name);
    if (value == NULL) {
        *out = fallback;
        return PyErr_Occurred() ? FAILED : DONE;
    }
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
    }
    else if (PyLong_CheckExact(value)) {
        *out = PyLong_AsDouble(value);
        if (*out == -1.0 && PyErr_Occurred()) {
            PyErr_Clear(); /* too large for a float: Python's path decides */
            return DECLINED;
        }
    }
    else {
        return DECLINED;
    }
    return isfinite(*out) ? DONE : DECLINED;
}

/* wcs_keywords._int: an int (not bool), else 0. Too large: declined. */
static int
int_value(PyObject *values, int name, long long *out)
{
    PyObject *value = lookup(values, name);
    *out = 0;
    if (value == NULL) {
        return PyErr_Occurred() ? FAILED : DONE;
    }
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        return DONE;
    }
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (*out == -1 && PyErr_Occurred()) {
        return FAILED;
    }
    return overflow ? DECLINED : DONE;
}

/* value's text as Python's value.strip() (and .lower() with fold) would
 * give it, into buffer (size bytes); its length, or -1 when that cannot be
 * told here: not a str, not printable ASCII (Python strips more kinds of
 * whitespace than the space), or longer than buffer. */
static Py_ssize_t
plain_text(PyObject *value, char *buffer, Py_ssize_t size, int fold)
{
    if (!PyUnicode_Check(value) || !PyUnicode_IS_ASCII(value)) {
        return -1;
    }
    const char *text = (const char *)PyUnicode_1BYTE_DATA(value);
    Py_ssize_t start = 0, end = PyUnicode_GET_LENGTH(value);
    for (Py_ssize_t i = start; i < end; i++) {
        if (text[i] < 0x20 || text[i] > 0x7E) {
            return -1;
        }
    }
    while (start < end && text[start] == ' ') {
        start++;
    }
    while (end > start && text[end - 1] == ' ') {
        end--;
    }
    if (end - start > size) {
        return -1;
    }
    for (Py_ssize_t i = start; i < end; i++) {
        buffer[i - start] = fold ? (char)Py_TOLOWER(text[i]) : text[i];
    }
    return end - start;
}

/* Whether value's stripped (folded) text is known and is one of choices. */
static int
text_is(PyObject *value, const char *const *choices, int fold)
{
    char buffer[16];
    Py_ssize_t n = plain_text(value, buffer, (Py_ssize_t)sizeof buffer, fold);
    for (; n >= 0 && *choices != NULL; choices++) {
        if ((size_t)n == strlen(*choices) && memcmp(buffer, *choices, (size_t)n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Whether any of count names from first is a key (whatever its value). */
static int
any_present(PyObject *values, int first, int count)
{
    for (int i = first; i < first + count; i++) {
        int found = PyDict_Contains(values, names[i]);
        if (found != 0) {
            return found; /* 1, or -1 on error */
        }
    }
    return 0;
}

/* ---- the checks of read_celestial_wcs, for RA---TAN / DEC--TAN ------------ */

static int
axes_are_tan(PyObject *values)
{
    static const char *const ra[] = {"RA---TAN", NULL};
    static const char *const dec[] = {"DEC--TAN", NULL};
    long long wcsaxes;
    int made = int_value(values, K_WCSAXES, &wcsaxes);
    if (made != DONE || wcsaxes < 0 || wcsaxes > 2) {
        return made == FAILED ? FAILED : DECLINED; /* more axes to look at */
    }
    PyObject *ctype1 = lookup(values, K_CTYPE1);
    PyObject *ctype2 = ctype1 ? lookup(values, K_CTYPE2) : NULL;
    if (PyErr_Occurred()) {
        return FAILED;
    }
    return ctype2 != NULL && text_is(ctype1, ra, 0) && text_is(ctype2, dec, 0) ? DONE : DECLINED;
}

/* Nothing the native TAN path refuses or leaves to astropy: a DSS plate
 * solution, units other than degrees, projection parameters, SIP. */
static int
plain_tan(PyObject *values)
{
    static const char *const degrees[] = {"", "deg", "degree", "degrees", NULL};
    int present = PyDict_Contains(values, names[K_PLTRAH]);
    if (present != 0) {
        return present < 0 ? FAILED : DECLINED;
    }
    for (int name = K_CUNIT1; name <= K_CUNIT2; name++) {
        /* values.get(CUNITi, ""): absent is "", present None is not text. */
        PyObject *unit = PyDict_GetItemWithError(values, names[name]);
        if (unit == NULL && PyErr_Occurred()) {
            return FAILED;
        }
        if (unit != NULL && !text_is(unit, degrees, 1)) {
            return DECLINED;
        }
    }
    present = any_present(values, K_PROJP1, 2);
    if (present == 0) {
        present = any_present(values, K_PV, 2 * PV_COUNT);
    }
    if (present != 0 || PyErr_Occurred()) {
        return present < 0 || PyErr_Occurred() ? FAILED : DECLINED;
    }
    long long a_order, b_order;
    int made = int_value(values, K_A_ORDER, &a_order);
    if (made == DONE) {
        made = int_value(values, K_B_ORDER, &b_order);
    }
    if (made != DONE) {
        return made;
    }
    return a_order <= 1 && b_order <= 1 ? DONE : DECLINED;
}

/* wcs_keywords._elements: the four elements, the modern spelling first. */
static int
elements(PyObject *values, int first, double diagonal, double out[4])
{
    const double defaults[4] = {diagonal, 0.0, 0.0, diagonal};
    for (int i = 0; i < 4; i++) {
        PyObject *modern = lookup(values, first + i);
        if (modern == NULL && PyErr_Occurred()) {
            return FAILED;
        }
        int made = real_value(values, modern != NULL ? first + i : first + 4 + i, defaults[i],
                              &out[i]);
        if (made != DONE) {
            return made;
        }
    }
    return DONE;
}

/* wcs_keywords._matrix: PC (scaled by CDELT) before CD before CROTA2. */
static int
matrix(PyObject *values, double m[4])
{
    double d_lng, d_lat;
    int made = real_value(values, K_CDELT1, 1.0, &d_lng);
    if (made == DONE) {
        made = real_value(values, K_CDELT2, 1.0, &d_lat);
    }
    if (made != DONE) {
        return made;
    }
    int pc = any_present(values, K_PC, 8);
    int cd = pc == 0 ? any_present(values, K_CD, 8) : 0;
    if (pc < 0 || cd < 0) {
        return FAILED;
    }
    if (pc || cd) {
        made = elements(values, pc ? K_PC : K_CD, pc ? 1.0 : 0.0, m);
        if (made == DONE && pc) {
            m[0] = d_lng * m[0], m[1] = d_lng * m[1], m[2] = d_lat * m[2], m[3] = d_lat * m[3];
        }
    }
    else {
        double crota = 0.0;
        made = real_value(values, K_CROTA2, 0.0, &crota);
        double rho = RADIANS * crota;
        double c = cos(rho), s = sin(rho);
        m[0] = d_lng * c, m[1] = -d_lat * s, m[2] = d_lng * s, m[3] = d_lat * c;
    }
    if (made == DONE && m[0] * m[3] - m[1] * m[2] == 0.0) {
        return DECLINED; /* singular: Python's path says so */
    }
    return made;
}

/* frames._equinox for a number: finite int or float, else None (here NAN).
 * Text (Python parses it) declines. */
static int
equinox_value(PyObject *values, int name, double *out)
{
    PyObject *value = lookup(values, name);
    *out = NAN;
    if (value == NULL) {
        return PyErr_Occurred() ? FAILED : DONE;
    }
    if (PyBool_Check(value) || PyComplex_CheckExact(value)) {
        return DONE;
    }
    double number;
    int made = real_value(values, name, NAN, &number);
    if (made == DONE) {
        *out = number;
    }
    else if (PyFloat_CheckExact(value)) {
        made = DONE; /* a non-finite float: None */
    }
    return made;
}

/* frames.equatorial_frame (with EPOCH): whether it is ICRS or FK5 J2000,
 * which frames.to_icrs keeps as they are. Anything else declines. */
static int
icrs_like(PyObject *values)
{
    double equinox;
    int made = equinox_value(values, K_EQUINOX, &equinox);
    if (made == DONE && isnan(equinox)) {
        made = equinox_value(values, K_EPOCH, &equinox);
    }
    if (made != DONE) {
        return made;
    }
    /* values.get("RADESYS", values.get("RADECSYS")): RADESYS = None wins. */
    PyObject *system = PyDict_GetItemWithError(values, names[K_RADESYS]);
    if (system == NULL && !PyErr_Occurred()) {
        system = PyDict_GetItemWithError(values, names[K_RADECSYS]);
    }
    if (system == NULL && PyErr_Occurred()) {
        return FAILED;
    }
    char name[16];
    Py_ssize_t length = 0;
    if (system != NULL && PyUnicode_Check(system)) {
        length = plain_text(system, name, (Py_ssize_t)sizeof name, 1);
        if (length < 0) {
            return DECLINED;
        }
    }
    int fk5;
    if (length == 0) {
        if (isnan(equinox)) {
            return DONE; /* no system, no equinox: ICRS */
        }
        fk5 = equinox >= FK4_BEFORE;
    }
    else if (length == 4 && memcmp(name, "icrs", 4) == 0) {
        return DONE;
    }
    else {
        fk5 = length == 3 && memcmp(name, "fk5", 3) == 0;
    }
    if (!fk5) {
        return DECLINED;
    }
    /* FK5 without an equinox is J2000; to_icrs keeps J2000 as it is. */
    return isnan(equinox) || fabs(equinox - 2000.0) < EQUINOX_TOLERANCE ? DONE : DECLINED;
}

/* ---- the geometry ---------------------------------------------------------- */

typedef struct {
    double crpix[2], crval[2], m[4];
    double phi_p, sin_p, cos_p; /* spherical.rotation_for, θ0 = 90° */
} Tan;

/* One pixel to ICRS (α, δ): transform.pixels_to_sky, projections'
 * TAN branch of deproject_all, spherical.native_to_celestial and
 * frames.to_icrs for ICRS, operation for operation. */
static int
pixel_to_sky(const Tan *t, double px, double py, double *alpha, double *delta)
{
    double u = px - t->crpix[0], v = py - t->crpix[1];
    double x = t->m[0] * u + t->m[1] * v, y = t->m[2] * u + t->m[3] * v;
    if (!isfinite(x) || !isfinite(y)) {
        return DECLINED;
    }
    double radius;
    if (py_hypot(x, y, &radius) != DONE) {
        return FAILED;
    }
    double phi = radius != 0.0 ? DEGREES * atan2(x, -y) : 0.0;
    double theta = DEGREES * atan2(R0, radius);
    double d_phi = RADIANS * (phi - t->phi_p);
    double theta_r = RADIANS * theta;
    double sin_t = sin(theta_r), cos_t = cos(theta_r), cos_d = cos(d_phi);
    double cx = sin_t * t->cos_p - cos_t * t->sin_p * cos_d;
    double cy = -cos_t * sin(d_phi);
    double cz = sin_t * t->sin_p + cos_t * t->cos_p * cos_d;
    double across;
    if (py_hypot(cx, cy, &across) != DONE) {
        return FAILED;
    }
    *alpha = py_mod(py_mod(t->crval[0] + DEGREES * atan2(cy, cx), 360.0), 360.0);
    *delta = DEGREES * atan2(cz, across);
    return DONE;
}

/* Everything read_celestial_wcs would read, for the TAN subset. */
static int
read_tan(PyObject *values, Tan *t)
{
    int made = axes_are_tan(values);
    if (made == DONE) {
        made = plain_tan(values);
    }
    for (int i = 0; made == DONE && i < 2; i++) {
        made = real_value(values, K_CRPIX1 + i, 0.0, &t->crpix[i]);
    }
    if (made == DONE) {
        made = matrix(values, t->m);
    }
    for (int i = 0; made == DONE && i < 2; i++) {
        made = real_value(values, K_CRVAL1 + i, 0.0, &t->crval[i]);
    }
    double lonpole = NAN, latpole;
    if (made == DONE) {
        made = real_value(values, K_LONPOLE, NAN, &lonpole);
    }
    if (made == DONE) {
        made = real_value(values, K_LATPOLE, NAN, &latpole); /* read, as Python does */
    }
    if (made == DONE) {
        made = icrs_like(values);
    }
    if (made != DONE) {
        return made;
    }
    double delta0 = t->crval[1];
    if (fabs(delta0) > 90.0 + POLE_TOLERANCE) {
        return DECLINED; /* the reference point beyond the pole: InvalidWcs */
    }
    t->phi_p = !isnan(lonpole) ? lonpole : (delta0 < 90.0 ? 180.0 : 0.0) + 0.0;
    double radians = RADIANS * delta0;
    t->sin_p = sin(radians), t->cos_p = cos(radians);
    return DONE;
}

/* (α, δ) as a new tuple of two floats. */
static PyObject *
point(double alpha, double delta)
{
    return Py_BuildValue("(dd)", alpha, delta);
}

/* The four corners (calc_footprint order) and the centre, as tuples. */
static PyObject *
footprint(const Tan *t, long long n1, long long n2)
{
    const double first = (double)n1, second = (double)n2;
    const double pixels[5][2] = {
        {0.5, 0.5},
        {0.5, second + 0.5},
        {first + 0.5, second + 0.5},
        {first + 0.5, 0.5},
        {(double)(n1 + 1) / 2.0, (double)(n2 + 1) / 2.0},
    };
    PyObject *points[5] = {NULL};
    int made = DONE;
    for (int i = 0; made == DONE && i < 5; i++) {
        double alpha, delta;
        made = pixel_to_sky(t, pixels[i][0], pixels[i][1], &alpha, &delta);
        if (made == DONE) {
            points[i] = point(alpha, delta);
            made = points[i] == NULL ? FAILED : DONE;
        }
    }
    PyObject *result = NULL;
    if (made == DONE) {
        result = Py_BuildValue("((OOOO)O)", points[0], points[1], points[2], points[3], points[4]);
    }
    for (int i = 0; i < 5; i++) {
        Py_XDECREF(points[i]);
    }
    if (made == DECLINED) {
        Py_RETURN_NONE;
    }
    return result;
}

/* An axis length of naxis (exact ints, as HduLayout holds them). */
static int
axis_length(PyObject *naxis, Py_ssize_t index, long long *out)
{
    PyObject *item = PyTuple_GET_ITEM(naxis, index);
    if (!PyLong_CheckExact(item)) {
        return DECLINED;
    }
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(item, &overflow);
    if (*out == -1 && PyErr_Occurred()) {
        return FAILED;
    }
    return overflow || *out <= 0 || *out > (1LL << 52) ? DECLINED : DONE;
}

PyDoc_STRVAR(tan_footprint_doc,
"tan_footprint(values, naxis, /)\n--\n\n"
"((4 corners), centre) in ICRS degrees, each (ra, dec), of an image with\n"
"axes naxis (a tuple of two ints) and keyword map values (a dict) whose\n"
"WCS is plain RA---TAN/DEC--TAN in ICRS or FK5 J2000 -- exactly what\n"
"pipeline.extract.footprint's Python path gives; None for any other WCS.");

static PyObject *
tan_footprint(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        return PyErr_Format(PyExc_TypeError, "tan_footprint() takes 2 arguments (%zd given)",
                            nargs);
    }
    PyObject *values = args[0], *naxis = args[1];
    if (!PyDict_CheckExact(values) || !PyTuple_CheckExact(naxis) || PyTuple_GET_SIZE(naxis) != 2) {
        Py_RETURN_NONE;
    }
    long long n1, n2;
    Tan t;
    int made = axis_length(naxis, 0, &n1);
    if (made == DONE) {
        made = axis_length(naxis, 1, &n2);
    }
    if (made == DONE) {
        made = read_tan(values, &t);
    }
    if (made == FAILED) {
        return NULL;
    }
    if (made == DECLINED) {
        Py_RETURN_NONE;
    }
    return footprint(&t, n1, n2);
}

static PyMethodDef methods[] = {
    {"tan_footprint", (PyCFunction)(void (*)(void))tan_footprint, METH_FASTCALL,
     tan_footprint_doc},
    {NULL, NULL, 0, NULL},
};

static void
free_module(void *module)
{
    (void)module;
    for (int i = 0; i < K_COUNT; i++) {
        Py_CLEAR(names[i]);
    }
    Py_CLEAR(hypot_function);
}

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pipeline.extract._cfootprint",
    .m_doc = "The footprint of plain TAN images in C (see pipeline.extract.footprint).",
    .m_size = -1,
    .m_methods = methods,
    .m_free = free_module,
};

PyMODINIT_FUNC
PyInit__cfootprint(void)
{
    PyObject *module = NULL;
    if (load_hypot() == 0 && make_names() == 0) {
        module = PyModule_Create(&module_definition);
    }
    if (module == NULL) {
        free_module(NULL);
    }
    return module;
}
