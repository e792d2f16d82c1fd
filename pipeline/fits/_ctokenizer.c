/*
 * _ctokenizer: the common FITS card shapes, tokenised in C.
 *
 * The C twin of pipeline/fits/tokenizer.py (the reference, and the fallback
 * when this extension is not built). Both take the cards of one header and
 * produce the same Card tuples; this one does it in one pass over the bytes
 * with no interpreter in the loop.
 *
 * It handles exactly the shapes the Python tokenizer handles inline, under
 * the same rules (the docstring of tokenizer.py states them):
 *
 *   KEYWORD = value / comment   standard keyword, value a plain string, an
 *                               integer, a real, T/F or nothing
 *   COMMENT / HISTORY / blank   commentary
 *   HIERARCH words = value      ESO's convention, the same values
 *   KEYWORD = 'a&' + CONTINUE   long strings whose pieces are plain strings
 *
 * Anything else is *declined*: its slot in the result is None and its byte
 * range is reported, and the caller hands it to the Python tokenizer (and
 * from there to astropy). Declining is always correct; accepting is correct
 * only where the Python tokenizer would produce the very same tuple, which
 * tests/unit/test_ctokenizer.py checks (and test_cards_property.py, against
 * astropy, for both implementations).
 *
 * Memory safety: every read goes through a Span (pointer + length) that lies
 * inside one 80-byte card of a buffer whose length is checked on entry; the
 * only writes are into local buffers sized by the spans copied into them.
 *
 * Threads: the GIL is held throughout. The keyword cache below is only
 * touched between allocations of str objects, which never run Python code;
 * the one allocation that can (a Card's: it may start a collection, whose
 * finalizers may let other threads run) happens while the cache is
 * consistent.
 */

#include "_cheader.h"
#include <stdint.h>
#include <string.h>

#define KEYWORD_FIELD 8    /* columns 1-8 */
#define VALUE_START 10     /* after "= " in columns 9-10 */
#define CONTINUE_START 9   /* after "CONTINUE " */
#define MAX_FAST_DIGITS 18 /* always fits in a long long */

/* Results of the parsing steps: a card made, a card declined, an error set. */
enum { DECLINED = 0, MADE = 1, FAILED = -1 };

/* A run of bytes inside one card. */
typedef struct {
    const char *p;
    Py_ssize_t n;
} Span;

static Span
span(const char *p, Py_ssize_t n)
{
    Span s = {p, n};
    return s;
}

/* ---- spans: the str methods the Python tokenizer uses, on bytes ---------- */

/* Only the space is whitespace here: headers reaching this code hold
 * printable ASCII only, and that is the one whitespace character in it.
 * Cards are padded with runs of spaces (right-justified values, text before
 * column 80), so runs are skipped eight bytes at a time. */
static const char EIGHT_SPACES[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

static Span
lstrip(Span s)
{
    while (s.n >= 8 && memcmp(s.p, EIGHT_SPACES, 8) == 0) {
        s.p += 8;
        s.n -= 8;
    }
    while (s.n > 0 && s.p[0] == ' ') {
        s.p++;
        s.n--;
    }
    return s;
}

static Span
rstrip(Span s)
{
    while (s.n >= 8 && memcmp(s.p + s.n - 8, EIGHT_SPACES, 8) == 0) {
        s.n -= 8;
    }
    while (s.n > 0 && s.p[s.n - 1] == ' ') {
        s.n--;
    }
    return s;
}

static Span
strip(Span s)
{
    return rstrip(lstrip(s));
}

/* s[start:], start <= s.n */
static Span
after_offset(Span s, Py_ssize_t start)
{
    return span(s.p + start, s.n - start);
}

/* Offset of the first byte c in s at or after start, or -1. */
static Py_ssize_t
find(Span s, char c, Py_ssize_t start)
{
    if (start >= s.n) {
        return -1;
    }
    const char *hit = memchr(s.p + start, c, (size_t)(s.n - start));
    return hit == NULL ? -1 : hit - s.p;
}

/* Whether ": " occurs in s (a string that may be a record-valued keyword). */
static int
has_colon_space(Span s)
{
    for (Py_ssize_t i = 0; i + 1 < s.n; i++) {
        if (s.p[i] == ':' && s.p[i + 1] == ' ') {
            return 1;
        }
    }
    return 0;
}

static int
equals(Span s, const char *text)
{
    size_t n = strlen(text);
    return (size_t)s.n == n && memcmp(s.p, text, n) == 0;
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- str objects ---------------------------------------------------------- */

/* A new str holding the ASCII bytes of s. */
static PyObject *
new_text(Span s)
{
    PyObject *text = PyUnicode_New(s.n, 127);
    if (text != NULL && s.n > 0) {
        memcpy(PyUnicode_1BYTE_DATA(text), s.p, (size_t)s.n);
    }
    return text;
}

/*
 * Strings shared between cards and headers: headers reuse a small
 * vocabulary of keywords, of comments ("[deg] site latitude" on every file
 * of an instrument) and of short values ('deg', 'RA---TAN'), so the same
 * str object comes back for the same bytes, with its hash kept for the
 * keyword map. Direct-mapped tables indexed by a hash of the bytes; a
 * collision replaces the slot (bounded memory; a miss costs a new str, as
 * without the cache). Keywords have a table of their own, so that varied
 * comments and values never evict them.
 */
#define CACHE_SLOTS 8192     /* a power of two */
#define MAX_CACHED_VALUE 18  /* longer string values are seldom repeated */
static PyObject *keyword_cache[CACHE_SLOTS];
static PyObject *text_cache[CACHE_SLOTS];

/* A multiplicative hash over 8-byte words: HIERARCH keywords and comments
 * run to 30 bytes and more; byte-at-a-time hashing showed in the profile.
 * The last word is the span's last eight bytes (overlapping the one before
 * it), so that nothing is read outside the span; a span shorter than eight
 * bytes is gathered byte by byte. */
static size_t
cache_index(Span s)
{
    uint64_t hash = (uint64_t)s.n * 0x9E3779B97F4A7C15u;
    uint64_t word = 0;
    if (s.n < 8) {
        for (Py_ssize_t i = 0; i < s.n; i++) {
            word = (word << 8) | (unsigned char)s.p[i];
        }
    }
    else {
        for (Py_ssize_t i = 0; i + 8 < s.n; i += 8) {
            memcpy(&word, s.p + i, 8);
            hash = (hash ^ word) * 0xFF51AFD7ED558CCDu;
        }
        memcpy(&word, s.p + s.n - 8, 8);
    }
    hash = (hash ^ word) * 0xC4CEB9FE1A85EC53u;
    return (size_t)(hash >> 32) & (CACHE_SLOTS - 1);
}

static int
holds(PyObject *text, Span s)
{
    return text != NULL && PyUnicode_GET_LENGTH(text) == s.n &&
           memcmp(PyUnicode_1BYTE_DATA(text), s.p, (size_t)s.n) == 0;
}

/* The str for s from table, made and remembered on a miss. Two-way: s may
 * sit in its slot or the slot's twin (index ^ 1); a new str takes the
 * first slot and moves its occupant to the twin, so two strings that hash
 * alike both stay (a header's vocabulary runs to hundreds of keywords). */
static PyObject *
shared_text(PyObject **table, Span s)
{
    size_t index = cache_index(s);
    PyObject **first = &table[index];
    PyObject **second = &table[index ^ 1];
    if (holds(*first, s)) {
        return Py_NewRef(*first);
    }
    if (holds(*second, s)) {
        return Py_NewRef(*second);
    }
    PyObject *text = new_text(s);
    if (text != NULL) {
        Py_XSETREF(*second, *first); /* the first slot's reference moves */
        *first = Py_NewRef(text);
    }
    return text;
}

static PyObject *
cached_text(Span s)
{
    return shared_text(keyword_cache, s);
}

/* A comment (empty ones are the interpreter's one empty str anyway). */
static PyObject *
comment_text(Span s)
{
    return s.n == 0 ? new_text(s) : shared_text(text_cache, s);
}

/* A string value: shared when short. */
static PyObject *
value_text(Span s)
{
    return s.n <= MAX_CACHED_VALUE ? shared_text(text_cache, s) : new_text(s);
}

static void
clear_cache(void)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        Py_CLEAR(keyword_cache[i]);
        Py_CLEAR(text_cache[i]);
    }
}

/* ---- values ----------------------------------------------------------------- */

/* [sign] digits: Python's int() of it. */
static PyObject *
new_integer(Span text)
{
    Py_ssize_t digits = text.n - (text.p[0] == '+' || text.p[0] == '-');
    if (digits <= MAX_FAST_DIGITS) {
        long long number = 0;
        for (Py_ssize_t i = text.n - digits; i < text.n; i++) {
            number = number * 10 + (text.p[i] - '0');
        }
        return PyLong_FromLongLong(text.p[0] == '-' ? -number : number);
    }
    char buffer[CARD + 1]; /* text lies inside one card */
    memcpy(buffer, text.p, (size_t)text.n);
    buffer[text.n] = '\0';
    return PyLong_FromString(buffer, NULL, 10);
}

/* Length of the run of digits at the start of s. */
static Py_ssize_t
digit_run(Span s)
{
    Py_ssize_t i = 0;
    while (i < s.n && is_digit(s.p[i])) {
        i++;
    }
    return i;
}

/*
 * Whether text is a real as float() reads it once D exponents are E ones:
 *   [sign] (digits [. [digits]] | . digits) [(e|E|d|D) [sign] digits]
 * Among strings of these characters that is exactly what float() accepts;
 * what else it accepts (inf, nan, 1_000, spaces around) the Python
 * tokenizer refuses or never sees, and so does this.
 */
static int
is_real(Span text)
{
    Py_ssize_t i = (text.n > 0 && (text.p[0] == '+' || text.p[0] == '-'));
    Py_ssize_t whole = digit_run(after_offset(text, i));
    i += whole;
    Py_ssize_t fraction = 0;
    if (i < text.n && text.p[i] == '.') {
        i++;
        fraction = digit_run(after_offset(text, i));
        i += fraction;
    }
    if (whole == 0 && fraction == 0) {
        return 0;
    }
    if (i < text.n && strchr("eEdD", text.p[i]) != NULL) {
        i++;
        i += (i < text.n && (text.p[i] == '+' || text.p[i] == '-'));
        Py_ssize_t exponent = digit_run(after_offset(text, i));
        if (exponent == 0) {
            return 0;
        }
        i += exponent;
    }
    return i == text.n;
}

/* float() of text (checked by is_real) with D exponents read as E. */
static PyObject *
new_real(Span text)
{
    char buffer[CARD + 1];
    for (Py_ssize_t i = 0; i < text.n; i++) {
        char c = text.p[i];
        buffer[i] = c == 'd' ? 'e' : c == 'D' ? 'E' : c;
    }
    buffer[text.n] = '\0';
    /* What float(str) calls: no overflow exception, 1e999 is inf. */
    double number = PyOS_string_to_double(buffer, NULL, NULL);
    if (number == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    return PyFloat_FromDouble(number);
}

/* A value without quotes: integer, logical, empty or real; else declined. */
static int
plain_value(Span text, PyObject **value)
{
    Py_ssize_t sign = text.n > 0 && (text.p[0] == '+' || text.p[0] == '-');
    if (text.n > sign && digit_run(after_offset(text, sign)) == text.n - sign) {
        *value = new_integer(text);
    }
    else if (text.n == 0) {
        *value = Py_NewRef(Py_None);
    }
    else if (equals(text, "T") || equals(text, "F")) {
        *value = Py_NewRef(text.p[0] == 'T' ? Py_True : Py_False);
    }
    else if (is_real(text)) {
        *value = new_real(text);
    }
    else {
        return DECLINED;
    }
    return *value == NULL ? FAILED : MADE;
}

/* A string body with its doubled quotes made single (pairs only: the scan
 * that found the closing quote guarantees every quote inside is doubled). */
static PyObject *
new_unquoted_text(Span s)
{
    char buffer[CARD];
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < s.n; i++) {
        buffer[n++] = s.p[i];
        if (s.p[i] == '\'') {
            i++; /* skip the second quote of the pair */
        }
    }
    return value_text(span(buffer, n));
}

/*
 * A string value: body is the value field without leading spaces, starting
 * with a quote. The string ends at the first quote not doubled; a doubled
 * quote followed by a space, a slash or the card's end could also end it
 * for astropy (its match is lazy), and '' followed by another quote makes
 * astropy try a non-empty string first: both declined, like ": " inside.
 */
static int
string_value(Span body, PyObject **value, PyObject **comment)
{
    Py_ssize_t close = find(body, '\'', 1);
    int doubled = 0;
    while (close > 0 && close + 1 < body.n && body.p[close + 1] == '\'') {
        if (close + 2 >= body.n || body.p[close + 2] == ' ' || body.p[close + 2] == '/') {
            return DECLINED;
        }
        doubled = 1;
        close = find(body, '\'', close + 2);
    }
    if (close < 0 || (close == 1 && find(body, '\'', 2) >= 0)) {
        return DECLINED;
    }
    Span after = lstrip(after_offset(body, close + 1));
    if (after.n > 0 && after.p[0] != '/') {
        return DECLINED;
    }
    Span text = rstrip(span(body.p + 1, close - 1));
    if (has_colon_space(text)) {
        return DECLINED;
    }
    *value = doubled ? new_unquoted_text(text) : value_text(text);
    if (*value == NULL) {
        return FAILED;
    }
    *comment = comment_text(after.n > 0 ? strip(after_offset(after, 1)) : after);
    if (*comment == NULL) {
        Py_CLEAR(*value);
        return FAILED;
    }
    return MADE;
}

/* The value-and-comment field of a card (after "= ", or after a HIERARCH
 * card's "="): a string, or a plain value and what follows the first '/'. */
static int
value_field(Span body, PyObject **value, PyObject **comment)
{
    Py_ssize_t slash = find(body, '/', 0);
    Span text = span(body.p, slash < 0 ? body.n : slash);
    if (find(text, '\'', 0) >= 0) {
        Span quoted = lstrip(body);
        return quoted.p[0] == '\'' ? string_value(quoted, value, comment) : DECLINED;
    }
    int made = plain_value(strip(text), value);
    if (made != MADE) {
        return made;
    }
    Span note = slash < 0 ? span(body.p, 0) : strip(after_offset(body, slash + 1));
    *comment = comment_text(note);
    if (*comment == NULL) {
        Py_CLEAR(*value);
        return FAILED;
    }
    return MADE;
}

/* ---- cards ------------------------------------------------------------------ */

/* A Card(keyword, value, comment, None); steals the three references, and
 * passes an error on (returns NULL) when any of them is NULL.
 *
 * The tuple is never tracked by the cycle collector: str, int, float, bool
 * and None cannot form cycles (the collector would untrack it itself, at
 * its next pass). PyObject_GC_NewVar allocates it untracked and without
 * zeroing, which is why every item is set right away. type is a tuple
 * subclass (checked on entry) without instance dict: a tuple's layout. */
static PyObject *
new_card(PyTypeObject *type, PyObject *keyword, PyObject *value, PyObject *comment)
{
    PyTupleObject *card = NULL;
    if (keyword != NULL && value != NULL && comment != NULL) {
        card = PyObject_GC_NewVar(PyTupleObject, type, 4);
    }
    if (card == NULL) {
        Py_XDECREF(keyword);
        Py_XDECREF(value);
        Py_XDECREF(comment);
        return NULL;
    }
    card->ob_item[0] = keyword;
    card->ob_item[1] = value;
    card->ob_item[2] = comment;
    card->ob_item[3] = Py_NewRef(Py_None);
    return (PyObject *)card;
}

/* keyword (a new reference, stolen) and the field after it, as one Card. */
static int
value_card(PyTypeObject *type, PyObject *keyword, Span body, PyObject **card)
{
    PyObject *value = NULL;
    PyObject *comment = NULL;
    int made = value_field(body, &value, &comment);
    if (made != MADE) {
        Py_DECREF(keyword);
        return made;
    }
    *card = new_card(type, keyword, value, comment);
    return *card == NULL ? FAILED : MADE;
}

static int
is_keyword_character(char c)
{
    return (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
}

static int
is_standard_keyword(Span keyword)
{
    if (keyword.n == 0 || equals(keyword, "CONTINUE") || equals(keyword, "END")) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < keyword.n; i++) {
        if (!is_keyword_character(keyword.p[i])) {
            return 0;
        }
    }
    return 1;
}

static int
is_commentary(Span keyword)
{
    return keyword.n == 0 || equals(keyword, "COMMENT") || equals(keyword, "HISTORY");
}

/* HIERARCH words = value / comment. The keyword is the words, stripped;
 * one that names a special keyword (HIERARCH HISTORY) is astropy's case. */
static int
hierarch_card(PyTypeObject *type, Span card, PyObject **out)
{
    Py_ssize_t equals_at = find(card, '=', 0);
    if (equals_at < 0) {
        return DECLINED;
    }
    Span words = strip(span(card.p + KEYWORD_FIELD + 1, equals_at - KEYWORD_FIELD - 1));
    char upper[CARD];
    for (Py_ssize_t i = 0; i < words.n; i++) {
        upper[i] = (char)Py_TOUPPER(words.p[i]);
    }
    Span shout = span(upper, words.n);
    if (is_commentary(shout) || equals(shout, "CONTINUE") || equals(shout, "END")) {
        return DECLINED;
    }
    PyObject *keyword = cached_text(words);
    if (keyword == NULL) {
        return FAILED;
    }
    return value_card(type, keyword, after_offset(card, equals_at + 1), out);
}

/* One card that is not part of a CONTINUE sequence. */
static int
single_card(PyTypeObject *type, Span card, PyObject **out)
{
    Span keyword = rstrip(span(card.p, KEYWORD_FIELD));
    if (is_commentary(keyword)) {
        /* No call after a failed one: an error is pending then. */
        PyObject *name = cached_text(keyword);
        PyObject *text = name ? new_text(rstrip(after_offset(card, KEYWORD_FIELD))) : NULL;
        PyObject *empty = text ? PyUnicode_New(0, 0) : NULL;
        *out = new_card(type, name, text, empty);
        return *out == NULL ? FAILED : MADE;
    }
    if (equals(keyword, "HIERARCH") && card.p[KEYWORD_FIELD] == ' ') {
        return hierarch_card(type, card, out);
    }
    if (memcmp(card.p + KEYWORD_FIELD, "= ", 2) != 0 || !is_standard_keyword(keyword)) {
        return DECLINED;
    }
    PyObject *name = cached_text(keyword);
    if (name == NULL) {
        return FAILED;
    }
    return value_card(type, name, after_offset(card, VALUE_START), out);
}

/* ---- CONTINUE sequences ----------------------------------------------------- */

static int
is_continue(const char *card)
{
    return memcmp(card, "CONTINUE", KEYWORD_FIELD) == 0;
}

/* One card of a CONTINUE sequence (first: the card they continue) when it
 * holds a plain string: its piece, without a final '&', and its comment.
 * Any quote but the two around the piece, or ": " in it, declines. */
static int
continued_piece(Span card, int first, Span *piece, Span *comment)
{
    if (!first && card.p[KEYWORD_FIELD] != ' ') {
        return DECLINED;
    }
    Span field = strip(after_offset(card, first ? VALUE_START : CONTINUE_START));
    Py_ssize_t close = find(field, '\'', 1);
    if (field.n == 0 || field.p[0] != '\'' || close < 0 || find(field, '\'', close + 1) >= 0) {
        return DECLINED;
    }
    Span after = lstrip(after_offset(field, close + 1));
    Span text = rstrip(span(field.p + 1, close - 1));
    if ((after.n > 0 && after.p[0] != '/') || has_colon_space(text)) {
        return DECLINED;
    }
    if (text.n > 0 && text.p[text.n - 1] == '&') {
        text.n--;
    }
    *piece = text;
    *comment = after.n > 0 ? strip(after_offset(after, 1)) : after;
    return MADE;
}

/* The cards of a sequence joined: pieces end to end (then right-stripped),
 * non-empty comments separated by one space. Two passes over the cards,
 * one to check and measure, one to copy. */
static int
join_sequence(const char *cards, Py_ssize_t count, PyObject **value, PyObject **comment)
{
    Py_ssize_t text_size = 0, note_size = 0;
    Span piece, note;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!continued_piece(span(cards + i * CARD, CARD), i == 0, &piece, &note)) {
            return DECLINED;
        }
        text_size += piece.n;
        note_size += note.n + 1;
    }
    char *buffer = PyMem_Malloc((size_t)(text_size + note_size + 1));
    if (buffer == NULL) {
        PyErr_NoMemory();
        return FAILED;
    }
    char *notes = buffer + text_size;
    Py_ssize_t text_at = 0, note_at = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        continued_piece(span(cards + i * CARD, CARD), i == 0, &piece, &note);
        memcpy(buffer + text_at, piece.p, (size_t)piece.n);
        text_at += piece.n;
        if (note.n > 0) {
            if (note_at > 0) {
                notes[note_at++] = ' ';
            }
            memcpy(notes + note_at, note.p, (size_t)note.n);
            note_at += note.n;
        }
    }
    *value = new_text(rstrip(span(buffer, text_at)));
    *comment = *value == NULL ? NULL : new_text(span(notes, note_at));
    PyMem_Free(buffer);
    if (*comment == NULL) {
        Py_CLEAR(*value);
        return FAILED;
    }
    return MADE;
}

/* A card followed by CONTINUE cards, when every piece is a plain string and
 * the first card is a standard value card. */
static int
continued_card(PyTypeObject *type, const char *cards, Py_ssize_t count, PyObject **out)
{
    Span keyword = rstrip(span(cards, KEYWORD_FIELD));
    if (is_commentary(keyword) || memcmp(cards + KEYWORD_FIELD, "= ", 2) != 0 ||
        !is_standard_keyword(keyword)) {
        return DECLINED;
    }
    PyObject *value = NULL;
    PyObject *comment = NULL;
    int made = join_sequence(cards, count, &value, &comment);
    if (made != MADE) {
        return made;
    }
    *out = new_card(type, cached_text(keyword), value, comment);
    return *out == NULL ? FAILED : MADE;
}

/* ---- the header ------------------------------------------------------------- */

/* Index after the card at `first` and the CONTINUE cards following it. */
static Py_ssize_t
sequence_end(const char *data, Py_ssize_t first, Py_ssize_t count)
{
    Py_ssize_t end = first + 1;
    while (end < count && is_continue(data + end * CARD)) {
        end++;
    }
    return end;
}

/* Append a None placeholder and (index, start, stop) to `declined`. */
static int
decline(PyObject *cards, PyObject *declined, Py_ssize_t first, Py_ssize_t end)
{
    PyObject *where = Py_BuildValue("(nnn)", PyList_GET_SIZE(cards), first * CARD, end * CARD);
    if (where == NULL) {
        return -1;
    }
    int failed = PyList_Append(declined, where) < 0 || PyList_Append(cards, Py_None) < 0;
    Py_DECREF(where);
    return failed ? -1 : 0;
}

/* Tokenise count cards at data into cards, declining into declined. */
static int
tokenize_cards(PyTypeObject *type, const char *data, Py_ssize_t count, PyObject *cards,
               PyObject *declined)
{
    Py_ssize_t i = 0;
    while (i < count) {
        const char *card = data + i * CARD;
        /* A card followed by CONTINUE cards is one sequence; so is a CONTINUE
         * card at the very start, with nothing to continue (as astropy). */
        Py_ssize_t end = sequence_end(data, i, count);
        PyObject *made_card = NULL;
        int made = (end > i + 1 || is_continue(card))
                       ? continued_card(type, card, end - i, &made_card)
                       : single_card(type, span(card, CARD), &made_card);
        if (made == FAILED) {
            return -1;
        }
        if (made == DECLINED) {
            if (decline(cards, declined, i, end) < 0) {
                return -1;
            }
        }
        else {
            int failed = PyList_Append(cards, made_card) < 0;
            Py_DECREF(made_card);
            if (failed) {
                return -1;
            }
        }
        i = end;
    }
    return 0;
}

/* Whether type is a tuple subclass laid out as a tuple (no __dict__, no
 * __weakref__): new_card fills such an object as it would a tuple. */
static int
has_tuple_layout(PyObject *type)
{
    if (!PyType_Check(type)) {
        return 0;
    }
    PyTypeObject *tp = (PyTypeObject *)type;
    return PyType_IsSubtype(tp, &PyTuple_Type) && tp->tp_basicsize == PyTuple_Type.tp_basicsize &&
           tp->tp_itemsize == PyTuple_Type.tp_itemsize && tp->tp_dictoffset == 0 &&
           tp->tp_weaklistoffset == 0 && !PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT);
}

PyDoc_STRVAR(tokenize_doc,
"tokenize(header, count, card_type, /)\n--\n\n"
"The first count 80-byte cards of header (bytes), CONTINUE cards joined to\n"
"the card before them, as (cards, declined): cards holds a card_type\n"
"(keyword, value, comment, None) per card, or None where this tokenizer\n"
"declined one; declined holds (index, start, stop) for each of those, the\n"
"byte range of the card or sequence in header. None when header holds a\n"
"byte outside printable ASCII (nothing is tokenised then).");

static PyObject *
tokenize(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3) {
        return PyErr_Format(PyExc_TypeError, "tokenize() takes 3 arguments (%zd given)", nargs);
    }
    if (!PyBytes_Check(args[0])) {
        return PyErr_Format(PyExc_TypeError, "header must be bytes, not %s",
                            Py_TYPE(args[0])->tp_name);
    }
    Py_ssize_t count = PyLong_AsSsize_t(args[1]);
    if (count == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!has_tuple_layout(args[2])) {
        return PyErr_Format(PyExc_TypeError,
                            "card_type must be a tuple subclass without instance attributes "
                            "(a NamedTuple)");
    }
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (count < 0 || count > size / CARD) {
        return PyErr_Format(PyExc_ValueError, "%zd cards do not fit in %zd bytes", count, size);
    }
    const char *data = PyBytes_AS_STRING(args[0]);
    if (!fitsflow_all_printable((const unsigned char *)data, count * CARD)) {
        Py_RETURN_NONE;
    }
    PyObject *cards = PyList_New(0);
    PyObject *declined = PyList_New(0);
    if (cards == NULL || declined == NULL ||
        tokenize_cards((PyTypeObject *)args[2], data, count, cards, declined) < 0) {
        Py_XDECREF(cards);
        Py_XDECREF(declined);
        return NULL;
    }
    return Py_BuildValue("(NN)", cards, declined);
}

static PyMethodDef methods[] = {
    {"tokenize", (PyCFunction)(void (*)(void))tokenize, METH_FASTCALL, tokenize_doc},
    {"scan_blocks", fitsflow_scan_blocks, METH_O, fitsflow_scan_blocks_doc},
    {"first_values", fitsflow_first_values, METH_O, fitsflow_first_values_doc},
    {"card_rows", fitsflow_card_rows, METH_O, fitsflow_card_rows_doc},
    {"header_object", (PyCFunction)(void (*)(void))fitsflow_header_object, METH_FASTCALL,
     fitsflow_header_object_doc},
    {NULL, NULL, 0, NULL},
};

static void
free_module(void *module)
{
    (void)module;
    clear_cache();
}

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pipeline.fits._ctokenizer",
    .m_doc = "The common FITS card shapes, tokenised in C (see pipeline.fits.tokenizer), "
             "and the reader's helpers around it.",
    .m_size = -1,
    .m_methods = methods,
    .m_free = free_module,
};

PyMODINIT_FUNC
PyInit__ctokenizer(void)
{
    return PyModule_Create(&module_definition);
}
