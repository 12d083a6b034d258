/* escudo.sources._sysmon: Sysmon for Linux event lines into Arrow string columns, in C (an
 * optional speed-up of sysmon_columnar.py, which is its specification).
 *
 * extract(data, layouts, wanted, nfields)
 *     -> (rows, columns, hosts, row_lines, exact, skipped, other, lines)
 *
 * SysmonForLinux writes every event in one fixed layout (sysmon_fast._STD_SYSTEM, then the
 * EventID's Data fields in manifest order). Each line of `data` is sorted as the columnar
 * pattern does it:
 *   a plain event  an optional RFC 3164 <PRI>, a prefix without '<' that does not start with a
 *                  blank or '{', then a whole event of a layout in `layouts`, then only blanks;
 *                  every value holds no '<', no newline (attributes no '"') and '&' only in one
 *                  of the five predefined entities (kept as written), no "]]>", the line is
 *                  valid UTF-8. Its values become a row.
 *   other          an event in the standard System layout up to its EventID, of an EventID not
 *                  in `wanted`, whose line holds "</Event>": counted.
 *   skipped        a line without "<Event>" whose first non-blank byte is not '{': counted.
 *   empty          nothing.
 *   exact          anything else: handed back for the exact per-event path.
 *
 * layouts  {eventid: (digits, steps, final)}: `digits` the EventID as written (b"1"), `steps`
 *          ((literal, kind, slot), ...) from "</EventID>" on, each literal followed by a value
 *          (kind 0 element text, 1 attribute value, 2 TimeCreated/@SystemTime), `slot` the
 *          value's column or -1; `final` the literal after the last value. The values before
 *          the EventID (Provider Name and Guid) and the EventID itself go to `head`:
 *          layouts also holds the key "head": (name_slot, guid_slot, eventid_slot).
 * wanted   None (every EventID) or a tuple of EventIDs: an event of one, not plain, is exact.
 * columns  per slot (validity or None, offsets, data, null_count): an Arrow string column's
 *          buffers (int32 offsets) over the plain rows, in input order;
 * hosts    (offsets, data) of each row's host key: its prefix, with a valid RFC 3164 stamp
 *          replaced by "Jan  1 00:00:00 " (the host does not depend on the stamp's value);
 * row_lines  the 0-based line index of each row (int64); exact [(line, start, end)].
 *
 * The line loop runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && defined(__SSE2__)
#include <emmintrin.h>
#define ESCUDO_SSE2 1
#endif

enum { KIND_TEXT = 0, KIND_ATTR = 1, KIND_TIME = 2 };

typedef struct {
    const uint8_t *literal;
    Py_ssize_t length;
    int kind;
    int slot;
} Step;

typedef struct {
    const uint8_t *digits;
    Py_ssize_t ndigits;
    Step *steps;
    Py_ssize_t nsteps;
    const uint8_t *final;
    Py_ssize_t nfinal;
} Layout;

typedef struct {
    Py_ssize_t start, length; /* start < 0: no value */
} Span;

typedef struct {
    Py_ssize_t line, start, end;
} ExactLine;

/* One output column, filled a row at a time while its line is still in the cache. */
typedef struct {
    uint8_t *data;
    size_t used, size;
    int32_t *offsets;  /* rows + 1 */
    uint8_t *validity; /* a bit per row */
    Py_ssize_t nulls;
} Column;

enum { OK = 0, NO_MEMORY = 1, TOO_BIG = 2 };

typedef struct {
    /* in */
    const uint8_t *s;
    Py_ssize_t n;
    Layout *layouts;
    Py_ssize_t nlayouts;
    const long long *wanted; /* NULL: every EventID */
    Py_ssize_t nwanted;
    int nfields;
    int head[3];
    /* out */
    Span *row;       /* the values of the line being read (nfields) */
    Column *columns; /* nfields, then the host keys */
    int64_t *row_lines;
    Py_ssize_t rows, cap;
    ExactLine *exact;
    Py_ssize_t nexact, exact_cap;
    Py_ssize_t skipped, other, lines;
    int failed;
} Run;

static const char HEAD[] = "<Event><System><Provider Name=\"";
static const char GUID[] = "\" Guid=\"";
static const char EVENTID[] = "\"/><EventID>";
static const char END_EVENTID[] = "</EventID>";

/* Python's bytes-pattern \s: [ \t\n\r\f\v]. */
static inline int space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static inline int blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == 0x0b || c == 0x0c; }

/* Whether s[i:i+m] is the literal: compared 8 bytes at a time, inline (a libc memcmp call per
 * literal, ~45 a line, cost more than the rest of the line). */
static inline int at(const uint8_t *s, Py_ssize_t i, Py_ssize_t end, const void *lit, Py_ssize_t m)
{
    if (end - i < m)
        return 0;
    const uint8_t *a = s + i, *b = lit;
    uint64_t x, y;
    while (m >= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
        a += 8, b += 8, m -= 8;
    }
    while (m--)
        if (*a++ != *b++)
            return 0;
    return 1;
}

static const uint8_t *find(const uint8_t *s, Py_ssize_t n, const char *lit, Py_ssize_t m)
{
    const uint8_t *p = s, *end = s + n;
    while (end - p >= m) {
        p = memchr(p, lit[0], (size_t)(end - p - m + 1));
        if (p == NULL)
            return NULL;
        if (memcmp(p, lit, (size_t)m) == 0)
            return p;
        p++;
    }
    return NULL;
}

/* The length of one of the five predefined entities at s[i] ('&'), or 0. */
static inline Py_ssize_t entity(const uint8_t *s, Py_ssize_t i, Py_ssize_t end)
{
    if (at(s, i, end, "&amp;", 5) || at(s, i, end, "&lt;", 4) || at(s, i, end, "&gt;", 4))
        return s[i + 1] == 'a' ? 5 : 4;
    if (at(s, i, end, "&quot;", 6) || at(s, i, end, "&apos;", 6))
        return 6;
    return 0;
}

/* Bytes that end or interrupt a value: 1 '<', 2 '"', 4 '&', 8 ']'. */
static uint8_t stops[256];

/* The first byte at or after i that may end or interrupt a value ('<', '&', ']', and '"' in an
 * attribute), or end: 16 bytes at a time with SSE2 (every x86-64 CPU has it). */
static inline Py_ssize_t next_stop(const uint8_t *s, Py_ssize_t i, Py_ssize_t end, int attr)
{
#ifdef ESCUDO_SSE2
    const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&'), bracket = _mm_set1_epi8(']');
    const __m128i quote = _mm_set1_epi8(attr ? '"' : '<');
    while (end - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, lt), _mm_cmpeq_epi8(x, amp)),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, bracket), _mm_cmpeq_epi8(x, quote)));
        int mask = _mm_movemask_epi8(hit);
        if (mask)
            return i + __builtin_ctz((unsigned)mask);
        i += 16;
    }
#endif
    const uint8_t stop = attr ? 1 | 2 | 4 | 8 : 1 | 4 | 8;
    while (i < end && !(stops[s[i]] & stop))
        i++;
    return i;
}

/* The end of a strict value starting at i, or -1: '&' outside an entity, "]]>" (left to the
 * exact path, which refuses it). A value ends before '<' (text) or before '"' or '<' (attribute),
 * or at the line's end. */
static inline Py_ssize_t value_end(const uint8_t *s, Py_ssize_t i, Py_ssize_t end, int attr)
{
    for (;;) {
        i = next_stop(s, i, end, attr);
        if (i >= end || s[i] == '<' || s[i] == '"')
            return i;
        if (s[i] == '&') {
            Py_ssize_t k = entity(s, i, end);
            if (!k)
                return -1;
            i += k;
        } else { /* ']' */
            if (end - i >= 3 && s[i + 1] == ']' && s[i + 2] == '>')
                return -1;
            i++;
        }
    }
}

/* TimeCreated/@SystemTime: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z; its end or -1. */
static Py_ssize_t time_end(const uint8_t *s, Py_ssize_t i, Py_ssize_t end)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (end - i < 19)
        return -1;
    for (int k = 0; k < 19; k++) {
        uint8_t c = s[i + k];
        if (shape[k] == 'd' ? !is_digit(c) : c != (uint8_t)shape[k])
            return -1;
    }
    i += 19;
    if (i < end && s[i] == '.') {
        Py_ssize_t j = i + 1;
        while (j < end && is_digit(s[j]) && j - i <= 9)
            j++;
        if (j == i + 1 || j >= end || s[j] != 'Z')
            return -1;
        return j + 1;
    }
    return i < end && s[i] == 'Z' ? i + 1 : -1;
}

static int valid_utf8(const uint8_t *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
#ifdef ESCUDO_SSE2
    /* most lines are ASCII: 64 bytes at a time until a byte with its high bit set */
    while (n - i >= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(s + i + 48));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))))
            break;
        i += 64;
    }
#endif
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        Py_ssize_t k;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            k = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else
            return 0;
        if (n - i <= k)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (Py_ssize_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xBF)
                return 0;
        i += k + 1;
    }
    return 1;
}

static int add_exact(Run *run, Py_ssize_t line, Py_ssize_t start, Py_ssize_t end)
{
    if (run->nexact == run->exact_cap) {
        Py_ssize_t cap = run->exact_cap ? run->exact_cap * 2 : 16;
        ExactLine *grown = realloc(run->exact, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return 0;
        run->exact = grown;
        run->exact_cap = cap;
    }
    run->exact[run->nexact++] = (ExactLine){line, start, end};
    return 1;
}

/* Room for one more row in every column. 0: out of memory. */
static int grow_rows(Run *run)
{
    Py_ssize_t cap = run->cap ? run->cap * 2 : 1024;
    int64_t *row_lines = realloc(run->row_lines, (size_t)cap * sizeof *row_lines);
    if (row_lines == NULL)
        return 0;
    run->row_lines = row_lines;
    for (int f = 0; f <= run->nfields; f++) {
        Column *c = &run->columns[f];
        int32_t *offsets = realloc(c->offsets, (size_t)(cap + 1) * sizeof *offsets);
        if (offsets == NULL)
            return 0;
        c->offsets = offsets;
        if (!run->cap)
            offsets[0] = 0;
        uint8_t *validity = realloc(c->validity, (size_t)(cap + 7) / 8);
        if (validity == NULL)
            return 0;
        memset(validity + (run->cap + 7) / 8, 0, (size_t)((cap + 7) / 8 - (run->cap + 7) / 8));
        c->validity = validity;
    }
    run->cap = cap;
    return 1;
}

/* Append `length` bytes (from one or two pieces) to column `c` as row `r`'s value. */
static int append(Column *c, Py_ssize_t r, const uint8_t *a, size_t na, const uint8_t *b,
                  size_t nb)
{
    size_t need = c->used + na + nb;
    if (need > INT32_MAX)
        return TOO_BIG;
    if (need > c->size) {
        size_t size = c->size ? c->size : 1 << 16;
        while (size < need)
            size *= 2;
        uint8_t *data = realloc(c->data, size);
        if (data == NULL)
            return NO_MEMORY;
        c->data = data;
        c->size = size;
    }
    if (na)
        memcpy(c->data + c->used, a, na);
    if (nb)
        memcpy(c->data + c->used + na, b, nb);
    c->used = need;
    c->offsets[r + 1] = (int32_t)need;
    c->validity[r >> 3] |= (uint8_t)(1u << (r & 7));
    return OK;
}

static const char FIXED_STAMP[] = "Jan  1 00:00:00 ";

/* [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} (16 bytes): sysmon_columnar._STAMP */
static int stamp(const uint8_t *p, Py_ssize_t n)
{
    if (n < 16)
        return 0;
    if (!(p[0] >= 'A' && p[0] <= 'Z') || !(p[1] >= 'a' && p[1] <= 'z') ||
        !(p[2] >= 'a' && p[2] <= 'z') || p[3] != ' ' || !(p[4] == ' ' || is_digit(p[4])) ||
        !is_digit(p[5]) || p[6] != ' ')
        return 0;
    static const char shape[] = "dd:dd:dd ";
    for (int k = 0; k < 9; k++)
        if (shape[k] == 'd' ? !is_digit(p[7 + k]) : p[7 + k] != (uint8_t)shape[k])
            return 0;
    return 1;
}

/* The row in run->row, its line `number` and its host key (the prefix, a valid RFC 3164 stamp
 * replaced by FIXED_STAMP: the host does not depend on the stamp's value) into the columns. */
static int add_row(Run *run, Py_ssize_t number, Py_ssize_t ls, Py_ssize_t prefix_end)
{
    if (run->rows == run->cap && !grow_rows(run))
        return NO_MEMORY;
    Py_ssize_t r = run->rows;
    for (int f = 0; f < run->nfields; f++) {
        Column *c = &run->columns[f];
        const Span *v = &run->row[f];
        if (v->start < 0) {
            c->offsets[r + 1] = (int32_t)c->used;
            c->nulls++;
            continue;
        }
        int err = append(c, r, run->s + v->start, (size_t)v->length, NULL, 0);
        if (err)
            return err;
    }
    const uint8_t *p = run->s + ls;
    size_t n = (size_t)(prefix_end - ls);
    int stamped = stamp(p, (Py_ssize_t)n);
    int err = stamped ? append(&run->columns[run->nfields], r, (const uint8_t *)FIXED_STAMP, 16,
                               p + 16, n - 16)
                      : append(&run->columns[run->nfields], r, p, n, NULL, 0);
    if (err)
        return err;
    run->row_lines[r] = number;
    run->rows++;
    return OK;
}

static int is_wanted(const Run *run, long long eventid)
{
    if (run->wanted == NULL)
        return 1;
    for (Py_ssize_t k = 0; k < run->nwanted; k++)
        if (run->wanted[k] == eventid)
            return 1;
    return 0;
}

static inline void put(Span *row, int slot, Py_ssize_t start, Py_ssize_t end)
{
    if (slot >= 0)
        row[slot] = (Span){start, end - start};
}

/* A whole plain event of `layout` from `i` (just after the EventID's digits) to the line's end:
 * its values into run->row. 0: not plain. */
static int plain(Run *run, const Layout *layout, Py_ssize_t i, Py_ssize_t end, const Span *head)
{
    const uint8_t *s = run->s;
    Span *row = run->row;
    for (int f = 0; f < run->nfields; f++)
        row[f] = (Span){-1, 0};
    for (int k = 0; k < 3; k++)
        if (run->head[k] >= 0)
            row[run->head[k]] = head[k];
    for (Py_ssize_t k = 0; k < layout->nsteps; k++) {
        const Step *step = &layout->steps[k];
        if (!at(s, i, end, step->literal, step->length))
            return 0;
        i += step->length;
        Py_ssize_t stop = step->kind == KIND_TIME ? time_end(s, i, end)
                                                  : value_end(s, i, end, step->kind == KIND_ATTR);
        if (stop < 0)
            return 0;
        put(row, step->slot, i, stop);
        i = stop;
    }
    if (!at(s, i, end, layout->final, layout->nfinal))
        return 0;
    for (i += layout->nfinal; i < end; i++)
        if (!blank(s[i]))
            return 0;
    return 1;
}

/* Sort one line [ls, le) (see the top of this file). 0: failed (run->failed says why). */
static int line(Run *run, Py_ssize_t number, Py_ssize_t ls, Py_ssize_t le)
{
    const uint8_t *s = run->s;
    const uint8_t *open = find(s + ls, le - ls, "<Event>", 7);
    if (open == NULL) {
        Py_ssize_t i = ls;
        while (i < le && blank(s[i]))
            i++;
        if (i < le && !space(s[i]) && s[i] != '{') {
            run->skipped++;
            return 1;
        }
        return le > ls ? add_exact(run, number, ls, le) : 1;
    }
    /* the prefix: (?:<\d{1,3}>)?(?:[^\s{<][^\n<]*+)? */
    Py_ssize_t i = ls;
    if (i < le && s[i] == '<') {
        Py_ssize_t j = i + 1;
        while (j < le && j - i <= 3 && is_digit(s[j]))
            j++;
        if (j > i + 1 && j - i <= 4 && j < le && s[j] == '>')
            i = j + 1;
    }
    if (i < le && s[i] != '<' && !space(s[i]) && s[i] != '{') {
        const uint8_t *lt = memchr(s + i, '<', (size_t)(le - i));
        i = lt == NULL ? le : lt - s;
    }
    Py_ssize_t prefix_end = i;
    Span head[3];
    int strict = 1;
    if (!at(s, i, le, HEAD, sizeof HEAD - 1))
        return add_exact(run, number, ls, le);
    i += sizeof HEAD - 1;
    for (int k = 0; k < 2; k++) { /* Provider Name, Guid: [^"<\n]* (strict: entities only, */
        Py_ssize_t start = i;        /* no "]]>": the exact path refuses both) */
        while (i < le && s[i] != '"' && s[i] != '<') {
            if (s[i] == ']' && le - i >= 3 && s[i + 1] == ']' && s[i + 2] == '>')
                strict = 0;
            if (s[i] == '&' && strict) {
                Py_ssize_t e = entity(s, i, le);
                if (!e) {
                    strict = 0;
                    continue;
                }
                i += e;
                continue;
            }
            i++;
        }
        head[k] = (Span){start, i - start};
        const char *next = k ? EVENTID : GUID;
        Py_ssize_t m = k ? (Py_ssize_t)sizeof EVENTID - 1 : (Py_ssize_t)sizeof GUID - 1;
        if (!at(s, i, le, next, m))
            return add_exact(run, number, ls, le);
        i += m;
    }
    Py_ssize_t digits = i;
    long long eventid = 0;
    while (i < le && is_digit(s[i]) && i - digits < 11) {
        eventid = eventid * 10 + (s[i] - '0');
        i++;
    }
    Py_ssize_t ndigits = i - digits;
    if (ndigits < 1 || ndigits > 10 || !at(s, i, le, END_EVENTID, sizeof END_EVENTID - 1))
        return add_exact(run, number, ls, le);
    head[2] = (Span){digits, ndigits};
    if (strict) {
        for (Py_ssize_t k = 0; k < run->nlayouts; k++) {
            const Layout *layout = &run->layouts[k];
            if (layout->ndigits != ndigits || memcmp(layout->digits, s + digits, (size_t)ndigits))
                continue;
            if (plain(run, layout, i, le, head) && valid_utf8(s + ls, le - ls)) {
                int err = add_row(run, number, ls, prefix_end);
                if (err)
                    run->failed = err;
                return !err;
            }
            break;
        }
    }
    if (!is_wanted(run, eventid) && find(s + ls, le - ls, "</Event>", 8) != NULL) {
        run->other++;
        return 1;
    }
    return add_exact(run, number, ls, le);
}

static void lines(Run *run)
{
    const uint8_t *s = run->s;
    Py_ssize_t pos = 0, number = 0;
    while (pos < run->n) {
        const uint8_t *nl = memchr(s + pos, '\n', (size_t)(run->n - pos));
        Py_ssize_t end = nl == NULL ? run->n : nl - s;
        if (!line(run, number, pos, end)) {
            if (!run->failed)
                run->failed = NO_MEMORY;
            return;
        }
        number++;
        pos = end + 1;
    }
    run->lines = number;
}

/* (validity or None, offsets, data, null_count) of a column: copies of its buffers. */
static PyObject *column(const Column *c, Py_ssize_t rows)
{
    PyObject *validity = Py_None;
    if (c->nulls)
        validity = PyBytes_FromStringAndSize((const char *)c->validity, (rows + 7) / 8);
    else
        Py_INCREF(Py_None);
    static const int32_t zero = 0;
    const int32_t *off = rows ? c->offsets : &zero;
    PyObject *offsets = PyBytes_FromStringAndSize((const char *)off, (rows + 1) * 4);
    PyObject *data = PyBytes_FromStringAndSize((const char *)c->data, (Py_ssize_t)c->used);
    if (validity == NULL || offsets == NULL || data == NULL) {
        Py_XDECREF(validity);
        Py_XDECREF(offsets);
        Py_XDECREF(data);
        return NULL;
    }
    return Py_BuildValue("(NNNn)", validity, offsets, data, c->nulls);
}

static int is_tuple(PyObject *o, const char *what)
{
    if (PyTuple_Check(o))
        return 1;
    PyErr_Format(PyExc_TypeError, "extract: %s must be a tuple", what);
    return 0;
}

/* The layouts argument into C structs (pointers into the caller's objects, which it holds). */
static int read_layouts(PyObject *layouts, Run *run, int nfields)
{
    PyObject *head = PyDict_GetItemString(layouts, "head");
    if (head != NULL && !is_tuple(head, "head"))
        return 0;
    if (head == NULL || !PyArg_ParseTuple(head, "iii", &run->head[0], &run->head[1], &run->head[2])) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "extract: layouts without 'head'");
        return 0;
    }
    for (int k = 0; k < 3; k++)
        if (run->head[k] >= nfields) {
            PyErr_SetString(PyExc_ValueError, "extract: slot out of range");
            return 0;
        }
    Py_ssize_t count = PyDict_Size(layouts) - 1;
    run->layouts = calloc((size_t)(count > 0 ? count : 1), sizeof *run->layouts);
    if (run->layouts == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(layouts, &pos, &key, &value)) {
        if (!PyLong_Check(key))
            continue;
        Layout *layout = &run->layouts[run->nlayouts++];
        PyObject *steps;
        const char *digits, *final;
        if (!is_tuple(value, "a layout"))
            return 0;
        if (!PyArg_ParseTuple(value, "y#O!y#", &digits, &layout->ndigits, &PyTuple_Type, &steps,
                              &final, &layout->nfinal))
            return 0;
        layout->digits = (const uint8_t *)digits;
        layout->final = (const uint8_t *)final;
        layout->nsteps = PyTuple_GET_SIZE(steps);
        layout->steps = calloc((size_t)(layout->nsteps ? layout->nsteps : 1), sizeof(Step));
        if (layout->steps == NULL) {
            PyErr_NoMemory();
            return 0;
        }
        for (Py_ssize_t k = 0; k < layout->nsteps; k++) {
            Step *step = &layout->steps[k];
            const char *literal;
            if (!is_tuple(PyTuple_GET_ITEM(steps, k), "a step"))
                return 0;
            if (!PyArg_ParseTuple(PyTuple_GET_ITEM(steps, k), "y#ii", &literal, &step->length,
                                  &step->kind, &step->slot))
                return 0;
            step->literal = (const uint8_t *)literal;
            if (step->slot >= nfields) {
                PyErr_SetString(PyExc_ValueError, "extract: slot out of range");
                return 0;
            }
            if (step->kind < KIND_TEXT || step->kind > KIND_TIME) {
                PyErr_SetString(PyExc_ValueError, "extract: unknown value kind");
                return 0;
            }
        }
    }
    return 1;
}

static void free_run(Run *run)
{
    for (Py_ssize_t k = 0; k < run->nlayouts; k++)
        free(run->layouts[k].steps);
    free(run->layouts);
    free((void *)run->wanted);
    if (run->columns != NULL)
        for (int f = 0; f <= run->nfields; f++) {
            free(run->columns[f].data);
            free(run->columns[f].offsets);
            free(run->columns[f].validity);
        }
    free(run->columns);
    free(run->row);
    free(run->row_lines);
    free(run->exact);
}

static PyObject *extract(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    PyObject *layouts, *wanted;
    int nfields;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*O!Oi:extract", &buf, &PyDict_Type, &layouts, &wanted,
                          &nfields))
        return NULL;
    Run run;
    memset(&run, 0, sizeof run);
    PyObject *result = NULL;
    run.s = buf.buf;
    run.n = buf.len;
    run.nfields = nfields;
    if (nfields < 0) {
        PyErr_SetString(PyExc_ValueError, "extract: negative nfields");
        goto done;
    }
    if (!read_layouts(layouts, &run, nfields))
        goto done;
    run.columns = calloc((size_t)nfields + 1, sizeof *run.columns);
    run.row = calloc((size_t)nfields + 1, sizeof *run.row);
    if (run.columns == NULL || run.row == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (wanted != Py_None) {
        if (!PyTuple_Check(wanted)) {
            PyErr_SetString(PyExc_TypeError, "extract: wanted must be None or a tuple");
            goto done;
        }
        run.nwanted = PyTuple_GET_SIZE(wanted);
        long long *ids = calloc((size_t)(run.nwanted ? run.nwanted : 1), sizeof *ids);
        if (ids == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        run.wanted = ids;
        for (Py_ssize_t k = 0; k < run.nwanted; k++) {
            ids[k] = PyLong_AsLongLong(PyTuple_GET_ITEM(wanted, k));
            if (ids[k] == -1 && PyErr_Occurred())
                goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    lines(&run);
    Py_END_ALLOW_THREADS
    if (run.failed == TOO_BIG) {
        PyErr_SetString(PyExc_OverflowError, "extract: a column past 2 GiB");
        goto done;
    }
    if (run.failed) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *columns = PyList_New(nfields);
    if (columns == NULL)
        goto done;
    for (int f = 0; f < nfields; f++) {
        PyObject *col = column(&run.columns[f], run.rows);
        if (col == NULL) {
            Py_DECREF(columns);
            goto done;
        }
        PyList_SET_ITEM(columns, f, col);
    }
    const Column *keys = &run.columns[nfields];
    static const int32_t zero = 0;
    PyObject *hosts = Py_BuildValue(
        "(y#y#)", (const char *)(run.rows ? keys->offsets : &zero), (run.rows + 1) * 4,
        keys->data ? (const char *)keys->data : "", (Py_ssize_t)keys->used);
    PyObject *row_lines = PyBytes_FromStringAndSize((const char *)run.row_lines,
                                                    run.rows * (Py_ssize_t)sizeof(int64_t));
    PyObject *exact = PyList_New(run.nexact);
    if (hosts == NULL || row_lines == NULL || exact == NULL) {
        Py_DECREF(columns);
        Py_XDECREF(hosts);
        Py_XDECREF(row_lines);
        Py_XDECREF(exact);
        goto done;
    }
    for (Py_ssize_t k = 0; k < run.nexact; k++) {
        PyObject *item = Py_BuildValue("(nnn)", run.exact[k].line, run.exact[k].start,
                                       run.exact[k].end);
        if (item == NULL) {
            Py_DECREF(columns);
            Py_DECREF(hosts);
            Py_DECREF(row_lines);
            Py_DECREF(exact);
            goto done;
        }
        PyList_SET_ITEM(exact, k, item);
    }
    result = Py_BuildValue("(nNNNNnnn)", run.rows, columns, hosts, row_lines, exact, run.skipped,
                           run.other, run.lines);
done:
    free_run(&run);
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"extract", extract, METH_VARARGS,
     "extract(data, layouts, wanted, nfields) -> (rows, columns, hosts, row_lines, exact, "
     "skipped, other, lines): see sysmon_columnar.py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "escudo.sources._sysmon",
    "Sysmon for Linux event lines into Arrow string columns (see escudo.sources.sysmon_columnar).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__sysmon(void)
{
    stops['<'] = 1;
    stops['"'] = 2;
    stops['&'] = 4;
    stops[']'] = 8;
    return PyModule_Create(&module);
}
