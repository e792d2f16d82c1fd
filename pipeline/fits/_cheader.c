/*
 * The reader's helpers around the tokenizer, for pipeline/fits/reader.py and
 * structure.py (whose Python versions stay as the fallback and reference):
 *
 *   scan_block(block)    where a header block's END card is, and whether
 *                        the block is printable text
 *   first_values(cards)  the keyword map of a header
 *
 * Both run once per block or per header, card after card: in Python the
 * interpreter's loop was the cost (bytes.find of a three-byte needle scans
 * at about 1 ns a byte; a dict comprehension pays two subscripts a card).
 */

#include "_cheader.h"

#include <stdint.h>
#include <string.h>

#define NOT_PRINTABLE (-2)
#define NO_END (-1)

/* Eight bytes at a time ("SIMD within a register"): a byte below 0x20 sets
 * its top bit in (w - 0x20..) & ~w; one above 0x7E sets it in
 * (w + 0x01..) | w. A header of 1,250 cards is 100 kB: byte by byte that
 * is ~35 µs, unless the compiler vectorises the loop (it does at -O3, not
 * at -O2); this way it is a few µs at any optimisation level. */
#define ONES 0x0101010101010101u
#define HIGH_BITS 0x8080808080808080u

static int
printable_word(uint64_t word)
{
    uint64_t below = (word - ONES * 0x20) & ~word;
    uint64_t above = (word + ONES * 0x01) | word;
    return ((below | above) & HIGH_BITS) == 0;
}

int
fitsflow_all_printable(const unsigned char *data, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, data + i, 8);
        if (!printable_word(word)) {
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

const char fitsflow_scan_block_doc[] =
    "scan_block(block, /)\n--\n\n"
    "The index of block's END card (bytes, whole cards); else -1 when every\n"
    "byte of block is printable ASCII, -2 when one is not.";

PyObject *
fitsflow_scan_block(PyObject *module, PyObject *block)
{
    (void)module;
    if (!PyBytes_Check(block)) {
        return PyErr_Format(PyExc_TypeError, "block must be bytes, not %s",
                            Py_TYPE(block)->tp_name);
    }
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(block);
    Py_ssize_t n = PyBytes_GET_SIZE(block);
    Py_ssize_t end = end_card_index(data, n);
    if (end == NO_END && !fitsflow_all_printable(data, n)) {
        end = NOT_PRINTABLE;
    }
    return PyLong_FromSsize_t(end);
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
