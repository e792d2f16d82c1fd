/*
 * The reader's helpers around the tokenizer, for pipeline/fits/reader.py and
 * structure.py (whose Python versions stay as the fallback and reference):
 *
 *   scan_blocks(data)    where the END card of a run of header blocks
 *                        is, and whether the blocks before it are text
 *   first_values(cards)  the keyword map of a header
 *   card_rows(cards)     and, for pipeline/ingest/parse.py, the JSON rows
 *   header_object(cards, listed)  and the queryable header of an HDU
 *
 * Each runs once per block or per header, card after card: in Python the
 * interpreter's loop was the cost (bytes.find of a three-byte needle scans
 * at about 1 ns a byte; a dict comprehension pays two subscripts a card; a
 * list built per card, ~0.3 µs).
 */

#include "_cheader.h"

#include <string.h>

#define NO_END (-1)
#define BLOCK 2880 /* bytes per FITS block */

/* Sixty-four bytes are tested together, without a branch per byte: the
 * compiler turns the inner loop into vector code at -O2 and -O3 alike
 * (about 4 µs for the 100 kB of a 1,250-card header; bytes.translate, the
 * Python way, took 50 µs). */
#define CHUNK 64

int
fitsflow_all_printable(const unsigned char *data, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (; i + CHUNK <= n; i += CHUNK) {
        unsigned char bad = 0;
        for (int k = 0; k < CHUNK; k++) {
            bad |= (unsigned char)(data[i + k] - 0x20) > 0x5E;
        }
        if (bad) {
            return 0;
        }
    }
    for (; i < n; i++) {
        if (data[i] < 0x20 || data[i] > 0x7E) {
            return 0;
        }
    }
    return 1;
}

static int
is_keyword_byte(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Like reader._end_card_index: a card starting END followed by anything
 * that cannot continue a keyword (a space included), or by nothing. */
static Py_ssize_t
end_card_index(const unsigned char *data, Py_ssize_t n)
{
    for (Py_ssize_t at = 0; at + 3 <= n; at += CARD) {
        if (memcmp(data + at, "END", 3) == 0 && (at + 3 == n || !is_keyword_byte(data[at + 3]))) {
            return at / CARD;
        }
    }
    return NO_END;
}

const char fitsflow_scan_blocks_doc[] =
    "scan_blocks(data, /)\n--\n\n"
    "(end, printable) for data, whole 2880-byte blocks (bytes or a buffer):\n"
    "the index of its END card (the first block holding one decides), or -1;\n"
    "whether every block before that one (every block, without END) is\n"
    "printable ASCII.";

PyObject *
fitsflow_scan_blocks(PyObject *module, PyObject *data)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *bytes = view.buf;
    Py_ssize_t end = NO_END;
    int printable = 1;
    for (Py_ssize_t at = 0; at < view.len; at += BLOCK) {
        Py_ssize_t size = view.len - at < BLOCK ? view.len - at : BLOCK;
        Py_ssize_t found = end_card_index(bytes + at, size);
        if (found >= 0) {
            end = at / CARD + found;
            break;
        }
        printable = printable && fitsflow_all_printable(bytes + at, size);
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nO)", end, printable ? Py_True : Py_False);
}

/* cards[i][0] → cards[i][1] into values; card is a tuple (checked). */
static int
set_item(PyObject *values, PyObject *card)
{
    if (!PyTuple_Check(card) || PyTuple_GET_SIZE(card) < 2) {
        PyErr_Format(PyExc_TypeError, "cards must hold (keyword, value, ...) tuples, not %s",
                     Py_TYPE(card)->tp_name);
        return -1;
    }
    return PyDict_SetItem(values, PyTuple_GET_ITEM(card, 0), PyTuple_GET_ITEM(card, 1));
}

const char fitsflow_first_values_doc[] =
    "first_values(cards, /)\n--\n\n"
    "{card[0]: card[1] for card in reversed(cards)}: keyword -> value of its\n"
    "first card, keys in the same order as that comprehension.";

PyObject *
fitsflow_first_values(PyObject *module, PyObject *cards)
{
    (void)module;
    PyObject *sequence = PySequence_Fast(cards, "cards must be a list or a tuple");
    if (sequence == NULL) {
        return NULL;
    }
    PyObject *values = PyDict_New();
    /* Later cards first, so that earlier ones overwrite them. A key's
     * __eq__ could change a list under us: its length is read afresh and
     * each card is held while it is used. */
    for (Py_ssize_t i = PySequence_Fast_GET_SIZE(sequence) - 1; values != NULL && i >= 0; i--) {
        if (i >= PySequence_Fast_GET_SIZE(sequence)) {
            continue;
        }
        PyObject *card = Py_NewRef(PySequence_Fast_GET_ITEM(sequence, i));
        if (set_item(values, card) < 0) {
            Py_CLEAR(values);
        }
        Py_DECREF(card);
    }
    Py_DECREF(sequence);
    return values;
}

/* A (keyword, value, comment, raw) card, checked; NULL with TypeError else. */
static PyObject *
checked_card(PyObject *card)
{
    if (!PyTuple_Check(card) || PyTuple_GET_SIZE(card) != 4) {
        PyErr_Format(PyExc_TypeError, "cards must hold (keyword, value, comment, raw) tuples, "
                     "not %s", Py_TYPE(card)->tp_name);
        return NULL;
    }
    return card;
}

const char fitsflow_card_rows_doc[] =
    "card_rows(cards, /)\n--\n\n"
    "[keyword, value, comment] per card, raw appended when it is not None:\n"
    "the JSON rows of an HDU's cards (pipeline.ingest.parse).";

PyObject *
fitsflow_card_rows(PyObject *module, PyObject *cards)
{
    (void)module;
    if (!PyList_Check(cards) && !PyTuple_Check(cards)) {
        PyErr_SetString(PyExc_TypeError, "cards must be a list or a tuple");
        return NULL;
    }
    PyObject *rows = PyList_New(0);
    /* As in first_values: the length is read afresh and each card is held
     * while it is used (a finalizer run by the collector could change a
     * list under us). */
    for (Py_ssize_t i = 0; rows != NULL && i < PySequence_Fast_GET_SIZE(cards); i++) {
        PyObject *card = Py_NewRef(PySequence_Fast_GET_ITEM(cards, i));
        PyObject *row = NULL;
        if (checked_card(card) != NULL) {
            PyObject *raw = PyTuple_GET_ITEM(card, 3);
            Py_ssize_t width = raw == Py_None ? 3 : 4;
            row = PyList_New(width);
            for (Py_ssize_t k = 0; row != NULL && k < width; k++) {
                PyList_SET_ITEM(row, k, Py_NewRef(PyTuple_GET_ITEM(card, k)));
            }
        }
        if (row == NULL || PyList_Append(rows, row) < 0) {
            Py_CLEAR(rows);
        }
        Py_XDECREF(row);
        Py_DECREF(card);
    }
    return rows;
}

/* header[keyword] per the rules of header_object; -1 with an exception. */
static int
add_to_header(PyObject *header, PyObject *listed, PyObject *card)
{
    PyObject *keyword = PyTuple_GET_ITEM(card, 0);
    PyObject *value = PyTuple_GET_ITEM(card, 1);
    int is_listed = PySet_Contains(listed, keyword);
    if (is_listed < 0) {
        return -1;
    }
    PyObject *present = PyDict_GetItemWithError(header, keyword); /* borrowed */
    if (present != NULL) {
        return is_listed ? PyList_Append(present, value) : 0;
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    if (is_listed) {
        PyObject *list = PyList_New(1);
        if (list == NULL) {
            return -1;
        }
        PyList_SET_ITEM(list, 0, Py_NewRef(value));
        int failed = PyDict_SetItem(header, keyword, list);
        Py_DECREF(list);
        return failed;
    }
    int truth = PyObject_IsTrue(keyword);
    if (truth <= 0) {
        return truth; /* an empty keyword (a blank card) is left out */
    }
    return PyDict_SetItem(header, keyword, value);
}

const char fitsflow_header_object_doc[] =
    "header_object(cards, listed, /)\n--\n\n"
    "keyword -> value of its first card, in the order keywords first appear;\n"
    "keywords in the set listed (COMMENT, HISTORY) -> the list of every value;\n"
    "cards with an empty keyword left out (pipeline.ingest.parse.header_object).";

PyObject *
fitsflow_header_object(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "header_object(cards, listed) takes 2 arguments");
        return NULL;
    }
    PyObject *cards = args[0], *listed = args[1];
    if (!PyList_Check(cards) && !PyTuple_Check(cards)) {
        PyErr_SetString(PyExc_TypeError, "cards must be a list or a tuple");
        return NULL;
    }
    if (!PyAnySet_Check(listed)) {
        PyErr_SetString(PyExc_TypeError, "listed must be a set or a frozenset");
        return NULL;
    }
    PyObject *header = PyDict_New();
    if (header == NULL) {
        return NULL;
    }
    /* A keyword's __eq__ or __hash__ could change cards: the length is read
     * afresh and each card is held while it is used. */
    for (Py_ssize_t i = 0; header != NULL && i < PySequence_Fast_GET_SIZE(cards); i++) {
        PyObject *card = Py_NewRef(PySequence_Fast_GET_ITEM(cards, i));
        if (checked_card(card) == NULL || add_to_header(header, listed, card) < 0) {
            Py_CLEAR(header);
        }
        Py_DECREF(card);
    }
    return header;
}
