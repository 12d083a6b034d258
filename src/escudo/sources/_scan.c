/* escudo.sources._scan: the raw-text prefilter's chunk scan in C (an optional speed-up).
 *
 * scan(data, needles) sorts a chunk's lines exactly as prefilter.split_chunk_python does, and
 * returns (lines, filtered, skipped, candidates, runs):
 * lines       the chunk's lines (a last line without a newline counts);
 * candidates  how many lines the exact per-line path must see: a line holding a needle (ASCII
 *             case-insensitive, like bytes.lower), one holding an always-pass sequence ("&#",
 *             U+212A and U+0130 in UTF-8), an event line not ending in "</Event>\n" (or \r\n),
 *             and a line without "<Event>" starting with a blank or "{" (JSON, blank-only);
 * filtered    the other lines holding "<Event>" (whole events the filter drops);
 * skipped     the other non-blank lines without "<Event>";
 * runs        [(first_line, begin, end)]: maximal runs of consecutive candidate lines, as the
 *             0-based index of the first and the byte range [begin, end) they cover.
 * prefilter.py is the specification; tests hold this module and the Python path equal.
 *
 * One pass over 64-byte blocks finds newlines, the rarest byte of each always-pass sequence
 * ('#', 0xE2, 0xC4) and places where the first needle's first and last bytes sit m-1 apart
 * (compared with bit 5 set where the needle byte is a letter: exact for ASCII letters), each as
 * a 64-bit mask; the rare hits are then checked byte by byte. Other needles of the clause take
 * one more pass each. Blocks are compared with AVX2 where the CPU has it (chosen at import),
 * else SSE2 on x86-64, else byte by byte. The GIL is released while scanning.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define ESCUDO_X86 1
#endif

#define F_EVENT 1u    /* holds "<Event>" */
#define F_ENDS 2u     /* ends with "</Event>\n" or "</Event>\r\n" */
#define F_ODD 4u      /* starts with one of " \t\r\v\f{" */
#define F_BLANK 8u    /* is "\n" alone */
#define F_SPECIAL 16u /* a candidate line */

typedef struct {
    size_t *starts; /* starts[i] is line i's first byte; then one past the last line's end */
    uint8_t *flags; /* flags[i]: line i's F_* bits */
    size_t count;   /* entries of starts in use */
    size_t cap;
    int failed;     /* out of memory */
} Lines;

typedef struct {
    uint64_t newline, rare, needle;
} Masks;

static inline uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c; }

static inline int matches_at(const uint8_t *s, const uint8_t *nd, size_t m)
{
    for (size_t j = 0; j < m; j++)
        if (lower(s[j]) != nd[j])
            return 0;
    return 1;
}

/* Whether the byte at `at` is the rarest byte of an always-pass sequence that is there: '#' of
 * "&#", 0xE2 of E2 84 AA (U+212A), 0xC4 of C4 B0 (U+0130). (The sequence is on the byte's line:
 * none holds a newline.) base.ALWAYS_PASS lists the same; a test holds them equal. */
static inline int always_pass_at(const uint8_t *s, size_t n, size_t at)
{
    switch (s[at]) {
    case '#':
        return at > 0 && s[at - 1] == '&';
    case 0xE2:
        return at + 2 < n && s[at + 1] == 0x84 && s[at + 2] == 0xAA;
    case 0xC4:
        return at + 1 < n && s[at + 1] == 0xB0;
    default:
        return 0;
    }
}

static inline uint8_t fold_bit(uint8_t c) { return (c >= 'a' && c <= 'z') ? 0x20 : 0; }

/* The masks of the 64 bytes at p, byte by byte (any CPU). `nd` may be NULL: no needle mask. */
static inline Masks masks_scalar(const uint8_t *p, const uint8_t *nd, size_t m)
{
    Masks k = {0, 0, 0};
    for (unsigned j = 0; j < 64; j++) {
        uint8_t c = p[j];
        k.newline |= (uint64_t)(c == '\n') << j;
        k.rare |= (uint64_t)(c == '#' || c == 0xE2 || c == 0xC4) << j;
        if (nd != NULL)
            k.needle |= (uint64_t)((c | fold_bit(nd[0])) == nd[0] &&
                                   (p[j + m - 1] | fold_bit(nd[m - 1])) == nd[m - 1])
                        << j;
    }
    return k;
}

#ifdef ESCUDO_X86
static inline uint64_t movemask16(__m128i a, __m128i b, __m128i c, __m128i d)
{
    return (uint64_t)(uint16_t)_mm_movemask_epi8(a) |
           (uint64_t)(uint16_t)_mm_movemask_epi8(b) << 16 |
           (uint64_t)(uint16_t)_mm_movemask_epi8(c) << 32 |
           (uint64_t)(uint16_t)_mm_movemask_epi8(d) << 48;
}

static inline __m128i rare16(__m128i x)
{
    return _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('#')),
                        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8((char)0xE2)),
                                     _mm_cmpeq_epi8(x, _mm_set1_epi8((char)0xC4))));
}

static inline __m128i needle16(const uint8_t *p, const uint8_t *nd, size_t m)
{
    __m128i a = _mm_or_si128(_mm_loadu_si128((const __m128i *)p), _mm_set1_epi8((char)fold_bit(nd[0])));
    __m128i b = _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + m - 1)),
                             _mm_set1_epi8((char)fold_bit(nd[m - 1])));
    return _mm_and_si128(_mm_cmpeq_epi8(a, _mm_set1_epi8((char)nd[0])),
                         _mm_cmpeq_epi8(b, _mm_set1_epi8((char)nd[m - 1])));
}

/* SSE2 is part of x86-64: always there. */
static inline Masks masks_sse2(const uint8_t *p, const uint8_t *nd, size_t m)
{
    Masks k;
    __m128i x[4];
    for (int j = 0; j < 4; j++)
        x[j] = _mm_loadu_si128((const __m128i *)(p + 16 * j));
    const __m128i nl = _mm_set1_epi8('\n');
    k.newline = movemask16(_mm_cmpeq_epi8(x[0], nl), _mm_cmpeq_epi8(x[1], nl),
                           _mm_cmpeq_epi8(x[2], nl), _mm_cmpeq_epi8(x[3], nl));
    k.rare = movemask16(rare16(x[0]), rare16(x[1]), rare16(x[2]), rare16(x[3]));
    k.needle = nd == NULL ? 0
                          : movemask16(needle16(p, nd, m), needle16(p + 16, nd, m),
                                       needle16(p + 32, nd, m), needle16(p + 48, nd, m));
    return k;
}

__attribute__((target("avx2"))) static inline uint64_t movemask32(__m256i a, __m256i b)
{
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(a) |
           (uint64_t)(uint32_t)_mm256_movemask_epi8(b) << 32;
}

__attribute__((target("avx2"))) static inline __m256i rare32(__m256i x)
{
    return _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('#')),
                           _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8((char)0xE2)),
                                           _mm256_cmpeq_epi8(x, _mm256_set1_epi8((char)0xC4))));
}

__attribute__((target("avx2"))) static inline __m256i needle32(const uint8_t *p, const uint8_t *nd,
                                                               size_t m)
{
    __m256i a = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)p),
                                _mm256_set1_epi8((char)fold_bit(nd[0])));
    __m256i b = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(p + m - 1)),
                                _mm256_set1_epi8((char)fold_bit(nd[m - 1])));
    return _mm256_and_si256(_mm256_cmpeq_epi8(a, _mm256_set1_epi8((char)nd[0])),
                            _mm256_cmpeq_epi8(b, _mm256_set1_epi8((char)nd[m - 1])));
}

__attribute__((target("avx2"))) static inline Masks masks_avx2(const uint8_t *p, const uint8_t *nd,
                                                               size_t m)
{
    Masks k;
    __m256i a = _mm256_loadu_si256((const __m256i *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(p + 32));
    const __m256i nl = _mm256_set1_epi8('\n');
    k.newline = movemask32(_mm256_cmpeq_epi8(a, nl), _mm256_cmpeq_epi8(b, nl));
    k.rare = movemask32(rare32(a), rare32(b));
    k.needle = nd == NULL ? 0 : movemask32(needle32(p, nd, m), needle32(p + 32, nd, m));
    return k;
}
#endif

enum { BYTES = 0, SSE2 = 1, AVX2 = 2 };

static int add_line(Lines *lines, size_t start)
{
    if (lines->count == lines->cap) {
        size_t cap = lines->cap * 2;
        size_t *starts = realloc(lines->starts, cap * sizeof *starts);
        if (starts != NULL)
            lines->starts = starts;
        uint8_t *flags = realloc(lines->flags, cap);
        if (flags != NULL)
            lines->flags = flags;
        if (starts == NULL || flags == NULL) {
            lines->failed = 1;
            return 0;
        }
        lines->cap = cap;
    }
    lines->flags[lines->count] = 0;
    lines->starts[lines->count++] = start;
    return 1;
}

/* The line holding byte `off`: the last start at or before it, from `from` on. */
static inline size_t line_at(const Lines *lines, size_t from, size_t off)
{
    while (from + 1 < lines->count && lines->starts[from + 1] <= off)
        from++;
    return from;
}

/* One pass over s[0:n]. With `record`, the first pass: add every line start to `lines` and mark
 * the lines holding an always-pass sequence. Always: mark the lines holding the needle nd[0:m]
 * (lowered; nd NULL for none). `how` picks the block comparison. Inlined into one copy per
 * comparison, so each copy has its own compiled loop. */
static inline __attribute__((always_inline)) void pass(const uint8_t *s, size_t n,
                                                      const uint8_t *nd, size_t m, int record,
                                                      Lines *lines, int how)
{
    size_t line = 0; /* the line holding the current block's first byte */
    size_t i = 0;
    if (nd != NULL && m > n)
        nd = NULL;
    if (!record && nd == NULL)
        return;
    size_t reach = nd != NULL ? m - 1 : 0; /* the needle mask reads this far past a block */
    for (; i + 64 + reach <= n && !lines->failed; i += 64) {
        Masks k;
#ifdef ESCUDO_X86
        if (how == AVX2)
            k = masks_avx2(s + i, nd, m);
        else if (how == SSE2)
            k = masks_sse2(s + i, nd, m);
        else
#endif
            k = masks_scalar(s + i, nd, m);
        if (!record)
            k.newline = k.rare = 0;
        if (!(k.newline | k.rare | k.needle))
            continue;
        /* hits before the block's first newline belong to `line`; record the newlines first */
        uint64_t hits = k.rare | k.needle;
        for (uint64_t nl = k.newline; nl; nl &= nl - 1) {
            if (!add_line(lines, i + (size_t)__builtin_ctzll(nl) + 1))
                return;
        }
        for (; hits; hits &= hits - 1) {
            unsigned bit = (unsigned)__builtin_ctzll(hits);
            size_t at = i + bit;
            size_t of = record ? line + (size_t)__builtin_popcountll(k.newline & ((1ULL << bit) - 1))
                               : (line = line_at(lines, line, at));
            if (((k.rare >> bit) & 1) && always_pass_at(s, n, at))
                lines->flags[of] |= F_SPECIAL;
            if (((k.needle >> bit) & 1) && matches_at(s + at, nd, m))
                lines->flags[of] |= F_SPECIAL;
        }
        if (record)
            line += (size_t)__builtin_popcountll(k.newline);
    }
    for (; i < n && !lines->failed; i++) { /* the tail, byte by byte */
        if (!record)
            line = line_at(lines, line, i);
        if (record && always_pass_at(s, n, i))
            lines->flags[line] |= F_SPECIAL;
        if (nd != NULL && i + m <= n && matches_at(s + i, nd, m))
            lines->flags[line] |= F_SPECIAL;
        if (record && s[i] == '\n') {
            if (!add_line(lines, i + 1))
                return;
            line++;
        }
    }
}

static void pass_bytes(const uint8_t *s, size_t n, const uint8_t *nd, size_t m, int record,
                       Lines *lines)
{
    pass(s, n, nd, m, record, lines, BYTES);
}

#ifdef ESCUDO_X86
static void pass_sse2(const uint8_t *s, size_t n, const uint8_t *nd, size_t m, int record,
                      Lines *lines)
{
    pass(s, n, nd, m, record, lines, SSE2);
}

__attribute__((target("avx2"))) static void pass_avx2(const uint8_t *s, size_t n,
                                                      const uint8_t *nd, size_t m, int record,
                                                      Lines *lines)
{
    pass(s, n, nd, m, record, lines, AVX2);
}
#endif

typedef void (*PassFn)(const uint8_t *, size_t, const uint8_t *, size_t, int, Lines *);
static PassFn run_pass = pass_bytes;
static const char *pass_name = "bytes";

static const uint8_t *find_bytes(const uint8_t *h, size_t n, const char *nd, size_t m)
{
    if (m > n)
        return NULL;
    const uint8_t *end = h + n - m + 1;
    while (h < end) {
        const uint8_t *p = memchr(h, (unsigned char)nd[0], (size_t)(end - h));
        if (p == NULL)
            return NULL;
        if (memcmp(p, nd, m) == 0)
            return p;
        h = p + 1;
    }
    return NULL;
}

static int ends_with(const uint8_t *s, size_t len, const char *suffix, size_t m)
{
    return len >= m && memcmp(s + len - m, suffix, m) == 0;
}

/* Each line's shape: the F_EVENT, F_ENDS, F_ODD, F_BLANK bits, and F_SPECIAL for the unusual. */
static void classify(const uint8_t *s, Lines *lines, size_t nlines)
{
    for (size_t li = 0; li < nlines; li++) {
        const uint8_t *line = s + lines->starts[li];
        size_t len = lines->starts[li + 1] - lines->starts[li];
        uint8_t f = 0;
        if (find_bytes(line, len, "<Event>", 7))
            f |= F_EVENT;
        if (ends_with(line, len, "</Event>\n", 9) || ends_with(line, len, "</Event>\r\n", 10))
            f |= F_ENDS;
        switch (line[0]) {
        case ' ': case '\t': case '\r': case '\x0b': case '\x0c': case '{':
            f |= F_ODD;
            break;
        case '\n':
            f |= F_BLANK;
            break;
        default:
            break;
        }
        if (((f & F_EVENT) && !(f & F_ENDS)) || ((f & F_ODD) && !(f & F_EVENT)))
            f |= F_SPECIAL;
        lines->flags[li] |= f;
    }
}

/* Sort the lines of s[0:n] for the needles nds[0:k] (the GIL may be released): fills `lines`
 * (starts and flags) and the counts. Returns 0 when out of memory. */
static int sort_lines(const uint8_t *s, size_t n, const uint8_t *const *nds, const size_t *lens,
                      size_t k, Lines *lines, size_t *nlines, size_t *filtered, size_t *skipped,
                      size_t *candidates, size_t *nruns)
{
    lines->count = 0;
    lines->failed = 0;
    *nlines = *filtered = *skipped = *candidates = *nruns = 0;
    add_line(lines, 0);
    run_pass(s, n, k ? nds[0] : NULL, k ? lens[0] : 0, 1, lines);
    if (!lines->failed && n > 0 && s[n - 1] != '\n')
        add_line(lines, n); /* the end of a last line without a newline */
    if (lines->failed)
        return 0;
    *nlines = lines->count - 1;
    for (size_t j = 1; j < k; j++)
        run_pass(s, n, nds[j], lens[j], 0, lines);
    classify(s, lines, *nlines);
    for (size_t li = 0; li < *nlines; li++) {
        uint8_t f = lines->flags[li];
        if (f & F_SPECIAL) {
            (*candidates)++;
            *nruns += li == 0 || !(lines->flags[li - 1] & F_SPECIAL);
        } else if (f & F_EVENT) {
            *filtered += (f & F_ENDS) != 0;
        } else if (!(f & (F_ODD | F_BLANK))) {
            (*skipped)++;
        }
    }
    return !lines->failed;
}

/* The end (exclusive) of the run of candidate lines starting at line `li`. */
static size_t run_end(const Lines *lines, size_t nlines, size_t li)
{
    size_t stop = li + 1;
    while (stop < nlines && (lines->flags[stop] & F_SPECIAL))
        stop++;
    return stop;
}

/* Whether line `li` starts a run of candidate lines. */
static inline int run_starts(const Lines *lines, size_t li)
{
    return (lines->flags[li] & F_SPECIAL) && !(li > 0 && (lines->flags[li - 1] & F_SPECIAL));
}

/* The needles of a scan as (bytes, length), checked (non-empty bytes), read with the GIL held;
 * NULL with an exception set. The arrays are freed by the caller. */
static int read_needles(PyObject *needles, const char *fn, const uint8_t ***nds, size_t **lens)
{
    Py_ssize_t k = PyTuple_GET_SIZE(needles);
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *nd = PyTuple_GET_ITEM(needles, j);
        if (!PyBytes_Check(nd) || PyBytes_GET_SIZE(nd) == 0) {
            PyErr_Format(PyExc_TypeError, "%s: needles must be non-empty bytes", fn);
            return 0;
        }
    }
    *nds = malloc(((size_t)k + 1) * sizeof **nds);
    *lens = malloc(((size_t)k + 1) * sizeof **lens);
    if (*nds == NULL || *lens == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *nd = PyTuple_GET_ITEM(needles, j);
        (*nds)[j] = (const uint8_t *)PyBytes_AS_STRING(nd);
        (*lens)[j] = (size_t)PyBytes_GET_SIZE(nd);
    }
    return 1;
}

static PyObject *scan(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    PyObject *needles;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*O!:scan", &buf, &PyTuple_Type, &needles))
        return NULL;
    const uint8_t **nds = NULL;
    size_t *lens = NULL;
    size_t k = (size_t)PyTuple_GET_SIZE(needles);
    const uint8_t *s = buf.buf;
    size_t n = (size_t)buf.len;
    Lines lines = {NULL, NULL, 0, n / 512 + 16, 0};
    PyObject *runs = NULL;
    size_t nlines = 0, filtered = 0, skipped = 0, candidates = 0, nruns = 0;
    int ok = 1;
    if (!read_needles(needles, "scan", &nds, &lens))
        goto done;
    lines.starts = malloc(lines.cap * sizeof *lines.starts);
    lines.flags = malloc(lines.cap);
    if (lines.starts == NULL || lines.flags == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    ok = sort_lines(s, n, nds, lens, k, &lines, &nlines, &filtered, &skipped, &candidates, &nruns);
    Py_END_ALLOW_THREADS
    if (!ok) {
        PyErr_NoMemory();
        goto done;
    }
    runs = PyList_New((Py_ssize_t)nruns);
    if (runs == NULL)
        goto done;
    size_t r = 0;
    for (size_t li = 0; li < nlines; li++) {
        if (!run_starts(&lines, li))
            continue;
        size_t stop = run_end(&lines, nlines, li);
        PyObject *run = Py_BuildValue("(nnn)", (Py_ssize_t)li, (Py_ssize_t)lines.starts[li],
                                      (Py_ssize_t)lines.starts[stop]);
        if (run == NULL) {
            Py_CLEAR(runs);
            goto done;
        }
        PyList_SET_ITEM(runs, (Py_ssize_t)r++, run);
    }
done:
    free(lines.starts);
    free(lines.flags);
    free(nds);
    free(lens);
    PyBuffer_Release(&buf);
    if (runs == NULL)
        return NULL;
    return Py_BuildValue("(nnnnN)", (Py_ssize_t)nlines, (Py_ssize_t)filtered,
                         (Py_ssize_t)skipped, (Py_ssize_t)candidates, runs);
}

static int plain_bytes(const unsigned char *p, Py_ssize_t n);

/* What scan_range hands back to Python, in file order: bytes copied into `arena`. */
enum { ITEM_RUN = 0, ITEM_WHOLE = 1, ITEM_BAD_TEXT = 2 };

typedef struct {
    int kind;
    size_t line;   /* ITEM_RUN: the 0-based index in the range of its first line; else the
                      number of lines of the range before the block */
    size_t offset; /* in the arena */
    size_t length;
} Item;

typedef struct {
    Item *items;
    size_t count, cap;
    uint8_t *arena;
    size_t used, size;
    int failed;
} Out;

static void put(Out *out, int kind, size_t line, const uint8_t *data, size_t length)
{
    if (out->failed)
        return;
    if (out->count == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        Item *items = realloc(out->items, cap * sizeof *items);
        if (items == NULL) {
            out->failed = 1;
            return;
        }
        out->items = items;
        out->cap = cap;
    }
    if (out->used + length > out->size) {
        size_t size = out->size ? out->size : 1 << 16;
        while (size < out->used + length)
            size *= 2;
        uint8_t *arena = realloc(out->arena, size);
        if (arena == NULL) {
            out->failed = 1;
            return;
        }
        out->arena = arena;
        out->size = size;
    }
    memcpy(out->arena + out->used, data, length);
    out->items[out->count++] = (Item){kind, line, out->used, length};
    out->used += length;
}

/* scan_range(fd, offset, length, needles, block_bytes, max_share, max_out)
 *   -> (consumed, lines, filtered, skipped, items)
 *
 * SysmonPlan.read_range's loop over a file range in C, without the GIL: the range is read with
 * pread in newline-aligned blocks of about block_bytes through one buffer (framing.iter_blocks:
 * a line longer than the buffer doubles it), each block is scanned as scan() does and checked
 * with plain_text(). What needs Python comes back as items (kind, line, bytes), in file order:
 * ITEM_RUN, a run of candidate lines; ITEM_WHOLE, a block with more than max_share of its lines
 * candidates (prefilter._limit), for the exact path; ITEM_BAD_TEXT, a block that is not plain
 * text, for framing.note_bad_text. lines/filtered/skipped count the blocks (whole ones' lines
 * included; their filtered and skipped lines are Python's to count). Reading stops after the
 * block where the items pass max_out bytes: `consumed` says how far it got (Python calls again
 * for the rest). An OSError is raised when the file cannot be read. */
static PyObject *scan_range(PyObject *self, PyObject *args)
{
    int fd;
    Py_ssize_t offset_arg, length_arg, block_arg, max_out_arg;
    double max_share;
    PyObject *needles;
    (void)self;
    if (!PyArg_ParseTuple(args, "innO!ndn:scan_range", &fd, &offset_arg, &length_arg,
                          &PyTuple_Type, &needles, &block_arg, &max_share, &max_out_arg))
        return NULL;
    if (offset_arg < 0 || length_arg < 0 || max_out_arg < 0) {
        PyErr_SetString(PyExc_ValueError, "scan_range: negative offset, length or max_out");
        return NULL;
    }
    const uint8_t **nds = NULL;
    size_t *lens = NULL;
    size_t k = (size_t)PyTuple_GET_SIZE(needles);
    if (!read_needles(needles, "scan_range", &nds, &lens)) {
        free(nds);
        free(lens);
        return NULL;
    }
    size_t length = (size_t)length_arg, left = length, max_out = (size_t)max_out_arg;
    off_t pos = (off_t)offset_arg;
    size_t bufsize = (size_t)(block_arg < 1 ? 1 : block_arg);
    if (bufsize > length)
        bufsize = length ? length : 1;
    uint8_t *buf = malloc(bufsize);
    Lines lines = {NULL, NULL, 0, bufsize / 512 + 16, 0};
    lines.starts = malloc(lines.cap * sizeof *lines.starts);
    lines.flags = malloc(lines.cap);
    Out out = {NULL, 0, 0, NULL, 0, 0, 0};
    size_t consumed = 0, total_lines = 0, total_filtered = 0, total_skipped = 0;
    int err = 0, nomem = buf == NULL || lines.starts == NULL || lines.flags == NULL;
    PyObject *items = NULL;
    Py_BEGIN_ALLOW_THREADS
    size_t carry = 0; /* buf[:carry] is the start of a line not yet scanned */
    while (!nomem && !err) {
        if (carry == bufsize) { /* no newline in a whole buffer: one twice as long */
            uint8_t *grown = realloc(buf, bufsize * 2);
            if (grown == NULL) {
                nomem = 1;
                break;
            }
            buf = grown;
            bufsize *= 2;
        }
        size_t want = bufsize - carry < left ? bufsize - carry : left;
        ssize_t got = 0;
        if (want) {
            do
                got = pread(fd, buf + carry, want, pos);
            while (got < 0 && errno == EINTR);
            if (got < 0) {
                err = errno;
                break;
            }
        }
        pos += got;
        left -= (size_t)got;
        size_t end = carry + (size_t)got, cut;
        if (got == 0) { /* the range (or the file) ends */
            if (end == 0)
                break;
            cut = end;
        } else {
            cut = end;
            while (cut > 0 && buf[cut - 1] != '\n')
                cut--;
            if (cut == 0) {
                carry = end;
                continue;
            }
        }
        /* the block buf[:cut] */
        size_t nlines, filtered, skipped, candidates, nruns;
        if (!sort_lines(buf, cut, nds, lens, k, &lines, &nlines, &filtered, &skipped,
                        &candidates, &nruns)) {
            nomem = 1;
            break;
        }
        double limit = nlines > 64 ? max_share * (double)nlines : (double)nlines;
        if ((double)candidates > limit) {
            put(&out, ITEM_WHOLE, total_lines, buf, cut);
        } else {
            for (size_t li = 0; li < nlines; li++) {
                if (!run_starts(&lines, li))
                    continue;
                size_t stop = run_end(&lines, nlines, li);
                put(&out, ITEM_RUN, total_lines + li, buf + lines.starts[li],
                    lines.starts[stop] - lines.starts[li]);
            }
            total_filtered += filtered;
            total_skipped += skipped;
        }
        if (!plain_bytes(buf, (Py_ssize_t)cut))
            put(&out, ITEM_BAD_TEXT, total_lines, buf, cut);
        if (out.failed) {
            nomem = 1;
            break;
        }
        total_lines += nlines;
        consumed += cut;
        if (got == 0)
            break;
        memmove(buf, buf + cut, end - cut);
        carry = end - cut;
        if (out.used >= max_out)
            break; /* enough for Python to work on: it calls again for the rest */
    }
    Py_END_ALLOW_THREADS
    if (err) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
    } else if (nomem) {
        PyErr_NoMemory();
    } else {
        items = PyList_New((Py_ssize_t)out.count);
        for (size_t j = 0; items != NULL && j < out.count; j++) {
            Item *it = &out.items[j];
            PyObject *item = Py_BuildValue("(iny#)", it->kind, (Py_ssize_t)it->line,
                                           (const char *)out.arena + it->offset,
                                           (Py_ssize_t)it->length);
            if (item == NULL)
                Py_CLEAR(items);
            else
                PyList_SET_ITEM(items, (Py_ssize_t)j, item);
        }
    }
    free(buf);
    free(lines.starts);
    free(lines.flags);
    free(out.items);
    free(out.arena);
    free(nds);
    free(lens);
    if (items == NULL)
        return NULL;
    return Py_BuildValue("(nnnnN)", (Py_ssize_t)consumed, (Py_ssize_t)total_lines,
                         (Py_ssize_t)total_filtered, (Py_ssize_t)total_skipped, items);
}

static PyObject *use(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL)
        return NULL;
    if (strcmp(name, "bytes") == 0) {
        run_pass = pass_bytes;
        pass_name = "bytes";
#ifdef ESCUDO_X86
    } else if (strcmp(name, "sse2") == 0) {
        run_pass = pass_sse2;
        pass_name = "sse2";
    } else if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2")) {
        run_pass = pass_avx2;
        pass_name = "avx2";
#endif
    } else {
        PyErr_Format(PyExc_ValueError, "use: %s is not available here", name);
        return NULL;
    }
    return PyUnicode_FromString(pass_name);
}

static PyObject *used(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(pass_name);
}

/* plain_text(data) -> True when no byte is NUL or >= 0x80 (ASCII text): the fast test of
   framing.first_bad_text. Branch-free over 256-byte steps (the compiler vectorises the inner
   loop at -O3), eight bytes a word: a zero byte is found with the exact test
   (w - 0x01..) & ~w & 0x80.. (nonzero iff some byte of w is zero). */
static int plain_bytes(const unsigned char *p, Py_ssize_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    Py_ssize_t i = 0;
    for (; i + 256 <= n; i += 256) {
        uint64_t high = 0, zero = 0;
        for (int k = 0; k < 256; k += 8) {
            uint64_t w;
            memcpy(&w, p + i + k, 8);
            high |= w;
            zero |= (w - ones) & ~w;
        }
        if ((high | zero) & highs)
            return 0;
    }
    for (; i < n; i++)
        if (p[i] == 0 || p[i] >= 0x80)
            return 0;
    return 1;
}

static PyObject *plain_text(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    int plain;
    Py_BEGIN_ALLOW_THREADS
    plain = plain_bytes((const unsigned char *)buf.buf, buf.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return PyBool_FromLong(plain);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(data, needles) -> (lines, filtered, skipped, candidates, runs): see prefilter.py."},
    {"scan_range", scan_range, METH_VARARGS,
     "scan_range(fd, offset, length, needles, block_bytes, max_share, max_out) -> (consumed, "
     "lines, filtered, skipped, items): a file range scanned in blocks (see sysmon.py)."},
    {"use", use, METH_O,
     "use(name): compare blocks with 'avx2', 'sse2' or 'bytes' (tests); returns the name."},
    {"used", used, METH_NOARGS, "used() -> the block comparison in use."},
    {"plain_text", plain_text, METH_O,
     "plain_text(data) -> True when no byte is NUL or >= 0x80 (see framing.first_bad_text)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "escudo.sources._scan",
    "The raw-text prefilter's chunk scan in C (see escudo.sources.prefilter).", -1, methods,
};

PyMODINIT_FUNC PyInit__scan(void)
{
#ifdef ESCUDO_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        run_pass = pass_avx2;
        pass_name = "avx2";
    } else {
        run_pass = pass_sse2;
        pass_name = "sse2";
    }
#endif
    return PyModule_Create(&module);
}
