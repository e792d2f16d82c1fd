/*
 * _csky: the padded sky box of a footprint polygon, in C.
 *
 * polygon_box(corners, padding, polar) does what pipeline/search/sky.py's
 * box_of_product does for a footprint — unit vectors, the polygon
 * (sphere.SphericalPolygon.from_vertices), each edge's latitude range
 * (sphere.arc_latitude_range), the poles' containment, the right-ascension
 * sweep and the padding (sky._polygon_box, sky._padded) — with the same
 * arithmetic in the same order, and returns the same four numbers, bit for
 * bit. The Python path (the reference, and the fallback when this extension
 * is not built) spent ~27 µs a product there, interpreting small functions
 * in the thread that reads the file.
 *
 * A loop without a well-defined inside (from_vertices gives None) is
 * declined (None), as is anything but a list of (float, float) pairs: the
 * Python path then decides. tests/unit/test_csky.py checks the equality.
 *
 * Bit for bit: the operations are the Python code's, in its order
 * (math.degrees is x * (180 / pi), math.radians x * (pi / 180), sum() adds
 * from the left); -ffp-contract=off keeps the compiler from fusing them;
 * math.hypot is called through Python, whose algorithm is not libm's;
 * float % is Python's (sign of divisor); min and max keep the first of
 * equal values, as Python's do.
 */

#include "../_pyfloat.h"

#define MAX_VERTICES 64
#define DEGENERATE 1e-15        /* sphere._DEGENERATE */
#define HEMISPHERE_MARGIN 1e-9  /* sphere._HEMISPHERE_MARGIN */

static const double DEGREES = 180.0 / 3.14159265358979323846;
static const double RADIANS = 3.14159265358979323846 / 180.0;

typedef struct {
    double x, y, z;
} Vector;

typedef struct {
    Vector vertices[MAX_VERTICES];
    double plane[MAX_VERTICES][2];
    Vector centre, axes[2];
    Py_ssize_t count;
} Polygon;

/* Python's min(a, b) and max(a, b): the first unless the second is beyond it. */
static double
py_min(double a, double b)
{
    return b < a ? b : a;
}

static double
py_max(double a, double b)
{
    return b > a ? b : a;
}

static double
dot(Vector a, Vector b)
{
    return a.x * b.x + a.y * b.y + a.z * b.z;
}

static Vector
cross(Vector a, Vector b)
{
    Vector c = {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
    return c;
}

static double
norm(Vector a)
{
    return sqrt(dot(a, a));
}

static Vector
scaled(Vector a, double factor)
{
    Vector s = {a.x * factor, a.y * factor, a.z * factor};
    return s;
}

/* sphere._latitude */
static int
latitude(Vector v, double *out)
{
    double across;
    if (py_hypot(v.x, v.y, &across) != DONE) {
        return FAILED;
    }
    *out = atan2(v.z, across) * DEGREES;
    return DONE;
}

/* sphere._within_arc */
static int
within_arc(Vector start, Vector end, Vector normal, Vector point)
{
    return dot(cross(start, point), normal) >= 0.0 && dot(cross(point, end), normal) >= 0.0;
}

/* sphere._gnomonic */
static void
gnomonic(const Polygon *p, Vector point, double *x, double *y)
{
    double depth = dot(point, p->centre);
    *x = dot(point, p->axes[0]) / depth;
    *y = dot(point, p->axes[1]) / depth;
}

/* sphere.SphericalPolygon.from_vertices: DECLINED where it gives None. */
static int
make_polygon(Polygon *p)
{
    Vector total = {0.0, 0.0, 0.0};
    for (Py_ssize_t i = 0; i < p->count; i++) {
        total.x += p->vertices[i].x;
        total.y += p->vertices[i].y;
        total.z += p->vertices[i].z;
    }
    double size = norm(total);
    if (size < DEGENERATE) {
        return DECLINED;
    }
    p->centre = scaled(total, 1.0 / size);
    for (Py_ssize_t i = 0; i < p->count; i++) {
        if (dot(p->vertices[i], p->centre) <= HEMISPHERE_MARGIN) {
            return DECLINED;
        }
    }
    /* sphere._tangent_axes */
    Vector helper = {0.0, 0.0, 1.0};
    if (!(fabs(p->centre.z) < 0.9)) {
        helper.x = 1.0;
        helper.z = 0.0;
    }
    Vector first = cross(helper, p->centre);
    first = scaled(first, 1.0 / norm(first));
    p->axes[0] = first;
    p->axes[1] = cross(p->centre, first);
    for (Py_ssize_t i = 0; i < p->count; i++) {
        gnomonic(p, p->vertices[i], &p->plane[i][0], &p->plane[i][1]);
    }
    return DONE;
}

/* sphere.SphericalPolygon.contains */
static int
contains(const Polygon *p, Vector point)
{
    if (dot(point, p->centre) <= 0.0) {
        return 0;
    }
    double x, y;
    gnomonic(p, point, &x, &y);
    int inside = 0;
    for (Py_ssize_t i = 0; i < p->count; i++) {
        const double *a = p->plane[i], *b = p->plane[(i + 1) % p->count];
        if ((a[1] > y) != (b[1] > y)) {
            double crossing = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if (x < crossing) {
                inside = !inside;
            }
        }
    }
    return inside;
}

/* sphere.arc_latitude_range */
static int
arc_latitude_range(Vector start, Vector end, double *low, double *high)
{
    double start_dec, end_dec;
    if (latitude(start, &start_dec) != DONE || latitude(end, &end_dec) != DONE) {
        return FAILED;
    }
    *low = py_min(start_dec, end_dec);
    *high = py_max(start_dec, end_dec);
    Vector normal = cross(start, end);
    double length = norm(normal);
    if (length < DEGENERATE) {
        return DONE;
    }
    Vector unit = scaled(normal, 1.0 / length);
    Vector summit = {-unit.z * unit.x, -unit.z * unit.y, 1.0 - unit.z * unit.z};
    if (norm(summit) < DEGENERATE) {
        return DONE;
    }
    double extreme;
    if (within_arc(start, end, normal, summit)) {
        if (latitude(summit, &extreme) != DONE) {
            return FAILED;
        }
        *high = py_max(*high, extreme);
    }
    Vector nadir = scaled(summit, -1.0);
    if (within_arc(start, end, normal, nadir)) {
        if (latitude(nadir, &extreme) != DONE) {
            return FAILED;
        }
        *low = py_min(*low, extreme);
    }
    return DONE;
}

/* sky._padded */
static PyObject *
padded(double dec_min, double dec_max, double ra_min, double ra_max, int full_circle,
       double padding)
{
    double low = py_max(-90.0, dec_min - padding);
    double high = py_min(90.0, dec_max + padding);
    if (full_circle || ra_max - ra_min + 2 * padding >= 360.0) {
        return Py_BuildValue("(dddd)", low, high, 0.0, 360.0);
    }
    double start = py_mod(ra_min - padding, 360.0);
    if (start >= 360.0) {
        start = 0.0;
    }
    return Py_BuildValue("(dddd)", low, high, start, start + (ra_max - ra_min) + 2 * padding);
}

/* sky._polygon_box, after from_vertices */
static PyObject *
polygon_box_of(const Polygon *p, double padding, double polar)
{
    double low = 90.0, high = -90.0;
    for (Py_ssize_t i = 0; i < p->count; i++) {
        double edge_low, edge_high;
        if (arc_latitude_range(p->vertices[i], p->vertices[(i + 1) % p->count], &edge_low,
                               &edge_high) != DONE) {
            return NULL;
        }
        low = py_min(low, edge_low);
        high = py_max(high, edge_high);
    }
    const Vector north_pole = {0.0, 0.0, 1.0}, south_pole = {0.0, 0.0, -1.0};
    int north = contains(p, north_pole), south = contains(p, south_pole);
    high = north ? 90.0 : high;
    low = south ? -90.0 : low;
    if (north || south || high >= 90.0 - polar || low <= -90.0 + polar) {
        return padded(low, high, 0.0, 360.0, 1, padding);
    }
    /* sky._ra_sweep over sphere.sky_position's right ascensions */
    double ras[MAX_VERTICES];
    for (Py_ssize_t i = 0; i < p->count; i++) {
        ras[i] = py_mod(atan2(p->vertices[i].y, p->vertices[i].x) * DEGREES, 360.0);
    }
    double position = 0.0, lowest = 0.0, highest = 0.0;
    for (Py_ssize_t i = 0; i < p->count; i++) {
        double step = py_mod(ras[(i + 1) % p->count] - ras[i] + 180.0, 360.0) - 180.0;
        position += step;
        lowest = py_min(lowest, position);
        highest = py_max(highest, position);
    }
    return padded(low, high, ras[0] + lowest, ras[0] + highest, 0, padding);
}

/* A float, exactly: an int or anything else declines (Python's path decides). */
static int
exact_float(PyObject *value, double *out)
{
    if (!PyFloat_CheckExact(value)) {
        return DECLINED;
    }
    *out = PyFloat_AS_DOUBLE(value);
    return DONE;
}

PyDoc_STRVAR(polygon_box_doc,
             "polygon_box(corners, padding, polar, /)\n--\n\n"
             "The padded (dec_min, dec_max, ra_min, ra_max) of the polygon through\n"
             "corners (a list of (ra, dec) float pairs, degrees), as\n"
             "pipeline.search.sky computes it; None where that path must decide.");

static PyObject *
polygon_box(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (!_PyArg_CheckPositional("polygon_box", nargs, 3, 3)) {
        return NULL;
    }
    PyObject *corners = args[0];
    double padding = PyFloat_AsDouble(args[1]);
    double polar = PyFloat_AsDouble(args[2]);
    if ((padding == -1.0 || polar == -1.0) && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyList_CheckExact(corners)) {
        Py_RETURN_NONE;
    }
    Polygon p;
    p.count = PyList_GET_SIZE(corners);
    if (p.count < 1 || p.count > MAX_VERTICES) {
        Py_RETURN_NONE;
    }
    for (Py_ssize_t i = 0; i < p.count; i++) {
        PyObject *corner = PyList_GET_ITEM(corners, i);
        double ra, dec;
        if (!PyTuple_CheckExact(corner) || PyTuple_GET_SIZE(corner) != 2 ||
            exact_float(PyTuple_GET_ITEM(corner, 0), &ra) != DONE ||
            exact_float(PyTuple_GET_ITEM(corner, 1), &dec) != DONE) {
            Py_RETURN_NONE;
        }
        /* sphere.unit_vector */
        double alpha = ra * RADIANS, delta = dec * RADIANS;
        double cos_delta = cos(delta);
        p.vertices[i].x = cos_delta * cos(alpha);
        p.vertices[i].y = cos_delta * sin(alpha);
        p.vertices[i].z = sin(delta);
    }
    if (make_polygon(&p) != DONE) {
        Py_RETURN_NONE;
    }
    return polygon_box_of(&p, padding, polar);
}

static PyMethodDef methods[] = {
    {"polygon_box", (PyCFunction)(void (*)(void))polygon_box, METH_FASTCALL, polygon_box_doc},
    {NULL, NULL, 0, NULL},
};

static void
free_module(void *module)
{
    (void)module;
    Py_CLEAR(hypot_function);
}

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pipeline.search._csky",
    .m_doc = "The padded sky box of a footprint polygon in C (see pipeline.search.sky).",
    .m_size = -1,
    .m_methods = methods,
    .m_free = free_module,
};

PyMODINIT_FUNC
PyInit__csky(void)
{
    PyObject *module = NULL;
    if (load_hypot() == 0) {
        module = PyModule_Create(&module_definition);
    }
    if (module == NULL) {
        free_module(NULL);
    }
    return module;
}
