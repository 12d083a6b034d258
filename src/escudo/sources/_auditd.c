/* escudo.sources._auditd: the auditd hunt's chunk index in C (an optional speed-up).
 *
 * index(data, needles, edge_lines) reads a chunk of bare audit records (audit.log as auditd
 * writes it: every line `[node=<host> ]type=<TYPE> msg=audit(<s>.<ms>:<serial>): <fields>`,
 * ASCII, no CR, no field cut) and returns None for any other chunk (the caller's Python paths
 * read it). Records sharing node and audit(...) are one event (a hash table over the chunk); an
 * event is a *candidate* when one of its lines holds a needle (ASCII case-insensitive), a needle
 * hex-encoded (upper-case hex digits, any letter case of the needle), the hex of U+212A or
 * U+0130 in UTF-8 (lower-cased to ASCII by Python), or "]=" (an argument in pieces). Each other
 * event is classified as the general path would build it: an exec event (its image, for the
 * parents of later events), or dropped (no needle: the raw filter drops it).
 *
 * Returns (lines, dropped, groups, slim):
 * lines    the chunk's lines;
 * dropped  events neither candidate nor exec, not near an edge;
 * groups   [(ordinal, edge, first, last, kind, spans, slim, piece)] for every candidate event, every
 *          event whose exec image needs Python (hex exe, no SYSCALL, quoted spaces: kind 0) and
 *          every event with a line within edge_lines of either end (edge bits 1 head, 2 tail;
 *          kind 0 full, 1 exec, 2 dropped; slim (time, node, serial, pid, exe) when kind 1);
 *          first/last are 1-based line numbers, spans (start, end) byte offsets of its lines;
 *          piece (key "|node|time|serial", its record lines) for an edge event, else None;
 * slim     the other exec events as Arrow string columns: (count, ordinals int64,
 *          node validity bitmap, then offsets int32 and data for time, node, serial, pid, exe).
 * auditd_hunt.py is the specification (index_python); tests hold both equal.
 *
 * index_mapped(fd, offset, length, needles, edge_lines) on Linux: index() of a file's range read
 * through a mapping (the kernel's copy into a buffer was ~10% of the index's time), the listed
 * events' lines copied out before the mapping goes; a file cut shorter meanwhile raises SIGBUS
 * on the next page past its end, which a handler turns into a jump back out (False: the caller
 * reads the range again).
 *
 * Processes(cap), before index(): the assembler's parent table (auditd_events.Assembler
 * in Python is its specification).
 *
 * The byte scans test 32 bytes at a time where the CPU has AVX2 (set_avx2 switches it, for
 * tests), else 16 (SSE2), else one; each thread keeps index()'s arrays between calls (Scratch).
 * index() holds no GIL but to make the Python objects of the events it lists (steps 1-4 scan,
 * group, classify and write the exec images' columns; step 5 lists the others).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define AUDITD_SSE2 1
/* AVX2 versions of the byte scans, chosen at import when the CPU has it (HAVE_AVX2): the same
 * tests on 32 bytes at a time. */
#define AUDITD_AVX2 1
static int HAVE_AVX2;
#endif
#include <pthread.h>
#if defined(__linux__)
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef MAP_POPULATE
#define AUDITD_MAPPED 1 /* index_mapped() */
#endif
#endif

#define L_SQ 1u   /* holds ' */
#define L_GS 2u   /* holds 0x1D (ENRICHED) */
#define L_CAND 4u /* holds a needle (or what may hide one) */
#define T_OTHER 0
#define T_SYSCALL 1
#define T_EXECVE 2

#define G_CAND 1u
#define G_EXECVE 2u
#define G_LIST 4u /* index(): listed for Python (a candidate, an edge, one Python builds) */

enum { K_FULL = 0, K_SLIM = 1, K_DROP = 2 };

typedef struct {
    Py_ssize_t start, eol, body;
    Py_ssize_t node_s, node_e, par_s, par_e, sec_e, frac_e;
    int32_t next, group;
    uint8_t type, flags;
} Line;

typedef struct {
    int32_t first, last, syscall;
    uint32_t hash; /* of its key (key_hash's low bits): where the table holds it */
    uint8_t flags;
} Group;

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} Buf;

/* After a block is reallocated and its new address stored: the stores are made before any later
 * read of the scanned bytes (a compiler barrier, no instruction). index_mapped() may jump out of
 * the scan at such a read (SIGBUS), and then frees or keeps the blocks by the stored addresses. */
#define ARRAY_MOVED() __atomic_signal_fence(__ATOMIC_SEQ_CST)

static void buf_add(Buf *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
        ARRAY_MOVED();
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

typedef struct {
    Buf offsets, data;
} Column;

static void col_add(Column *c, const char *p, size_t n)
{
    if (c->offsets.len == 0) {
        int32_t zero = 0;
        buf_add(&c->offsets, &zero, 4);
    }
    buf_add(&c->data, p, n);
    int32_t end = (int32_t)c->data.len;
    buf_add(&c->offsets, &end, 4);
}

/* Byte classes, one load each (classes_init): C_SPACE Python's \s over ASCII text, C_DIGIT
 * 0-9, C_HEX 0-9 A-F. */
enum { C_SPACE = 1, C_DIGIT = 2, C_HEX = 4 };
static uint8_t CLASSES[256];

static void classes_init(void)
{
    for (int c = 0; c < 256; c++) {
        uint8_t k = 0;
        if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f))
            k |= C_SPACE;
        if (c >= '0' && c <= '9')
            k |= C_DIGIT | C_HEX;
        if (c >= 'A' && c <= 'F')
            k |= C_HEX;
        CLASSES[c] = k;
    }
}

static inline int is_space(uint8_t c) { return CLASSES[c] & C_SPACE; }
static inline int is_digit(uint8_t c) { return CLASSES[c] & C_DIGIT; }
static inline int hex_upper(uint8_t c) { return CLASSES[c] & C_HEX; }
static inline int hex_value(uint8_t c) { return is_digit(c) ? c - '0' : c - 'A' + 10; }
static inline uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c; }

/* The end of the line at pos (its '\n' or n), how many '"' it holds, and its odd bytes (',
 * 0x1D, CR, NUL, >= 0x80) as bits: 1, 2, 4 (CR, NUL or high byte: the chunk is not for this path,
 * which therefore never holds what framing.note_bad_text reports). */
#ifdef AUDITD_AVX2
/* scan_line's blocks of 32 bytes from pos: the end of the line when a block holds it (*found
 * set), else where the blocks stop (the rest is scan_line's); *q and *r as scan_line's. */
__attribute__((target("avx2,popcnt"))) static Py_ssize_t
scan_blocks_avx2(const uint8_t *s, Py_ssize_t p, Py_ssize_t n, unsigned *q, unsigned *r, int *found)
{
    const __m256i nl = _mm256_set1_epi8('\n'), dq = _mm256_set1_epi8('"'),
                  sq = _mm256_set1_epi8('\''), gs = _mm256_set1_epi8(0x1d),
                  cr = _mm256_set1_epi8('\r'), nul = _mm256_setzero_si256();
    while (p + 32 <= n) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(s + p));
        uint32_t m_nl = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, nl));
        uint32_t m_dq = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, dq));
        uint32_t m_odd = (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(x, sq), _mm256_cmpeq_epi8(x, gs)),
            _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x, cr), _mm256_cmpeq_epi8(x, nul)),
                            x)));
        uint32_t keep = 0xffffffffu;
        if (m_nl)
            keep = (1u << __builtin_ctz(m_nl)) - 1u;
        *q += (unsigned)__builtin_popcount(m_dq & keep);
        for (uint32_t m = m_odd & keep; m; m &= m - 1u) {
            uint8_t c = s[p + __builtin_ctz(m)];
            *r |= c == '\'' ? 1u : c == 0x1d ? 2u : 4u;
        }
        if (m_nl) {
            *found = 1;
            return p + __builtin_ctz(m_nl);
        }
        p += 32;
    }
    *found = 0;
    return p;
}
#endif

static Py_ssize_t scan_line(const uint8_t *s, Py_ssize_t pos, Py_ssize_t n, unsigned *quotes,
                            unsigned *odd)
{
    unsigned q = 0, r = 0;
    Py_ssize_t p = pos;
#ifdef AUDITD_AVX2
    if (HAVE_AVX2) {
        int found;
        p = scan_blocks_avx2(s, p, n, &q, &r, &found);
        if (found) {
            *quotes = q;
            *odd = r;
            return p;
        }
    }
#endif
#ifdef AUDITD_SSE2
    const __m128i nl = _mm_set1_epi8('\n'), dq = _mm_set1_epi8('"'), sq = _mm_set1_epi8('\''),
                  gs = _mm_set1_epi8(0x1d), cr = _mm_set1_epi8('\r'), nul = _mm_setzero_si128();
    while (p + 16 <= n) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + p));
        unsigned m_nl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, nl));
        unsigned m_dq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, dq));
        unsigned m_odd = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(x, sq), _mm_cmpeq_epi8(x, gs)),
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, nul)), x)));
        unsigned keep = 0xffffu;
        if (m_nl)
            keep = (1u << __builtin_ctz(m_nl)) - 1u;
        for (unsigned m = m_dq & keep; m; m &= m - 1u)
            q++; /* few quotes a block (no popcount instruction without -mpopcnt) */
        if (m_odd & keep) {
            for (unsigned j = 0; j < 16; j++) {
                if (!((m_odd & keep) >> j & 1u))
                    continue;
                uint8_t c = s[p + j];
                r |= c == '\'' ? 1u : c == 0x1d ? 2u : 4u;
            }
        }
        if (m_nl) {
            *quotes = q;
            *odd = r;
            return p + __builtin_ctz(m_nl);
        }
        p += 16;
    }
#endif
    for (; p < n && s[p] != '\n'; p++) {
        uint8_t c = s[p];
        q += c == '"';
        if (c == '\'')
            r |= 1u;
        else if (c == 0x1d)
            r |= 2u;
        else if (c == '\r' || c == 0 || c >= 0x80)
            r |= 4u;
    }
    *quotes = q;
    *odd = r;
    return p;
}

static const char *const HEX_FIELDS[] = {
    "exe", "comm", "cwd", "name", "proctitle", "cmd", "data", "path", "key", "old-chardev",
    "new-chardev", "root_dir", "acct", "grp", "new_group", "old_group", "op_name", NULL};

/* auditd.HEX_FIELDS or a\d+(\[\d+\])? */
static int hex_field(const uint8_t *k, Py_ssize_t n)
{
    for (int i = 0; HEX_FIELDS[i]; i++)
        if (HEX_FIELDS[i][0] == k[0] && (Py_ssize_t)strlen(HEX_FIELDS[i]) == n &&
            memcmp(HEX_FIELDS[i], k, (size_t)n) == 0)
            return 1;
    if (n < 2 || k[0] != 'a' || !is_digit(k[1]))
        return 0;
    Py_ssize_t i = 1;
    while (i < n && is_digit(k[i]))
        i++;
    if (i == n)
        return 1;
    if (k[i] != '[' || k[n - 1] != ']' || i + 2 >= n)
        return 0;
    for (Py_ssize_t j = i + 1; j < n - 1; j++)
        if (!is_digit(k[j]))
            return 0;
    return 1;
}

/* auditd.check_fields: 1 when the fields were cut (malformed). `quotes` is the count of '"' in
 * the body when it holds no ' and no 0x1D (else counted here). */
static int malformed(const uint8_t *s, Py_ssize_t b, Py_ssize_t e, unsigned quotes,
                     unsigned odd)
{
    Py_ssize_t main_e = e;
    if (odd & 2u) {
        const uint8_t *g = memchr(s + b, 0x1d, (size_t)(e - b));
        main_e = g - s;
    }
    if (odd & 3u) {
        unsigned q = 0;
        int open_single = 0;
        for (Py_ssize_t i = b; i < main_e; i++) {
            if (s[i] == '\'') {
                const uint8_t *close = memchr(s + i + 1, '\'', (size_t)(main_e - i - 1));
                if (close == NULL) {
                    open_single = 1;
                    break;
                }
                i = close - s;
            } else {
                q += s[i] == '"';
            }
        }
        if (q & 1u)
            return 1;
        if (open_single) {
            /* the rest after an unclosed ' is outside too: its quotes count */
            return 1;
        }
    } else if (quotes & 1u) {
        return 1;
    }
    /* The last word (after the last space) is key=value, the value after its first '=': cut when
     * the value is hex of odd length and the key a hex field. One walk back over the hex digits
     * that end the line finds such a value (what precedes it is '='), most lines stop early. */
    Py_ssize_t v = main_e;
#ifdef AUDITD_SSE2
    /* sixteen bytes at a time (a proctitle is often all hex): to the last byte not an upper-case
     * hex digit; the bytes are ASCII (the line scan sent any other line away) */
    const __m128i below0 = _mm_set1_epi8('0' - 1), above9 = _mm_set1_epi8('9' + 1),
                  belowA = _mm_set1_epi8('A' - 1), aboveF = _mm_set1_epi8('F' + 1);
    while (v - 16 >= b) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + v - 16));
        __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, below0), _mm_cmplt_epi8(x, above9));
        __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(x, belowA), _mm_cmplt_epi8(x, aboveF));
        unsigned other = ~(unsigned)_mm_movemask_epi8(_mm_or_si128(digit, letter)) & 0xffffu;
        if (other) {
            v = v - 16 + (31 - __builtin_clz(other)) + 1;
            break;
        }
        v -= 16;
    }
    if (v - 16 < b)
#endif
        while (v > b && hex_upper(s[v - 1]))
            v--;
    if (v == main_e || v <= b || s[v - 1] != '=' || ((main_e - v) & 1) == 0)
        return 0;
    Py_ssize_t k_e = v - 1, w = k_e;
    while (w > b && s[w - 1] != ' ')
        w--;
    if (memchr(s + w, '=', (size_t)(k_e - w)) != NULL)
        return 0; /* the value starts at an earlier '=', and holds this one: not hex */
    return k_e > w && hex_field(s + w, k_e - w);
}

/* Eight bytes at p as a little-endian word (any alignment). */
static inline uint64_t word_at(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

#define BYTES8(a, b, c, d, e, f, g, h)                                                            \
    ((uint64_t)(a) | (uint64_t)(b) << 8 | (uint64_t)(c) << 16 | (uint64_t)(d) << 24 |             \
     (uint64_t)(e) << 32 | (uint64_t)(f) << 40 | (uint64_t)(g) << 48 | (uint64_t)(h) << 56)
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The first of the eight bytes of w (ASCII) below 0x21, or 8; the first byte not an ASCII digit,
 * or 8 (bytes below 0x80: the line scan sent any other line away). */
static inline int first_low(uint64_t w)
{
    uint64_t m = (w - 0x21 * ONES) & ~w & HIGHS;
    return m ? __builtin_ctzll(m) >> 3 : 8;
}

static inline int first_nondigit(uint64_t w)
{
    uint64_t m = ((w + (0x7f - 0x39) * ONES) | (w - 0x30 * ONES)) & HIGHS;
    return m ? __builtin_ctzll(m) >> 3 : 8;
}

/* Where the digits at p end (one at least) when `sep` follows them before e, eight at a time
 * while the buffer (n bytes) holds eight more; -1 otherwise. */
static inline Py_ssize_t digits_to(const uint8_t *s, Py_ssize_t p, Py_ssize_t e, Py_ssize_t n,
                                   uint8_t sep)
{
    Py_ssize_t d = p;
    while (p + 8 <= n) {
        int k = first_nondigit(word_at(s + p));
        p += k;
        if (k < 8)
            break;
    }
    while (p < e && is_digit(s[p]))
        p++;
    return p == d || p >= e || s[p] != sep ? -1 : p;
}

/* The '"' in [from, to), eight bytes at a time. */
static inline unsigned count_quotes(const uint8_t *s, Py_ssize_t from, Py_ssize_t to)
{
    unsigned q = 0;
    Py_ssize_t i = from;
    for (; i + 8 <= to; i += 8) {
        uint64_t x = word_at(s + i) ^ ('"' * ONES); /* a zero byte where a quote was */
        uint64_t y = ((x & ~HIGHS) + ~HIGHS) | x;    /* each byte's high bit: not zero (exact) */
        q += (unsigned)__builtin_popcountll(~y & HIGHS);
    }
    for (; i < to; i++)
        q += s[i] == '"';
    return q;
}

/* Whether the line [p, e) starts with the k <= 8 bytes of `text`: as one word where the buffer
 * (n bytes) holds eight from p. */
static inline int starts_with(const uint8_t *s, Py_ssize_t p, Py_ssize_t e, Py_ssize_t n,
                              uint64_t text, const char *bytes, Py_ssize_t k)
{
    if (e - p < k)
        return 0;
    if (p + 8 <= n)
        return (word_at(s + p) & (~0ULL >> (64 - 8 * k))) == text;
    return memcmp(s + p, bytes, (size_t)k) == 0;
}

/* Parses the header of the line [p, e): 0 when it is not a bare record. Eight bytes at a time
 * where the buffer (n bytes, past the line's end or not) holds them, else one at a time. The
 * line's ends come as arguments: read back from *ln, just written, they cost a stalled load. */
static int header(const uint8_t *s, Py_ssize_t n, Line *ln, Py_ssize_t p, Py_ssize_t e)
{
    ln->node_s = ln->node_e = p;
    if (starts_with(s, p, e, n, BYTES8('n', 'o', 'd', 'e', '=', 0, 0, 0), "node=", 5)) {
        Py_ssize_t q = p + 5;
        while (q + 8 <= n) { /* past the bytes above 0x20 (no white space among them) */
            int k = first_low(word_at(s + q));
            q += k;
            if (k < 8)
                break;
        }
        while (q < e && !is_space(s[q])) /* (a control byte that is not white space) */
            q++;
        if (q == p + 5 || q >= e || s[q] != ' ')
            return 0;
        ln->node_s = p + 5;
        ln->node_e = q;
        p = q + 1;
    }
    if (!starts_with(s, p, e, n, BYTES8('t', 'y', 'p', 'e', '=', 0, 0, 0), "type=", 5))
        return 0;
    p += 5;
    Py_ssize_t t = p;
    while (p < e && ((s[p] >= 'A' && s[p] <= 'Z') || s[p] == '_'))
        p++;
    if (p == t)
        return 0;
    if (p - t == 7 && starts_with(s, t, e, n, BYTES8('S', 'Y', 'S', 'C', 'A', 'L', 'L', 0),
                                  "SYSCALL", 7))
        ln->type = T_SYSCALL;
    else if (p - t == 6 && starts_with(s, t, e, n, BYTES8('E', 'X', 'E', 'C', 'V', 'E', 0, 0),
                                       "EXECVE", 6))
        ln->type = T_EXECVE;
    else
        ln->type = T_OTHER;
    /* " msg=audit(": its first eight bytes, then its last eight (all within the line) */
    if (e - p < 11 || word_at(s + p) != BYTES8(' ', 'm', 's', 'g', '=', 'a', 'u', 'd') ||
        word_at(s + p + 3) != BYTES8('g', '=', 'a', 'u', 'd', 'i', 't', '('))
        return 0;
    p += 11;
    ln->par_s = p;
    if ((p = digits_to(s, p, e, n, '.')) < 0)
        return 0;
    ln->sec_e = p++;
    if ((p = digits_to(s, p, e, n, ':')) < 0)
        return 0;
    ln->frac_e = p++;
    if ((p = digits_to(s, p, e, n, ')')) < 0 || p + 1 >= e || s[p + 1] != ':')
        return 0;
    ln->par_e = p;
    p += 2;
    if (p < e && s[p] == ' ')
        p++;
    ln->body = p;
    return 1;
}

static inline uint64_t mix_bytes(uint64_t h, const uint8_t *p, Py_ssize_t n)
{
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, (size_t)n);
    h = (h ^ w ^ ((uint64_t)n << 56)) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

static inline uint64_t key_hash(const uint8_t *s, const Line *ln)
{
    uint64_t h = mix_bytes(1469598103934665603ULL, s + ln->node_s, ln->node_e - ln->node_s);
    return mix_bytes(h, s + ln->par_s, ln->par_e - ln->par_s);
}

/* Whether n bytes at a and b are equal: eight at a time, the last eight overlapping (a key's
 * spans are short: a libc call cost more than the comparison). */
static inline int equal_bytes(const uint8_t *a, const uint8_t *b, Py_ssize_t n)
{
    uint64_t x, y;
    if (n < 8) {
        for (Py_ssize_t i = 0; i < n; i++)
            if (a[i] != b[i])
                return 0;
        return 1;
    }
    for (Py_ssize_t i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return 0;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return x == y;
}

static inline int same_key(const uint8_t *s, const Line *a, const Line *b)
{
    Py_ssize_t na = a->node_e - a->node_s, pa = a->par_e - a->par_s;
    return na == b->node_e - b->node_s && pa == b->par_e - b->par_s &&
           equal_bytes(s + a->par_s, s + b->par_s, pa) &&
           equal_bytes(s + a->node_s, s + b->node_s, na);
}

/* The line holding byte `off` (lines sorted by start). */
static Py_ssize_t line_of(const Line *lines, Py_ssize_t count, Py_ssize_t off)
{
    Py_ssize_t lo = 0, hi = count - 1;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi + 1) / 2;
        if (lines[mid].start <= off)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

typedef int (*Verify)(const uint8_t *s, Py_ssize_t n, Py_ssize_t at, const uint8_t *nd,
                      Py_ssize_t m);

#ifdef AUDITD_AVX2
/* find_marks' positions i..last in blocks of 32: where the blocks stop. */
__attribute__((target("avx2"))) static Py_ssize_t
find_marks_avx2(const uint8_t *s, Py_ssize_t n, Py_ssize_t i, Py_ssize_t last, Py_ssize_t a,
                uint8_t ca, uint8_t fa, Py_ssize_t b, uint8_t cb, uint8_t fb, Py_ssize_t c,
                uint8_t cc, uint8_t fc, Verify verify, const uint8_t *nd, Py_ssize_t m,
                Line *lines, Py_ssize_t count)
{
    const __m256i va = _mm256_set1_epi8((char)ca), vfa = _mm256_set1_epi8((char)fa),
                  vb = _mm256_set1_epi8((char)cb), vfb = _mm256_set1_epi8((char)fb),
                  vc = _mm256_set1_epi8((char)cc), vfc = _mm256_set1_epi8((char)fc);
    for (; i + 31 <= last; i += 32) {
        __m256i x = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(s + i + a)), vfa);
        __m256i y = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(s + i + b)), vfb);
        __m256i z = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(s + i + c)), vfc);
        uint32_t hits = (uint32_t)_mm256_movemask_epi8(
            _mm256_and_si256(_mm256_and_si256(_mm256_cmpeq_epi8(x, va), _mm256_cmpeq_epi8(y, vb)),
                             _mm256_cmpeq_epi8(z, vc)));
        while (hits) {
            Py_ssize_t at = i + __builtin_ctz(hits);
            hits &= hits - 1;
            if (verify(s, n, at, nd, m))
                lines[line_of(lines, count, at)].flags |= L_CAND;
        }
    }
    return i;
}
#endif

/* Every i in [from, to) where (s[i + a] | fa) == ca, (s[i + b] | fb) == cb, (s[i + c] | fc) == cc
 * and verify(i): its line marked a candidate. i + span <= n; a, b, c < span. */
static void find_marks(const uint8_t *s, Py_ssize_t n, Py_ssize_t from, Py_ssize_t to,
                       Py_ssize_t span, Py_ssize_t a, uint8_t ca, uint8_t fa, Py_ssize_t b,
                       uint8_t cb, uint8_t fb, Py_ssize_t c, uint8_t cc, uint8_t fc,
                       Verify verify, const uint8_t *nd, Py_ssize_t m, Line *lines,
                       Py_ssize_t count)
{
    Py_ssize_t last = n - span; /* the last i */
    if (to - 1 < last)
        last = to - 1;
    Py_ssize_t i = from;
    if (last < i)
        return;
#ifdef AUDITD_AVX2
    if (HAVE_AVX2)
        i = find_marks_avx2(s, n, i, last, a, ca, fa, b, cb, fb, c, cc, fc, verify, nd, m, lines,
                            count);
#endif
#ifdef AUDITD_SSE2
    const __m128i va = _mm_set1_epi8((char)ca), vfa = _mm_set1_epi8((char)fa),
                  vb = _mm_set1_epi8((char)cb), vfb = _mm_set1_epi8((char)fb),
                  vc = _mm_set1_epi8((char)cc), vfc = _mm_set1_epi8((char)fc);
    for (; i + 15 <= last; i += 16) {
        __m128i x = _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i + a)), vfa);
        __m128i y = _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i + b)), vfb);
        __m128i z = _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i + c)), vfc);
        unsigned hits = (unsigned)_mm_movemask_epi8(_mm_and_si128(
            _mm_and_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(y, vb)), _mm_cmpeq_epi8(z, vc)));
        while (hits) {
            Py_ssize_t at = i + __builtin_ctz(hits);
            hits &= hits - 1;
            if (verify(s, n, at, nd, m)) {
                Py_ssize_t li = line_of(lines, count, at);
                lines[li].flags |= L_CAND;
            }
        }
    }
#endif
    for (; i <= last; i++) {
        if ((s[i + a] | fa) == ca && (s[i + b] | fb) == cb && verify(s, n, i, nd, m)) {
            Py_ssize_t li = line_of(lines, count, i);
            lines[li].flags |= L_CAND;
        }
    }
}

static int verify_literal(const uint8_t *s, Py_ssize_t n, Py_ssize_t at, const uint8_t *nd,
                          Py_ssize_t m)
{
    (void)n;
    for (Py_ssize_t j = 0; j < m; j++)
        if (lower(s[at + j]) != nd[j])
            return 0;
    return 1;
}

static int verify_hex(const uint8_t *s, Py_ssize_t n, Py_ssize_t at, const uint8_t *nd,
                      Py_ssize_t m)
{
    (void)n;
    for (Py_ssize_t j = 0; j < m; j++) {
        uint8_t h = s[at + 2 * j], l = s[at + 2 * j + 1];
        if (!hex_upper(h) || !hex_upper(l))
            return 0;
        if (lower((uint8_t)(hex_value(h) << 4 | hex_value(l))) != nd[j])
            return 0;
    }
    return 1;
}

static inline uint8_t fold(uint8_t c) { return (c >= 'a' && c <= 'z') ? 0x20 : 0; }
static const char HEXDIGITS[] = "0123456789ABCDEF";

/* The needle's lines, of those starting in [from, to). */
static void mark_needle(const uint8_t *s, Py_ssize_t n, Py_ssize_t from, Py_ssize_t to,
                        const uint8_t *nd, Py_ssize_t m, Line *lines, Py_ssize_t count)
{
    Py_ssize_t h = m / 2; /* a third byte, mid-needle */
    find_marks(s, n, from, to, m, 0, nd[0], fold(nd[0]), m - 1, nd[m - 1], fold(nd[m - 1]), h,
               nd[h], fold(nd[h]), verify_literal, nd, m, lines, count);
    /* hex: a letter's two cases differ in the high digit only; the low digits are fixed */
    find_marks(s, n, from, to, 2 * m, 1, (uint8_t)HEXDIGITS[nd[0] & 15], 0, 2 * m - 1,
               (uint8_t)HEXDIGITS[nd[m - 1] & 15], 0, 2 * h + 1, (uint8_t)HEXDIGITS[nd[h] & 15],
               0, verify_hex, nd, m, lines, count);
}

static inline int always_at(const uint8_t *s, Py_ssize_t n, Py_ssize_t i)
{
    return (i + 2 <= n && s[i] == ']' && s[i + 1] == '=') ||
           (i + 6 <= n && memcmp(s + i, "E284AA", 6) == 0) ||
           (i + 4 <= n && memcmp(s + i, "C4B0", 4) == 0);
}

#ifdef AUDITD_AVX2
/* mark_always' positions from i in blocks of 32: where the blocks stop. */
__attribute__((target("avx2"))) static Py_ssize_t
mark_always_avx2(const uint8_t *s, Py_ssize_t n, Py_ssize_t i, Py_ssize_t to, Line *lines,
                 Py_ssize_t count)
{
    for (; i + 37 <= n && i + 32 <= to; i += 32) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(s + i));
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(s + i + 1));
        __m256i x2 = _mm256_loadu_si256((const __m256i *)(s + i + 2));
        __m256i x3 = _mm256_loadu_si256((const __m256i *)(s + i + 3));
        __m256i x4 = _mm256_loadu_si256((const __m256i *)(s + i + 4));
        __m256i x5 = _mm256_loadu_si256((const __m256i *)(s + i + 5));
#define EQ(v, ch) _mm256_cmpeq_epi8(v, _mm256_set1_epi8(ch))
        __m256i pieces = _mm256_and_si256(EQ(x0, ']'), EQ(x1, '='));
        __m256i kelvin = _mm256_and_si256(
            _mm256_and_si256(_mm256_and_si256(EQ(x0, 'E'), EQ(x1, '2')),
                             _mm256_and_si256(EQ(x2, '8'), EQ(x3, '4'))),
            _mm256_and_si256(EQ(x4, 'A'), EQ(x5, 'A')));
        __m256i dotted = _mm256_and_si256(_mm256_and_si256(EQ(x0, 'C'), EQ(x1, '4')),
                                          _mm256_and_si256(EQ(x2, 'B'), EQ(x3, '0')));
#undef EQ
        uint32_t hits = (uint32_t)_mm256_movemask_epi8(
            _mm256_or_si256(pieces, _mm256_or_si256(kelvin, dotted)));
        while (hits) {
            Py_ssize_t at = i + __builtin_ctz(hits);
            hits &= hits - 1;
            if (always_at(s, n, at))
                lines[line_of(lines, count, at)].flags |= L_CAND;
        }
    }
    return i;
}
#endif

/* The lines holding "]=" (an argument in pieces), "E284AA" or "C4B0" (U+212A, U+0130 in UTF-8,
 * hex-encoded), in one pass over the positions [from, to). */
static void mark_always(const uint8_t *s, Py_ssize_t n, Py_ssize_t from, Py_ssize_t to,
                        Line *lines, Py_ssize_t count)
{
    Py_ssize_t i = from;
#ifdef AUDITD_AVX2
    if (HAVE_AVX2)
        i = mark_always_avx2(s, n, i, to, lines, count);
#endif
#ifdef AUDITD_SSE2
    for (; i + 21 <= n && i + 16 <= to; i += 16) {
        __m128i x0 = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i x1 = _mm_loadu_si128((const __m128i *)(s + i + 1));
        __m128i x2 = _mm_loadu_si128((const __m128i *)(s + i + 2));
        __m128i x3 = _mm_loadu_si128((const __m128i *)(s + i + 3));
        __m128i x4 = _mm_loadu_si128((const __m128i *)(s + i + 4));
        __m128i x5 = _mm_loadu_si128((const __m128i *)(s + i + 5));
        __m128i pieces = _mm_and_si128(_mm_cmpeq_epi8(x0, _mm_set1_epi8(']')),
                                       _mm_cmpeq_epi8(x1, _mm_set1_epi8('=')));
        /* every byte of E284AA and C4B0 compared: hex text holds their first few often */
        __m128i kelvin = _mm_and_si128(
            _mm_and_si128(
                _mm_and_si128(_mm_cmpeq_epi8(x0, _mm_set1_epi8('E')),
                              _mm_cmpeq_epi8(x1, _mm_set1_epi8('2'))),
                _mm_and_si128(_mm_cmpeq_epi8(x2, _mm_set1_epi8('8')),
                              _mm_cmpeq_epi8(x3, _mm_set1_epi8('4')))),
            _mm_and_si128(_mm_cmpeq_epi8(x4, _mm_set1_epi8('A')),
                          _mm_cmpeq_epi8(x5, _mm_set1_epi8('A'))));
        __m128i dotted = _mm_and_si128(
            _mm_and_si128(_mm_cmpeq_epi8(x0, _mm_set1_epi8('C')), _mm_cmpeq_epi8(x1, _mm_set1_epi8('4'))),
            _mm_and_si128(_mm_cmpeq_epi8(x2, _mm_set1_epi8('B')), _mm_cmpeq_epi8(x3, _mm_set1_epi8('0'))));
        unsigned hits = (unsigned)_mm_movemask_epi8(_mm_or_si128(pieces, _mm_or_si128(kelvin, dotted)));
        while (hits) {
            Py_ssize_t at = i + __builtin_ctz(hits);
            hits &= hits - 1;
            if (always_at(s, n, at))
                lines[line_of(lines, count, at)].flags |= L_CAND;
        }
    }
#endif
    for (; i < to; i++)
        if (always_at(s, n, i))
            lines[line_of(lines, count, i)].flags |= L_CAND;
}

#ifdef AUDITD_AVX2
/* mark_needle(nd) and mark_always over the positions [from, to) in one pass of 32 bytes at a time
 * (each block loaded once for the three tests, not once a test): where the blocks stop, the rest
 * being mark_needle's and mark_always' to test. Each test looks at two bytes only (the needle's
 * first and last, either case; its hex form's first and last low digits; "]=", "E2", "C4"), and
 * the verifiers (verify_literal, verify_hex, always_at) test the whole at the few positions that
 * pass: the same lines marked. */
__attribute__((target("avx2"))) static Py_ssize_t
mark_fused_avx2(const uint8_t *s, Py_ssize_t n, Py_ssize_t from, Py_ssize_t to, const uint8_t *nd,
                Py_ssize_t m, Line *lines, Py_ssize_t count)
{
    const Py_ssize_t lb = m - 1, hb = 2 * m - 1; /* the literal's last byte, the hex form's */
    const __m256i va = _mm256_set1_epi8((char)nd[0]), vfa = _mm256_set1_epi8((char)fold(nd[0])),
                  vb = _mm256_set1_epi8((char)nd[m - 1]),
                  vfb = _mm256_set1_epi8((char)fold(nd[m - 1])),
                  xa = _mm256_set1_epi8(HEXDIGITS[nd[0] & 15]),
                  xb = _mm256_set1_epi8(HEXDIGITS[nd[m - 1] & 15]);
    Py_ssize_t i = from;
#define EQ(v, ch) _mm256_cmpeq_epi8(v, _mm256_set1_epi8(ch))
#define AT(k) _mm256_loadu_si256((const __m256i *)(s + i + (k)))
    /* (a block reads up to i + 31 + hb; verify_hex up to i + 31 + 2m; always_at checks its own) */
    for (; i + 32 <= to && i + 32 + 2 * m <= n; i += 32) {
        __m256i x0 = AT(0), x1 = AT(1);
        __m256i lit = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_or_si256(x0, vfa), va),
                                       _mm256_cmpeq_epi8(_mm256_or_si256(AT(lb), vfb), vb));
        __m256i hex = _mm256_and_si256(_mm256_cmpeq_epi8(x1, xa), _mm256_cmpeq_epi8(AT(hb), xb));
        __m256i all = _mm256_or_si256(
            _mm256_and_si256(EQ(x0, ']'), EQ(x1, '=')),
            _mm256_or_si256(_mm256_and_si256(EQ(x0, 'E'), EQ(x1, '2')),
                            _mm256_and_si256(EQ(x0, 'C'), EQ(x1, '4'))));
        uint32_t m_lit = (uint32_t)_mm256_movemask_epi8(lit);
        uint32_t m_hex = (uint32_t)_mm256_movemask_epi8(hex);
        uint32_t m_all = (uint32_t)_mm256_movemask_epi8(all);
        if (!(m_lit | m_hex | m_all))
            continue;
        for (; m_lit; m_lit &= m_lit - 1u) {
            Py_ssize_t at = i + __builtin_ctz(m_lit);
            if (verify_literal(s, n, at, nd, m))
                lines[line_of(lines, count, at)].flags |= L_CAND;
        }
        for (; m_hex; m_hex &= m_hex - 1u) {
            Py_ssize_t at = i + __builtin_ctz(m_hex);
            if (verify_hex(s, n, at, nd, m))
                lines[line_of(lines, count, at)].flags |= L_CAND;
        }
        for (; m_all; m_all &= m_all - 1u) {
            Py_ssize_t at = i + __builtin_ctz(m_all);
            if (always_at(s, n, at))
                lines[line_of(lines, count, at)].flags |= L_CAND;
        }
    }
#undef AT
#undef EQ
    return i;
}
#endif

/* The lines holding the needles (mark_needle) or what may hide one (mark_always), of those
 * starting in [from, to): one pass for a single needle where the CPU has AVX2. */
static void mark_block(const uint8_t *s, Py_ssize_t n, Py_ssize_t from, Py_ssize_t to,
                       const uint8_t **needle, const Py_ssize_t *needle_n, Py_ssize_t nn,
                       Line *lines, Py_ssize_t count)
{
#ifdef AUDITD_AVX2
    if (HAVE_AVX2 && nn == 1)
        from = mark_fused_avx2(s, n, from, to, needle[0], needle_n[0], lines, count);
#endif
    for (Py_ssize_t i = 0; i < nn; i++)
        mark_needle(s, n, from, to, needle[i], needle_n[i], lines, count);
    mark_always(s, n, from, to, lines, count);
}


/* escudo.sources.auditd_events._take: the value of `key` in [b, e) (the first "key=" at the
 * start or after a space, up to the next space). */
static int take(const uint8_t *s, Py_ssize_t b, Py_ssize_t e, const char *key, Py_ssize_t *vs,
                Py_ssize_t *ve)
{
    Py_ssize_t k = (Py_ssize_t)strlen(key);
    for (Py_ssize_t p = b; p + k + 1 <= e; p++) {
        if ((p == b || s[p - 1] == ' ') && s[p + k] == '=' && memcmp(s + p, key, (size_t)k) == 0) {
            Py_ssize_t v = p + k + 1, q = v;
            while (q < e && s[q] != ' ')
                q++;
            *vs = v;
            *ve = q;
            return 1;
        }
    }
    return 0;
}

/* Whether [b, e) holds a quoted value with a space (="[^"]* , auditd_events._QUOTED_SPACE). */
static int quoted_space(const uint8_t *s, Py_ssize_t b, Py_ssize_t e)
{
    for (Py_ssize_t p = b; p < e;) {
        const uint8_t *q = memchr(s + p, '"', (size_t)(e - p));
        if (q == NULL)
            return 0;
        Py_ssize_t at = q - s;
        if (at > b && s[at - 1] == '=') {
            const uint8_t *close = memchr(s + at + 1, '"', (size_t)(e - at - 1));
            Py_ssize_t end = close == NULL ? e : close - s;
            if (memchr(s + at + 1, ' ', (size_t)(end - at - 1)) != NULL)
                return 1;
        }
        p = at + 1;
    }
    return 0;
}

/* _take's test for its slow path: a ' or a quoted value with a space (="[^"]* ). `quote`: 0
 * when the line holds no ' (scan_line's L_SQ), no search for one then. */
static int complex_fields(const uint8_t *s, Py_ssize_t b, Py_ssize_t e, int quote)
{
    if (quote && memchr(s + b, '\'', (size_t)(e - b)) != NULL)
        return 1;
    return quoted_space(s, b, e);
}

/* The values of the SYSCALL keys classify() reads, each as take() finds it (the first "key=" at
 * the start or after a space), in one walk over the fields. */
enum { F_ARCH, F_SYSCALL, F_SUCCESS, F_PID, F_EXE, F_COUNT };
static const char *const SYSCALL_KEYS[F_COUNT] = {"arch", "syscall", "success", "pid", "exe"};
static const Py_ssize_t SYSCALL_KEY_LENGTHS[F_COUNT] = {4, 7, 7, 3, 3};

/* The field starting at p (< e), when it is one of the keys not found yet. */
static inline void take_field(const uint8_t *s, Py_ssize_t p, Py_ssize_t e, Py_ssize_t *vs,
                              Py_ssize_t *ve, int *missing)
{
    int k = -1;
    switch (s[p]) {
    case 'a': k = F_ARCH; break;
    case 's': k = (p + 1 < e && s[p + 1] == 'y') ? F_SYSCALL : F_SUCCESS; break;
    case 'p': k = F_PID; break;
    case 'e': k = F_EXE; break;
    default: return;
    }
    if (vs[k] >= 0)
        return;
    Py_ssize_t n = SYSCALL_KEY_LENGTHS[k];
    if (p + n < e && s[p + n] == '=' && memcmp(s + p, SYSCALL_KEYS[k], (size_t)n) == 0) {
        const uint8_t *sp = memchr(s + p + n + 1, ' ', (size_t)(e - p - n - 1));
        vs[k] = p + n + 1;
        ve[k] = sp == NULL ? e : sp - s;
        (*missing)--;
    }
}

static void take_all(const uint8_t *s, Py_ssize_t b, Py_ssize_t e, Py_ssize_t *vs, Py_ssize_t *ve)
{
    for (int k = 0; k < F_COUNT; k++)
        vs[k] = -1;
    int missing = F_COUNT;
    if (b < e)
        take_field(s, b, e, vs, ve, &missing);
    /* a field starts after each space: the spaces of 16 bytes at a time */
    Py_ssize_t i = b;
#ifdef AUDITD_SSE2
    const __m128i space = _mm_set1_epi8(' ');
    for (; missing && i + 16 <= e; i += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i)), space));
        for (; m && missing; m &= m - 1u) {
            Py_ssize_t at = i + __builtin_ctz(m) + 1;
            if (at < e)
                take_field(s, at, e, vs, ve, &missing);
        }
    }
#endif
    for (; missing && i < e; i++)
        if (s[i] == ' ' && i + 1 < e)
            take_field(s, i + 1, e, vs, ve, &missing);
}

static inline int span_is(const uint8_t *s, Py_ssize_t b, Py_ssize_t e, const char *text)
{
    Py_ssize_t n = (Py_ssize_t)strlen(text);
    return e - b == n && memcmp(s + b, text, (size_t)n) == 0;
}

static const char *const EXEC_SYSCALLS[][2] = {
    {"c000003e", "59"}, {"c000003e", "322"}, {"40000003", "11"},
    {"40000003", "358"}, {"c00000b7", "221"}, {"c00000b7", "281"}};

typedef struct {
    Py_ssize_t pid_s, pid_e, exe_s, exe_e;
} Image;

/* How the general path would use an event that holds no needle: K_SLIM (an exec: its pid and
 * exe image in *img), K_DROP (no exec), K_FULL (Python must build it). */
static int classify(const uint8_t *s, const Line *lines, const Group *g, Image *img)
{
    if (g->flags & G_CAND)
        return K_FULL;
    if (g->syscall < 0)
        return (g->flags & G_EXECVE) ? K_FULL : K_DROP;
    const Line *ln = &lines[g->syscall];
    Py_ssize_t b = ln->body, e = ln->eol, main_e = e;
    if (ln->flags & L_GS)
        main_e = (const uint8_t *)memchr(s + b, 0x1d, (size_t)(e - b)) - s;
    if (complex_fields(s, b, main_e, ln->flags & L_SQ))
        return K_FULL;
    Py_ssize_t vs[F_COUNT], ve[F_COUNT];
    take_all(s, b, main_e, vs, ve);
    int is_exec = (g->flags & G_EXECVE) != 0;
    for (int i = 0; !is_exec && vs[F_ARCH] >= 0 && vs[F_SYSCALL] >= 0 && i < 6; i++)
        is_exec = span_is(s, vs[F_ARCH], ve[F_ARCH], EXEC_SYSCALLS[i][0]) &&
                  span_is(s, vs[F_SYSCALL], ve[F_SYSCALL], EXEC_SYSCALLS[i][1]);
    if (!is_exec && main_e < e) {
        Py_ssize_t xb = main_e + 1, ns = 0, ne = 0;
        if (complex_fields(s, xb, e, ln->flags & L_SQ))
            return K_FULL;
        if (take(s, xb, e, "SYSCALL", &ns, &ne)) {
            if (ne - ns > 1 && s[ns] == '"' && s[ne - 1] == '"') {
                ns++;
                ne--;
            }
            is_exec = span_is(s, ns, ne, "execve") || span_is(s, ns, ne, "execveat");
        }
    }
    if (!is_exec)
        return K_DROP;
    if (vs[F_SUCCESS] >= 0 && span_is(s, vs[F_SUCCESS], ve[F_SUCCESS], "no"))
        return K_DROP;
    if (vs[F_PID] < 0 || vs[F_EXE] < 0)
        return K_FULL;
    img->pid_s = vs[F_PID];
    img->pid_e = ve[F_PID];
    img->exe_s = vs[F_EXE];
    img->exe_e = ve[F_EXE];
    Py_ssize_t xs = img->exe_s, xe = img->exe_e;
    if (xe - xs > 1 && s[xs] == '"' && s[xe - 1] == '"') {
        img->exe_s++;
        img->exe_e--;
        return K_SLIM;
    }
    if (xe > xs && ((xe - xs) & 1) == 0) {
        Py_ssize_t i = xs;
        while (i < xe && hex_upper(s[i]))
            i++;
        if (i == xe)
            return K_FULL; /* hex: decoded by Python */
    }
    return K_SLIM;
}

/* auditd.audit_time of the line's seconds and fraction, into out (at most 40 bytes); 0 when the
 * seconds are too long for this path. */
static int when(const uint8_t *s, const Line *ln, char *out, size_t *len, long long *last_sec,
                char *last_text)
{
    Py_ssize_t sn = ln->sec_e - ln->par_s;
    if (sn > 11)
        return 0;
    long long sec = 0;
    for (Py_ssize_t i = ln->par_s; i < ln->sec_e; i++)
        sec = sec * 10 + (s[i] - '0');
    if (sec != *last_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        if (gmtime_r(&t, &tm) == NULL)
            return 0;
        snprintf(last_text, 32, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        *last_sec = sec;
    }
    size_t n = strlen(last_text);
    memcpy(out, last_text, n);
    out[n++] = '.';
    Py_ssize_t fs = ln->sec_e + 1, fn = ln->frac_e - fs;
    for (Py_ssize_t i = 0; i < 6; i++)
        out[n++] = i < fn ? (char)s[fs + i] : '0';
    out[n++] = 'Z';
    *len = n;
    return 1;
}

static PyObject *bytes_of(Buf *b)
{
    return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len);
}

static PyObject *column_pair(Column *c)
{
    if (c->offsets.len == 0) {
        int32_t zero = 0;
        buf_add(&c->offsets, &zero, 4);
    }
    PyObject *o = bytes_of(&c->offsets), *d = bytes_of(&c->data);
    if (o == NULL || d == NULL) {
        Py_XDECREF(o);
        Py_XDECREF(d);
        return NULL;
    }
    PyObject *t = PyTuple_Pack(2, o, d);
    Py_DECREF(o);
    Py_DECREF(d);
    return t;
}

/* ------------------------------------------------------------------------------------------
 * Processes: the assembler's parent table in C (auditd_events.Assembler._parents, _update).
 *
 * (host, pid) -> the image that pid last ran, at most `cap` processes: the least recently
 * updated goes first (an update moves its process to the newest end). resolve() takes the rows
 * of one release, in their order, as Arrow string columns (dest, pid, exe, ppid) and the row
 * numbers that update the table (exec images) and that look their parent up; a row looks up
 * before its own update, and every update of an earlier row comes first. It returns the
 * parent_exe column's buffers. The Python loops in auditd_events are the specification (tests
 * hold both equal).
 */
typedef struct Proc {
    struct Proc *older, *newer; /* the update order */
    uint64_t hash;
    Py_ssize_t host_n; /* -1: no host (None) */
    Py_ssize_t pid_n, exe_n, exe_room; /* exe_room: the bytes its exe may take */
    char text[];                       /* host, pid, exe */
} Proc;

typedef struct {
    uint64_t hash; /* the process's: a probe compares it before reading the process */
    Proc *p;
} Slot;

typedef struct {
    PyObject_HEAD
    Slot *slots;
    size_t mask;
    Py_ssize_t count, cap;
    Proc *oldest, *newest;
} Processes;

/* A string column's view: row i is data[offsets[at + i] .. offsets[at + i + 1]), null where its
 * validity bit is 0. */
typedef struct {
    Py_buffer valid, offsets, data;
    Py_ssize_t at;
    int has_valid, has_offsets, has_data;
} Strings;

static uint64_t proc_hash(const char *host, Py_ssize_t host_n, const char *pid, Py_ssize_t pid_n)
{
    uint64_t h = host_n < 0 ? 0x51ED27u : mix_bytes(7, (const uint8_t *)host, host_n);
    return mix_bytes(h, (const uint8_t *)pid, pid_n);
}

static int proc_is(const Proc *p, uint64_t h, const char *host, Py_ssize_t host_n,
                   const char *pid, Py_ssize_t pid_n)
{
    if (p->hash != h || p->host_n != host_n || p->pid_n != pid_n)
        return 0;
    Py_ssize_t hn = host_n < 0 ? 0 : host_n;
    return memcmp(p->text, host, (size_t)hn) == 0 && memcmp(p->text + hn, pid, (size_t)pid_n) == 0;
}

/* The slot holding the process, or the empty slot where it would go. */
static size_t proc_slot(Processes *t, uint64_t h, const char *host, Py_ssize_t host_n,
                        const char *pid, Py_ssize_t pid_n)
{
    size_t i = (size_t)h & t->mask;
    while (t->slots[i].p != NULL &&
           (t->slots[i].hash != h || !proc_is(t->slots[i].p, h, host, host_n, pid, pid_n)))
        i = (i + 1) & t->mask;
    return i;
}

static void proc_unlink(Processes *t, Proc *p)
{
    if (p->older)
        p->older->newer = p->newer;
    else
        t->oldest = p->newer;
    if (p->newer)
        p->newer->older = p->older;
    else
        t->newest = p->older;
    p->older = p->newer = NULL;
}

static void proc_append(Processes *t, Proc *p)
{
    p->older = t->newest;
    p->newer = NULL;
    if (t->newest)
        t->newest->newer = p;
    else
        t->oldest = p;
    t->newest = p;
}

/* Removes slot i (linear probing: the entries after it move back where they may). */
static void proc_remove_slot(Processes *t, size_t i)
{
    t->slots[i].p = NULL;
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->slots[j].p == NULL)
            break;
        size_t home = (size_t)t->slots[j].hash & t->mask;
        /* the entry may move to i when its home is not in (i, j] (cyclically) */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            t->slots[i] = t->slots[j];
            t->slots[j].p = NULL;
            i = j;
        }
    }
    t->count--;
}

static int proc_grow(Processes *t)
{
    size_t size = (t->mask + 1) * 2;
    Slot *slots = calloc(size, sizeof(Slot));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].p == NULL)
            continue;
        size_t j = (size_t)t->slots[i].hash & (size - 1);
        while (slots[j].p != NULL)
            j = (j + 1) & (size - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->mask = size - 1;
    return 0;
}

/* The process's image set to exe and made the newest; then the oldest go past cap. */
static int proc_update(Processes *t, const char *host, Py_ssize_t host_n, const char *pid,
                       Py_ssize_t pid_n, const char *exe, Py_ssize_t exe_n)
{
    if ((size_t)(t->count + 1) * 2 > t->mask + 1 && proc_grow(t) < 0)
        return -1;
    uint64_t h = proc_hash(host, host_n, pid, pid_n);
    size_t i = proc_slot(t, h, host, host_n, pid, pid_n);
    Proc *old = t->slots[i].p;
    Py_ssize_t hn = host_n < 0 ? 0 : host_n;
    Proc *p = old;
    if (old == NULL || old->exe_room < exe_n) {
        Py_ssize_t room = exe_n < 40 ? 40 : exe_n; /* a pid's next image fits, mostly */
        p = malloc(sizeof(Proc) + (size_t)(hn + pid_n + room));
        if (p == NULL)
            return -1;
        p->exe_room = room;
        p->hash = h;
        p->host_n = host_n;
        p->pid_n = pid_n;
        memcpy(p->text, host, (size_t)hn);
        memcpy(p->text + hn, pid, (size_t)pid_n);
        p->older = p->newer = NULL;
    }
    if (old != NULL)
        proc_unlink(t, old);
    if (old != NULL && old != p)
        free(old);
    if (old == NULL)
        t->count++;
    memcpy(p->text + hn + pid_n, exe, (size_t)exe_n);
    p->exe_n = exe_n;
    t->slots[i].hash = h;
    t->slots[i].p = p;
    proc_append(t, p);
    while (t->count > t->cap && t->oldest != NULL) {
        Proc *gone = t->oldest;
        Py_ssize_t gn = gone->host_n < 0 ? 0 : gone->host_n;
        size_t k = proc_slot(t, gone->hash, gone->text, gone->host_n, gone->text + gn,
                             gone->pid_n);
        proc_unlink(t, gone);
        proc_remove_slot(t, k);
        free(gone);
    }
    return 0;
}

static const Proc *proc_find(Processes *t, const char *host, Py_ssize_t host_n, const char *pid,
                             Py_ssize_t pid_n)
{
    uint64_t h = proc_hash(host, host_n, pid, pid_n);
    return t->slots[proc_slot(t, h, host, host_n, pid, pid_n)].p;
}

static PyObject *processes_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Py_ssize_t cap;
    static char *names[] = {"cap", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n", names, &cap))
        return NULL;
    if (cap < 0) {
        PyErr_SetString(PyExc_ValueError, "cap: not negative");
        return NULL;
    }
    Processes *t = (Processes *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    t->slots = calloc(64, sizeof(Slot));
    if (t->slots == NULL) {
        Py_DECREF(t);
        return PyErr_NoMemory();
    }
    t->mask = 63;
    t->cap = cap;
    return (PyObject *)t;
}

static void processes_dealloc(Processes *t)
{
    for (Proc *p = t->oldest; p != NULL;) {
        Proc *next = p->newer;
        free(p);
        p = next;
    }
    free(t->slots);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static void strings_release(Strings *c)
{
    if (c->has_valid)
        PyBuffer_Release(&c->valid);
    if (c->has_offsets)
        PyBuffer_Release(&c->offsets);
    if (c->has_data)
        PyBuffer_Release(&c->data);
    c->has_valid = c->has_offsets = c->has_data = 0;
}

/* (offset, validity or None, offsets, data or None) of a string column of `rows` rows. */
static int strings_of(PyObject *spec, Py_ssize_t rows, Strings *c)
{
    memset(c, 0, sizeof *c);
    PyObject *valid, *offsets, *data;
    if (!PyArg_ParseTuple(spec, "nOOO", &c->at, &valid, &offsets, &data))
        return -1;
    if (valid != Py_None) {
        if (PyObject_GetBuffer(valid, &c->valid, PyBUF_SIMPLE) < 0)
            return -1;
        c->has_valid = 1;
    }
    if (PyObject_GetBuffer(offsets, &c->offsets, PyBUF_SIMPLE) < 0)
        goto fail;
    c->has_offsets = 1;
    if (data != Py_None) {
        if (PyObject_GetBuffer(data, &c->data, PyBUF_SIMPLE) < 0)
            goto fail;
        c->has_data = 1;
    }
    if (c->at < 0 || (c->at + rows + 1) * 4 > c->offsets.len ||
        (c->has_valid && (c->at + rows + 7) / 8 > c->valid.len)) {
        PyErr_SetString(PyExc_ValueError, "a column shorter than its rows");
        goto fail;
    }
    const int32_t *off = c->offsets.buf;
    Py_ssize_t size = c->has_data ? c->data.len : 0;
    for (Py_ssize_t i = 0; i <= rows; i++) /* checked once: each row is then read freely */
        if (off[c->at + i] < 0 || off[c->at + i] > size ||
            (i > 0 && off[c->at + i] < off[c->at + i - 1])) {
            PyErr_SetString(PyExc_ValueError, "a column's offsets out of its data");
            goto fail;
        }
    return 0;
fail:
    strings_release(c);
    return -1;
}

/* Row i of the column: its text and length, or length -1 (null). */
static inline const char *strings_get(const Strings *c, Py_ssize_t i, Py_ssize_t *n)
{
    Py_ssize_t k = c->at + i;
    if (c->has_valid && !((((const uint8_t *)c->valid.buf)[k >> 3] >> (k & 7)) & 1u)) {
        *n = -1;
        return NULL;
    }
    const int32_t *off = c->offsets.buf;
    *n = off[k + 1] - off[k];
    return c->has_data ? (const char *)c->data.buf + off[k] : "";
}

static int rows_of(PyObject *obj, Py_ssize_t rows, Py_buffer *b, Py_ssize_t *count)
{
    if (PyObject_GetBuffer(obj, b, PyBUF_SIMPLE) < 0)
        return -1;
    *count = b->len / 8;
    const int64_t *r = b->buf;
    for (Py_ssize_t i = 0; i < *count; i++)
        if (r[i] < 0 || r[i] >= rows || (i > 0 && r[i] <= r[i - 1])) {
            PyBuffer_Release(b);
            PyErr_SetString(PyExc_ValueError, "row numbers: ascending, within the rows");
            return -1;
        }
    return 0;
}

#define PREFETCH_AHEAD 8 /* updates: a slot fetched from memory while 8 others go in */

static PyObject *processes_resolve(Processes *t, PyObject *args)
{
    Py_ssize_t rows;
    PyObject *specs[4], *updates_obj, *looks_obj;
    if (!PyArg_ParseTuple(args, "nO!O!O!O!OO", &rows, &PyTuple_Type, &specs[0], &PyTuple_Type,
                          &specs[1], &PyTuple_Type, &specs[2], &PyTuple_Type, &specs[3],
                          &updates_obj, &looks_obj))
        return NULL;
    Strings cols[4]; /* dest, pid, exe, ppid */
    int ready = 0;
    PyObject *result = NULL;
    Py_buffer ub, lb;
    int have_u = 0, have_l = 0;
    Buf valid = {0}, offsets = {0}, data = {0};
    for (; ready < 4; ready++)
        if (strings_of(specs[ready], rows, &cols[ready]) < 0)
            goto done;
    Py_ssize_t nu, nl;
    if (rows_of(updates_obj, rows, &ub, &nu) < 0)
        goto done;
    have_u = 1;
    if (rows_of(looks_obj, rows, &lb, &nl) < 0)
        goto done;
    have_l = 1;
    const int64_t *up = ub.buf, *lk = lb.buf;
    Py_ssize_t u = 0;
    int failed = 0;
    int32_t end = 0;
    buf_add(&offsets, &end, 4);
    Py_ssize_t row = 0; /* the rows before it have their parent_exe written */
    for (Py_ssize_t l = 0; l <= nl && !failed; l++) {
        Py_ssize_t at = l < nl ? (Py_ssize_t)lk[l] : rows;
        for (; u < nu && up[u] < at && !failed; u++) {
            Py_ssize_t hn, pn, xn;
            if (u + PREFETCH_AHEAD < nu) { /* the slot of an update to come, fetched meanwhile */
                const char *h2 = strings_get(&cols[0], up[u + PREFETCH_AHEAD], &hn);
                const char *p2 = strings_get(&cols[1], up[u + PREFETCH_AHEAD], &pn);
                if (pn >= 0)
                    __builtin_prefetch(&t->slots[(size_t)proc_hash(h2, hn, p2, pn) & t->mask]);
            }
            const char *host = strings_get(&cols[0], up[u], &hn);
            const char *pid = strings_get(&cols[1], up[u], &pn);
            const char *exe = strings_get(&cols[2], up[u], &xn);
            if (pn < 0 || xn < 0)
                continue; /* the caller's updates hold both */
            if (proc_update(t, host, hn, pid, pn, exe, xn) < 0)
                failed = 1;
        }
        for (; row < at; row++) { /* no look-up: null */
            if ((row & 7) == 0) {
                uint8_t zero = 0;
                buf_add(&valid, &zero, 1);
            }
            buf_add(&offsets, &end, 4);
        }
        if (l == nl || failed)
            break;
        Py_ssize_t hn, pn;
        const char *host = strings_get(&cols[0], at, &hn);
        const char *ppid = strings_get(&cols[3], at, &pn);
        const Proc *found = pn < 0 ? NULL : proc_find(t, host, hn, ppid, pn);
        if ((row & 7) == 0) {
            uint8_t zero = 0;
            buf_add(&valid, &zero, 1);
        }
        if (found != NULL) {
            Py_ssize_t skip = (found->host_n < 0 ? 0 : found->host_n) + found->pid_n;
            buf_add(&data, found->text + skip, (size_t)found->exe_n);
            if (!valid.failed)
                valid.data[row >> 3] |= (uint8_t)(1u << (row & 7));
            end = (int32_t)data.len;
        }
        buf_add(&offsets, &end, 4);
        row++;
    }
    if (failed || valid.failed || offsets.failed || data.failed || data.len > INT32_MAX) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(NNN)", bytes_of(&valid), bytes_of(&offsets), bytes_of(&data));
done:
    for (int i = 0; i < ready; i++)
        strings_release(&cols[i]);
    if (have_u)
        PyBuffer_Release(&ub);
    if (have_l)
        PyBuffer_Release(&lb);
    free(valid.data);
    free(offsets.data);
    free(data.data);
    return result;
}

static PyObject *processes_update(Processes *t, PyObject *args)
{
    PyObject *keys, *exes;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &keys, &PyList_Type, &exes))
        return NULL;
    if (PyList_GET_SIZE(keys) != PyList_GET_SIZE(exes)) {
        PyErr_SetString(PyExc_ValueError, "keys and exes: the same length");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        PyObject *key = PyList_GET_ITEM(keys, i), *host, *pid;
        if (!PyArg_ParseTuple(key, "OU", &host, &pid))
            return NULL;
        Py_ssize_t hn = -1, pn, xn;
        const char *h = NULL;
        if (host != Py_None && (h = PyUnicode_AsUTF8AndSize(host, &hn)) == NULL)
            return NULL;
        const char *p = PyUnicode_AsUTF8AndSize(pid, &pn);
        const char *x = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(exes, i), &xn);
        if (p == NULL || x == NULL)
            return NULL;
        if (proc_update(t, h, hn, p, pn, x, xn) < 0)
            return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *processes_items(Processes *t, PyObject *unused)
{
    (void)unused;
    PyObject *out = PyList_New(0);
    for (Proc *p = t->oldest; out != NULL && p != NULL; p = p->newer) {
        Py_ssize_t hn = p->host_n < 0 ? 0 : p->host_n;
        PyObject *item;
        if (p->host_n < 0)
            item = Py_BuildValue("((Os#)s#)", Py_None, p->text, p->pid_n, p->text + p->pid_n,
                                 p->exe_n);
        else
            item = Py_BuildValue("((s#s#)s#)", p->text, hn, p->text + hn, p->pid_n,
                                 p->text + hn + p->pid_n, p->exe_n);
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(item);
    }
    return out;
}

static PyMethodDef processes_methods[] = {
    {"resolve", (PyCFunction)processes_resolve, METH_VARARGS,
     "resolve(rows, dest, pid, exe, ppid, updates, looks) -> parent_exe's (validity, offsets, "
     "data): each column (offset, validity, offsets, data), updates and looks int64 row "
     "numbers, ascending."},
    {"update", (PyCFunction)processes_update, METH_VARARGS,
     "update(keys, exes): images into the table, in order (keys (host or None, pid))."},
    {"items", (PyCFunction)processes_items, METH_NOARGS,
     "items() -> [((host, pid), exe)], least recently updated first."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ProcessesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "escudo.sources._auditd.Processes",
    .tp_basicsize = sizeof(Processes),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Processes(cap): (host, pid) -> the image it last ran, the cap most recently "
              "updated kept.",
    .tp_new = processes_new,
    .tp_dealloc = (destructor)processes_dealloc,
    .tp_methods = processes_methods,
};

/* How far ahead the walk over a chunk's events (step 4) fetches the SYSCALL record it will read:
 * the chunk is out of the cache by then, and a wait for memory per event cost more than the
 * work on it. */
#define PREFETCH_EVENTS 8
#define MARK_BLOCK (64 * 1024) /* bytes: in the L2 cache still when marked */

/* A new line at the end of *lines (`count` of them, room for *cap), grown as needed; NULL when
 * out of memory. */
static Line *new_line(Line **lines, Py_ssize_t count, Py_ssize_t *cap)
{
    if (count == *cap) {
        Py_ssize_t c2 = *cap ? *cap * 2 : 1024;
        Line *l2 = realloc(*lines, (size_t)c2 * sizeof(Line));
        if (l2 == NULL)
            return NULL;
        *lines = l2;
        *cap = c2;
        ARRAY_MOVED();
    }
    return &(*lines)[count];
}

/* The line at pos: its end, flags and header; 0 when the fast paths cannot take it (no header, a
 * quote or hex value cut). The header's quotes are left out of the body's count: a node= name
 * may hold some, the rest of a header none (`node_quotes`: count them in the node name only, as
 * index() does; else over the whole header, as build() does). */
static int read_line(const uint8_t *s, Py_ssize_t pos, Py_ssize_t n, Line *ln, int node_quotes)
{
    unsigned quotes, odd;
    Py_ssize_t eol = scan_line(s, pos, n, &quotes, &odd);
    ln->start = pos;
    ln->eol = eol;
    ln->flags = (uint8_t)(odd & 3u);
    ln->next = -1;
    if ((odd & 4u) || !header(s, n, ln, pos, eol))
        return 0;
    Py_ssize_t from = node_quotes ? ln->node_s : pos;
    Py_ssize_t to = node_quotes ? ln->node_e : ln->body;
    quotes -= count_quotes(s, from, to);
    return !malformed(s, ln->body, eol, quotes, odd);
}

/* Line i joins the event of its key (a group: its lines linked in order), found in `table` (open
 * addressing over `size`, a power of two: each slot the low 32 bits of the event's key hash, then
 * its group number; TABLE_EMPTY) or started there; its group. */
#define TABLE_EMPTY UINT64_MAX
/* group_line() for line i whose test against the line before (`same`: 1 when it continues that
 * line's event) and, when it does not, whose key hash (`full`) are known already. */
static int32_t group_keyed(const uint8_t *s, Line *lines, Py_ssize_t i, uint64_t *table,
                           Py_ssize_t size, Group *groups, Py_ssize_t *ngroups, int same,
                           uint64_t full)
{
    Line *ln = &lines[i];
    int32_t g = -1;
    if (same) { /* the previous line's event: most are */
        g = lines[i - 1].group;
    } else {
        uint64_t tag = (uint64_t)(uint32_t)full << 32;
        size_t h = (size_t)full & (size_t)(size - 1);
        while (table[h] != TABLE_EMPTY) {
            /* another event's slot: its hash told apart without reading its lines */
            if ((table[h] & 0xffffffff00000000ULL) == tag) {
                int32_t other = (int32_t)(uint32_t)table[h];
                if (same_key(s, &lines[groups[other].first], ln)) {
                    g = other;
                    break;
                }
            }
            h = (h + 1) & (size_t)(size - 1);
        }
        if (g < 0) {
            g = (int32_t)(*ngroups)++;
            table[h] = tag | (uint32_t)g;
            groups[g].first = groups[g].last = (int32_t)i;
            groups[g].syscall = -1;
            groups[g].flags = 0;
            groups[g].hash = (uint32_t)full;
            ln->group = g;
            return g;
        }
    }
    lines[groups[g].last].next = (int32_t)i;
    groups[g].last = (int32_t)i;
    ln->group = g;
    return g;
}

static int32_t group_line(const uint8_t *s, Line *lines, Py_ssize_t i, uint64_t *table,
                          Py_ssize_t size, Group *groups, Py_ssize_t *ngroups)
{
    int same = i > 0 && same_key(s, &lines[i - 1], &lines[i]);
    return group_keyed(s, lines, i, table, size, groups, ngroups, same,
                       same ? 0 : key_hash(s, &lines[i]));
}

/* Each thread's index() arrays, kept from one call to the next (a chunk's lines, events and
 * hash table: ~10 MB for 24 MiB of records): malloc would serve these blocks from fresh pages each
 * call (a page fault per 4 KiB, the block past its mmap threshold or its arena trimmed). Freed when
 * the thread ends (SCRATCH_KEY's destructor). */
typedef struct Scratch {
    Line *lines;
    Py_ssize_t lines_cap;
    Group *groups;
    Py_ssize_t groups_cap;
    uint64_t *table;
    Py_ssize_t table_cap;
} Scratch;

static pthread_key_t SCRATCH_KEY;

static void scratch_free(void *p)
{
    Scratch *sc = p;
    free(sc->lines);
    free(sc->groups);
    free(sc->table);
    free(sc);
}

static Scratch *scratch(void)
{
    Scratch *sc = pthread_getspecific(SCRATCH_KEY);
    if (sc == NULL) {
        sc = calloc(1, sizeof *sc);
        if (sc != NULL && pthread_setspecific(SCRATCH_KEY, sc) != 0) {
            free(sc);
            sc = NULL;
        }
    }
    return sc;
}

/* *block with room for n items of `size` bytes (grown, never shrunk); NULL when out of memory. */
static void *room(void **block, Py_ssize_t *cap, Py_ssize_t n, size_t size)
{
    if (n > *cap) {
        void *b2 = realloc(*block, (size_t)n * size);
        if (b2 == NULL)
            return NULL;
        *block = b2;
        *cap = n;
        ARRAY_MOVED();
    }
    return *block;
}

/* Line i into its event as group_line() puts it, the events' array grown as needed and the hash
 * table (*size slots, in sc) doubled and refilled from the events' hashes before it is half full;
 * the event, or -1 when out of memory. */
static int32_t group_into(const uint8_t *s, Line *lines, Py_ssize_t i, Scratch *sc,
                          Py_ssize_t *size, Py_ssize_t *ngroups, int same, uint64_t full)
{
    if (*ngroups + 1 > sc->groups_cap) {
        Py_ssize_t want = sc->groups_cap ? 2 * sc->groups_cap : 4096;
        if (room((void **)&sc->groups, &sc->groups_cap, want, sizeof(Group)) == NULL)
            return -1;
    }
    if (2 * (*ngroups + 1) > *size) {
        Py_ssize_t grown = 2 * *size;
        uint64_t *table = room((void **)&sc->table, &sc->table_cap, grown, sizeof(uint64_t));
        if (table == NULL)
            return -1;
        memset(table, 0xff, (size_t)grown * sizeof(uint64_t));
        for (Py_ssize_t g = 0; g < *ngroups; g++) {
            uint32_t hash = sc->groups[g].hash;
            size_t h = (size_t)hash & (size_t)(grown - 1);
            while (table[h] != TABLE_EMPTY)
                h = (h + 1) & (size_t)(grown - 1);
            table[h] = (uint64_t)hash << 32 | (uint32_t)g;
        }
        *size = grown;
    }
    return group_keyed(s, lines, i, sc->table, *size, sc->groups, ngroups, same, full);
}

/* The exec images' columns: time, node, serial, pid, exe (an image is never an edge piece, whose
 * key alone the assembler reads). */
#define SLIM_COLUMNS 5

/* One index() run: its input, its arrays, and what steps 1-4 found (step 5 makes the result). */
typedef struct {
    const uint8_t *s;
    Py_ssize_t n, edge_lines, nn;
    const uint8_t **needle;
    Py_ssize_t *needle_n;
    Scratch *sc;
    Line *lines;
    Group *groups;
    Py_ssize_t count, cap, ngroups, dropped, nslim;
    int ok, nomem;
    Column cols[SLIM_COLUMNS];
    Buf ordinals, valid;
    Buf listed; /* index_mapped(): the listed events' lines, out of the mapping (see copy_listed) */
} Run;

/* The needles (a tuple of non-empty bytes) into r, read while this thread holds the GIL; 0 with
 * an exception set. */
static int run_start(Run *r, PyObject *needles, Py_ssize_t edge_lines)
{
    Py_ssize_t nn = PyTuple_GET_SIZE(needles);
    for (Py_ssize_t i = 0; i < nn; i++) {
        PyObject *nd = PyTuple_GET_ITEM(needles, i);
        if (!PyBytes_Check(nd) || PyBytes_GET_SIZE(nd) == 0) {
            PyErr_SetString(PyExc_ValueError, "needles: non-empty bytes");
            return 0;
        }
    }
    r->sc = scratch();
    if (r->sc != NULL) { /* (what run_free gives back, whatever fails next) */
        r->lines = r->sc->lines;
        r->cap = r->sc->lines_cap;
    }
    r->needle = malloc((size_t)(nn ? nn : 1) * sizeof *r->needle);
    r->needle_n = malloc((size_t)(nn ? nn : 1) * sizeof *r->needle_n);
    if (r->sc == NULL || r->needle == NULL || r->needle_n == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    for (Py_ssize_t i = 0; i < nn; i++) {
        PyObject *nd = PyTuple_GET_ITEM(needles, i);
        r->needle[i] = (const uint8_t *)PyBytes_AS_STRING(nd);
        r->needle_n[i] = PyBytes_GET_SIZE(nd);
    }
    r->nn = nn;
    r->edge_lines = edge_lines;
    r->ok = 1;
    return 1;
}

static void run_free(Run *r)
{
    free(r->needle);
    free(r->needle_n);
    if (r->sc != NULL) {
        r->sc->lines = r->lines; /* (new_line may have moved them) */
        r->sc->lines_cap = r->cap;
    }
    free(r->ordinals.data);
    free(r->valid.data);
    free(r->listed.data);
    for (int c = 0; c < SLIM_COLUMNS; c++) {
        free(r->cols[c].offsets.data);
        free(r->cols[c].data.data);
    }
}

/* An edge piece's record lines into text, as auditd_events._group_row writes them: each line's
 * header to its "):", one space, its fields; joined by newlines. */
static void piece_lines(Buf *text, const uint8_t *s, const Line *lines, int32_t first)
{
    for (int32_t li = first; li >= 0; li = lines[li].next) {
        const Line *ln = &lines[li];
        if (li != first)
            buf_add(text, "\n", 1);
        buf_add(text, s + ln->start, (size_t)(ln->par_e + 2 - ln->start));
        buf_add(text, " ", 1);
        buf_add(text, s + ln->body, (size_t)(ln->eol - ln->body));
    }
}

/* An event as steps 4 and 5 see it: its edge bits (1 head, 2 tail), its kind (classify) and
 * image, its first line's host and serial, and for an exec image or an edge piece its time
 * (`stamped` 0: seconds too long for this path). */
typedef struct {
    Py_ssize_t first, last;
    int edge, kind, stamped;
    Image img;
    const char *node, *serial;
    Py_ssize_t node_n, serial_n;
    char stamp[48];
    size_t stamp_len;
} Seen;

static void see(const uint8_t *s, const Line *lines, const Group *g, Py_ssize_t count,
                Py_ssize_t edge_lines, long long *last_sec, char *last_text, Seen *e)
{
    e->first = g->first + 1;
    e->last = g->last + 1;
    e->edge = (e->first <= edge_lines ? 1 : 0) | (e->last > count - edge_lines ? 2 : 0);
    e->kind = classify(s, lines, g, &e->img);
    const Line *head = &lines[g->first];
    e->stamp_len = 0;
    e->stamped = 1;
    if (e->kind == K_SLIM || e->edge)
        e->stamped = when(s, head, e->stamp, &e->stamp_len, last_sec, last_text);
    e->node = (const char *)s + head->node_s;
    e->node_n = head->node_e - head->node_s;
    e->serial = (const char *)s + head->frac_e + 1;
    e->serial_n = head->par_e - head->frac_e - 1;
}

/* Line i (none: -1) into its event (group_into), and the event's SYSCALL and EXECVE records
 * noted; 0 when out of memory. */
static int join(Run *r, Py_ssize_t i, Py_ssize_t *size, Py_ssize_t *ngroups, int same,
                uint64_t full)
{
    if (i < 0)
        return 1;
    int32_t g = group_into(r->s, r->lines, i, r->sc, size, ngroups, same, full);
    if (g < 0)
        return 0;
    Group *groups = r->sc->groups;
    const Line *ln = &r->lines[i];
    if (ln->type == T_EXECVE)
        groups[g].flags |= G_EXECVE;
    else if (ln->type == T_SYSCALL && groups[g].syscall < 0)
        groups[g].syscall = (int32_t)i;
    return 1;
}

/* Steps 1-4 over r->s (no GIL needed). */
static void index_scan(Run *r)
{
    const uint8_t *s = r->s;
    Py_ssize_t n = r->n, edge_lines = r->edge_lines;
    Scratch *sc = r->sc;
    Line *lines = r->lines;
    Group *groups = NULL;
    Py_ssize_t count = 0, ngroups = 0, dropped = 0, nslim = 0;
    int ok = 1, nomem = 0;
    Column *cols = r->cols;
    long long last_sec = -1;
    char last_text[32] = {0};
    /* 1. lines and headers, each line into its event (2) while its bytes are in the cache; the
     * candidates' marks (3) every MARK_BLOCK bytes, on bytes still in the cache */
    Py_ssize_t pos = 0, marked = 0, marked_line = 0;
    Py_ssize_t waiting = -1; /* the line read but not joined yet: its test and hash */
    int waiting_same = 0;
    uint64_t waiting_hash = 0;
    Py_ssize_t size = 1024; /* the events' hash table: grown (group_into) past half full */
    while (size < 2 * (n / 1024 + 16))
        size *= 2;
    uint64_t *table = room((void **)&sc->table, &sc->table_cap, size, sizeof(uint64_t));
    if (table == NULL)
        nomem = 1;
    else
        memset(table, 0xff, (size_t)size * sizeof(uint64_t));
    while (ok && !nomem && pos < n) {
        /* (into r itself: a SIGBUS may end this scan anywhere, and run_free keeps the array) */
        Line *ln = new_line(&r->lines, count, &r->cap);
        if (ln == NULL) {
            nomem = 1;
            break;
        }
        lines = r->lines;
        ok = read_line(s, pos, n, ln, 1);
        /* The line before joins its event now, this one once the next is read: the table slot
         * of a line starting an event is fetched meanwhile (a wait for memory otherwise). */
        if (waiting >= 0 && !join(r, waiting, &size, &ngroups, waiting_same, waiting_hash)) {
            nomem = 1;
            break;
        }
        waiting = -1;
        if (ok) {
            waiting = count;
            waiting_same = count > 0 && same_key(s, &lines[count - 1], ln);
            if (!waiting_same) {
                waiting_hash = key_hash(s, ln);
                __builtin_prefetch(&sc->table[(size_t)waiting_hash & (size_t)(size - 1)]);
            }
        }
        count++;
        pos = ln->eol + 1;
        if (ok && (pos - marked >= MARK_BLOCK || pos >= n)) {
            if (!join(r, waiting, &size, &ngroups, waiting_same, waiting_hash)) {
                nomem = 1;
                break;
            }
            waiting = -1;
            groups = sc->groups;
            Py_ssize_t to = pos < n ? pos : n;
            mark_block(s, n, marked, to, r->needle, r->needle_n, r->nn, lines, count);
            marked = to;
            /* 3. the events of the lines marked (the block starts at a line's start) */
            for (; marked_line < count; marked_line++)
                if (lines[marked_line].flags & L_CAND)
                    groups[lines[marked_line].group].flags |= G_CAND;
        }
    }
    if (!nomem && !join(r, waiting, &size, &ngroups, waiting_same, waiting_hash))
        nomem = 1;
    groups = sc->groups;
    if (n == 0)
        ok = 0; /* no line: the general path says what it is */
    /* 4. the events, in order of their first line: the exec images into columns, the dropped
     * counted, the others marked G_LIST for 5 (which needs the GIL) */
    for (Py_ssize_t gi = 0; ok && !nomem && gi < ngroups; gi++) {
        Group *g = &groups[gi];
        if (gi + PREFETCH_EVENTS < ngroups) { /* the SYSCALL line of an event ahead */
            const Group *ahead = &groups[gi + PREFETCH_EVENTS];
            if (ahead->syscall >= 0 && !(ahead->flags & G_CAND)) {
                const Line *sl = &lines[ahead->syscall];
                for (Py_ssize_t at = sl->start; at < sl->eol; at += 64)
                    __builtin_prefetch(s + at);
            }
        }
        Seen e;
        see(s, lines, g, count, edge_lines, &last_sec, last_text, &e);
        if (!e.stamped) {
            ok = 0;
            break;
        }
        if (!e.edge && e.kind == K_DROP) {
            dropped++;
            continue;
        }
        if (e.edge || e.kind != K_SLIM) {
            g->flags |= G_LIST;
            continue;
        }
        const Image img = e.img;
        int64_t ord = gi;
        buf_add(&r->ordinals, &ord, 8);
        if ((nslim & 7) == 0) {
            uint8_t zero = 0;
            buf_add(&r->valid, &zero, 1);
        }
        if (e.node_n && !r->valid.failed)
            r->valid.data[nslim >> 3] |= (uint8_t)(1u << (nslim & 7));
        col_add(&cols[0], e.stamp, e.stamp_len);
        col_add(&cols[1], e.node, (size_t)e.node_n);
        col_add(&cols[2], e.serial, (size_t)e.serial_n);
        col_add(&cols[3], (const char *)s + img.pid_s, (size_t)(img.pid_e - img.pid_s));
        col_add(&cols[4], (const char *)s + img.exe_s, (size_t)(img.exe_e - img.exe_s));
        nslim++;
    }
    r->groups = groups;
    r->count = count;
    r->ngroups = ngroups;
    r->dropped = dropped;
    r->nslim = nslim;
    r->ok = ok;
    r->nomem = nomem;
}

/* The lines of the events step 4 listed copied into r->listed, in order, and their offsets
 * moved there: step 5 then reads no byte of r->s (index_mapped unmaps it first). */
static void copy_listed(Run *r)
{
    for (Py_ssize_t gi = 0; gi < r->ngroups; gi++) {
        const Group *g = &r->groups[gi];
        if (!(g->flags & G_LIST))
            continue;
        for (int32_t li = g->first; li >= 0; li = r->lines[li].next) {
            Line *ln = &r->lines[li];
            Py_ssize_t at = (Py_ssize_t)r->listed.len;
            buf_add(&r->listed, r->s + ln->start, (size_t)(ln->eol - ln->start));
            buf_add(&r->listed, "\n", 1);
            Py_ssize_t delta = at - ln->start;
            ln->start += delta;
            ln->eol += delta;
            ln->body += delta;
            ln->node_s += delta;
            ln->node_e += delta;
            ln->par_s += delta;
            ln->par_e += delta;
            ln->sec_e += delta;
            ln->frac_e += delta;
        }
    }
    if (r->listed.failed)
        r->nomem = 1;
}

/* Step 5: index()'s answer from r, the listed events' lines read in s (see index()). */
static PyObject *index_result(Run *r, const uint8_t *s)
{
    if (r->nomem)
        return PyErr_NoMemory();
    if (!r->ok)
        return Py_NewRef(Py_None);
    Line *lines = r->lines;
    Py_ssize_t count = r->count, edge_lines = r->edge_lines;
    long long last_sec = -1;
    char last_text[32] = {0};
    /* 5. the events marked G_LIST, in order of their first line, as Python objects */
    PyObject *listed = PyList_New(0);
    if (listed == NULL)
        return NULL;
    for (Py_ssize_t gi = 0; gi < r->ngroups; gi++) {
        Group *g = &r->groups[gi];
        if (!(g->flags & G_LIST))
            continue;
        Seen e; /* (step 4 read its time already) */
        see(s, lines, g, count, edge_lines, &last_sec, last_text, &e);
        const Image img = e.img;
        Py_ssize_t first = e.first, last = e.last, node_n = e.node_n, serial_n = e.serial_n;
        int edge = e.edge, kind = e.kind;
        const char *stamp = e.stamp, *node = e.node, *serial = e.serial;
        size_t stamp_len = e.stamp_len;
        Py_ssize_t nlines = 0;
        for (int32_t li = g->first; li >= 0; li = lines[li].next)
            nlines++;
        PyObject *spans = PyTuple_New(2 * nlines);
        if (spans == NULL) {
            Py_DECREF(listed);
            return NULL;
        }
        Py_ssize_t k = 0;
        for (int32_t li = g->first; li >= 0; li = lines[li].next) {
            PyTuple_SET_ITEM(spans, k++, PyLong_FromSsize_t(lines[li].start));
            PyTuple_SET_ITEM(spans, k++, PyLong_FromSsize_t(lines[li].eol));
        }
        PyObject *slim;
        if (kind == K_SLIM)
            slim = Py_BuildValue("(s#s#s#s#s#)", stamp, (Py_ssize_t)stamp_len, node, node_n,
                                 serial, serial_n, (const char *)s + img.pid_s,
                                 img.pid_e - img.pid_s, (const char *)s + img.exe_s,
                                 img.exe_e - img.exe_s);
        else
            slim = Py_NewRef(Py_None);
        PyObject *piece = NULL;
        if (slim != NULL && edge) { /* the edge piece: its key and its record lines */
            Buf text = {0};
            piece_lines(&text, s, lines, g->first);
            Buf key = {0};
            buf_add(&key, "|", 1);
            buf_add(&key, node, (size_t)node_n);
            buf_add(&key, "|", 1);
            buf_add(&key, stamp, stamp_len);
            buf_add(&key, "|", 1);
            buf_add(&key, serial, (size_t)serial_n);
            if (text.failed || key.failed)
                PyErr_NoMemory();
            else
                piece = Py_BuildValue("(s#s#)", key.data, (Py_ssize_t)key.len,
                                      text.data ? text.data : "", (Py_ssize_t)text.len);
            free(text.data);
            free(key.data);
        } else if (slim != NULL) {
            piece = Py_NewRef(Py_None);
        }
        PyObject *item = piece == NULL ? NULL
                                       : Py_BuildValue("(ninniNNN)", gi, edge, first, last,
                                                       kind, spans, slim, piece);
        if (item == NULL) {
            if (piece == NULL) { /* (Py_BuildValue releases its N arguments itself) */
                Py_XDECREF(slim);
                Py_DECREF(spans);
            }
            Py_DECREF(listed);
            return NULL;
        }
        if (PyList_Append(listed, item) < 0) {
            Py_DECREF(item);
            Py_DECREF(listed);
            return NULL;
        }
        Py_DECREF(item);
    }
    int failed = r->ordinals.failed || r->valid.failed;
    for (int c = 0; c < SLIM_COLUMNS; c++)
        failed |= r->cols[c].offsets.failed || r->cols[c].data.failed;
    if (failed) {
        Py_DECREF(listed);
        return PyErr_NoMemory();
    }
    PyObject *slim = PyTuple_New(3 + SLIM_COLUMNS);
    if (slim == NULL) {
        Py_DECREF(listed);
        return NULL;
    }
    PyTuple_SET_ITEM(slim, 0, PyLong_FromSsize_t(r->nslim));
    PyTuple_SET_ITEM(slim, 1, bytes_of(&r->ordinals));
    PyTuple_SET_ITEM(slim, 2, bytes_of(&r->valid));
    for (int c = 0; c < SLIM_COLUMNS; c++)
        PyTuple_SET_ITEM(slim, 3 + c, column_pair(&r->cols[c]));
    for (Py_ssize_t i = 0; i < 3 + SLIM_COLUMNS; i++)
        if (PyTuple_GET_ITEM(slim, i) == NULL) {
            Py_DECREF(slim);
            Py_DECREF(listed);
            return NULL;
        }
    return Py_BuildValue("(nnNN)", count, r->dropped, listed, slim);
}

static PyObject *index_chunk(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer view;
    PyObject *needles;
    Py_ssize_t edge_lines;
    if (!PyArg_ParseTuple(args, "y*O!n", &view, &PyTuple_Type, &needles, &edge_lines))
        return NULL;
    Run r;
    memset(&r, 0, sizeof r);
    PyObject *result = NULL;
    if (run_start(&r, needles, edge_lines)) {
        r.s = view.buf;
        r.n = view.len;
        Py_BEGIN_ALLOW_THREADS
        index_scan(&r);
        Py_END_ALLOW_THREADS
        result = index_result(&r, r.s);
    }
    run_free(&r);
    PyBuffer_Release(&view);
    return result;
}

#ifdef AUDITD_MAPPED
/* index_mapped() reads a file through a mapping, which the file's end moving back (a log cut
 * while it is read: copytruncate) turns into SIGBUS on the next read of a page past it. Each
 * thread in index_mapped()'s scan holds a slot: itself and where to jump back to. The handler
 * (any thread's SIGBUS) looks for its thread's slot, and hands any other SIGBUS to the handler
 * that was there before ours. (Slots, not a thread-local variable: reading one from a module
 * loaded later may allocate, which a signal handler must not do.) */
#define BUS_SLOTS 64
static struct {
    unsigned long owner; /* pthread_self() of the thread scanning, 0: free */
    sigjmp_buf *jump;
    const uint8_t *map; /* its mapping: a SIGBUS elsewhere is not ours */
    size_t span;
} BUS[BUS_SLOTS];
static struct sigaction BUS_BEFORE;

/* A free slot taken for this thread, or -1 (all taken: the caller reads the range instead). */
static int bus_take(sigjmp_buf *jump, const void *map, size_t span)
{
    unsigned long self = (unsigned long)pthread_self();
    for (int i = 0; i < BUS_SLOTS; i++) {
        unsigned long free_slot = 0;
        if (__atomic_compare_exchange_n(&BUS[i].owner, &free_slot, self, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            BUS[i].map = map;
            BUS[i].span = span;
            __atomic_store_n(&BUS[i].jump, jump, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;
}

static void bus_give(int slot)
{
    __atomic_store_n(&BUS[slot].jump, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&BUS[slot].owner, 0UL, __ATOMIC_RELEASE);
}

static void on_bus(int sig, siginfo_t *info, void *context)
{
    unsigned long self = (unsigned long)pthread_self();
    /* ours: a fault the kernel raised (si_code > 0, not a signal sent) at an address of the
     * mapping this thread scans */
    for (int i = 0; info != NULL && info->si_code > 0 && i < BUS_SLOTS; i++) {
        if (__atomic_load_n(&BUS[i].owner, __ATOMIC_ACQUIRE) != self)
            continue;
        sigjmp_buf *jump = __atomic_load_n(&BUS[i].jump, __ATOMIC_ACQUIRE);
        const uint8_t *at = info->si_addr;
        if (jump != NULL && at >= BUS[i].map && at < BUS[i].map + BUS[i].span) {
            __atomic_store_n(&BUS[i].jump, NULL, __ATOMIC_RELEASE);
            siglongjmp(*jump, 1);
        }
    }
    if (BUS_BEFORE.sa_flags & SA_SIGINFO) {
        BUS_BEFORE.sa_sigaction(sig, info, context);
        return;
    }
    if (BUS_BEFORE.sa_handler != SIG_DFL && BUS_BEFORE.sa_handler != SIG_IGN) {
        BUS_BEFORE.sa_handler(sig);
        return;
    }
    signal(SIGBUS, SIG_DFL); /* what SIGBUS does without us: the process ends */
    raise(SIGBUS);
}

static int bus_guard(void)
{
    struct sigaction act, now;
    if (sigaction(SIGBUS, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) &&
        now.sa_sigaction == on_bus)
        return 1; /* (ours already: what came before stays BUS_BEFORE) */
    memset(&act, 0, sizeof act);
    act.sa_sigaction = on_bus;
    act.sa_flags = SA_SIGINFO;
    sigemptyset(&act.sa_mask);
    return sigaction(SIGBUS, &act, &BUS_BEFORE) == 0;
}

/* Whether SIGBUS still comes to on_bus (someone may have set another handler since, e.g.
 * faulthandler.disable() putting back the default): else a mapping is not read. */
static int bus_guarded(void)
{
    struct sigaction now;
    return sigaction(SIGBUS, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) &&
           now.sa_sigaction == on_bus;
}

/* index_mapped(fd, offset, length, needles, edge_lines): index() of the file's bytes
 * [offset, offset + length), read through a private read-only mapping (no copy into a buffer:
 * ~10% of the index's time over 1.2 GB), as (lines, dropped, groups, slim, listed): listed the
 * bytes the groups' spans point into (their lines, copied out before the mapping goes). None
 * where index() gives None (not for this path); False when the caller should read the range its
 * own way: the file got shorter while it was read (SIGBUS, caught), no mapping could be made,
 * SIGBUS no longer comes to our handler, or BUS_SLOTS threads hold every slot. */
static PyObject *index_mapped(PyObject *self, PyObject *args)
{
    (void)self;
    int fd;
    Py_ssize_t offset, length, edge_lines;
    PyObject *needles;
    if (!PyArg_ParseTuple(args, "innO!n", &fd, &offset, &length, &PyTuple_Type, &needles,
                          &edge_lines))
        return NULL;
    if (offset < 0 || length < 0) {
        PyErr_SetString(PyExc_ValueError, "index_mapped: negative offset or length");
        return NULL;
    }
    if (length == 0 || !bus_guarded())
        return Py_NewRef(Py_False); /* (read it instead) */
    Run *r = calloc(1, sizeof *r); /* (not a local: it outlives a siglongjmp) */
    if (r == NULL)
        return PyErr_NoMemory();
    PyObject *result = NULL;
    if (!run_start(r, needles, edge_lines))
        goto done;
    long page = sysconf(_SC_PAGESIZE);
    off_t base = (off_t)(offset - offset % (page > 0 ? page : 4096));
    size_t span = (size_t)(offset - base) + (size_t)length;
    void *map = mmap(NULL, span, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, base);
    if (map == MAP_FAILED) {
        result = Py_NewRef(Py_False); /* (read it instead) */
        goto done;
    }
    r->s = (const uint8_t *)map + (offset - base);
    r->n = length;
    int cut = 0;
    Py_BEGIN_ALLOW_THREADS
    sigjmp_buf jump;
    int slot = bus_take(&jump, map, span);
    if (slot < 0) {
        cut = 1; /* no slot to catch a SIGBUS with: read it instead */
    } else if (sigsetjmp(jump, 1) == 0) {
        index_scan(r);
        if (r->ok && !r->nomem)
            copy_listed(r);
        bus_give(slot);
    } else {
        cut = 1;
        bus_give(slot);
    }
    munmap(map, span);
    Py_END_ALLOW_THREADS
    r->s = NULL;
    if (cut) {
        result = Py_NewRef(Py_False);
        goto done;
    }
    PyObject *found = index_result(r, (const uint8_t *)r->listed.data);
    if (found == NULL || found == Py_None) {
        result = found;
        goto done;
    }
    PyObject *listed = PyBytes_FromStringAndSize(r->listed.data ? r->listed.data : "",
                                                 (Py_ssize_t)r->listed.len);
    if (listed != NULL) {
        result = Py_BuildValue("(OOOON)", PyTuple_GET_ITEM(found, 0), PyTuple_GET_ITEM(found, 1),
                               PyTuple_GET_ITEM(found, 2), PyTuple_GET_ITEM(found, 3), listed);
    }
    Py_DECREF(found);
done:
    run_free(r);
    free(r);
    return result;
}
#endif

/* ---- build(data, edge_lines): the events of a chunk of bare records as columns -------------
 *
 * The events path's chunk builder (auditd_events.EventPlan, no raw filter): the chunk read as
 * index() reads it (None for any chunk that is not all bare, whole, ASCII records), then each
 * event that lies wholly inside it (not within edge_lines lines of either end) built as
 * auditd_events._group_row builds it (event_row with need=None), straight into Arrow string
 * columns. An event whose records this code does not read (ENRICHED 0x1D, a ' or a quoted
 * value with a space, an argument in pieces or written in an unusual way, a hex value that is
 * not ASCII once decoded, a relative created/deleted PATH name under a CWD, seconds past 11
 * digits) is listed for Python to build, as is every edge event.
 *
 * Returns (lines, listed, built):
 * lines   the chunk's lines;
 * listed  [(ordinal, edge, first, last, spans, piece)] for the edge events and those Python
 *         builds: first/last 1-based line numbers, spans (start, end) byte offsets of its
 *         lines, piece (key "|node|time|serial", its record lines as _group_row writes an edge
 *         piece) for an edge event, else None;
 * built   (count, ordinals int64, then (validity bitmap, offsets int32, data) for each of
 *         BUILT_FIELDS).
 * auditd_events.py is the specification (EventPlan._fast); tests hold both equal.
 */
enum {
    B_RECORD_TYPE, B_TIME, B_DEST, B_NODE, B_SERIAL, B_TYPES, B_ARCH, B_SYSCALL, B_SUCCESS,
    B_EXIT, B_PID, B_PPID, B_UID, B_AUID, B_EUID, B_GID, B_SES, B_TTY, B_COMM, B_EXE, B_KEY,
    B_USER, B_CWD, B_ARGC, B_COMMAND_LINE, B_PROCTITLE, B_PATH, B_FILE_PATH, B_FILE_NAME,
    B_FILE_ACTION, B_EVENT_KEY, B_COUNT
};

/* The SYSCALL keys event_row reads (auditd_events._SYSCALL_KEYS), in B_ column order. */
enum { S_ARCH, S_SYSCALL, S_SUCCESS, S_EXIT, S_PPID, S_PID, S_UID, S_AUID, S_EUID, S_GID, S_SES,
       S_TTY, S_COMM, S_EXE, S_KEY, S_COUNT };
static const char *const BUILD_SYSCALL_KEYS[S_COUNT] = {
    "arch", "syscall", "success", "exit", "ppid", "pid", "uid", "auid", "euid", "gid", "ses",
    "tty", "comm", "exe", "key"};

typedef struct {
    Buf valid, offsets, data;
    Py_ssize_t count;
} Out;

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
    int set;
} Val;

static void out_put(Out *o, const Val *v)
{
    if (o->offsets.len == 0) {
        int32_t zero = 0;
        buf_add(&o->offsets, &zero, 4);
    }
    if ((o->count & 7) == 0) {
        uint8_t zero = 0;
        buf_add(&o->valid, &zero, 1);
    }
    if (v->set) {
        if (!o->valid.failed)
            o->valid.data[o->count >> 3] |= (uint8_t)(1u << (o->count & 7));
        buf_add(&o->data, v->p, (size_t)v->n);
    }
    int32_t end = (int32_t)o->data.len;
    buf_add(&o->offsets, &end, 4);
    o->count++;
}

static inline Val val_of(const uint8_t *p, Py_ssize_t n)
{
    Val v = {p, n, 1};
    return v;
}

static inline Val val_text(const char *text)
{
    Val v = {(const uint8_t *)text, (Py_ssize_t)strlen(text), 1};
    return v;
}

/* auditd.decode(key, written) into *v: quotes removed; upper-case hex of even length decoded
 * (NUL as a space) when hex_key; else as written. 0 when the decoded bytes are not ASCII (Python
 * builds the event: its UTF-8 replacement rules). `scratch` has room for the decoded bytes. */
static int decode_value(const uint8_t *s, Py_ssize_t vs, Py_ssize_t ve, int hex_key,
                        uint8_t **scratch, Val *v)
{
    Py_ssize_t n = ve - vs;
    if (n > 1 && s[vs] == '"' && s[ve - 1] == '"') {
        *v = val_of(s + vs + 1, n - 2);
        return 1;
    }
    if (hex_key && n > 0 && (n & 1) == 0) {
        Py_ssize_t i = vs;
        while (i < ve && hex_upper(s[i]))
            i++;
        if (i == ve) {
            uint8_t *out = *scratch;
            for (Py_ssize_t j = 0; j < n / 2; j++) {
                uint8_t c = (uint8_t)(hex_value(s[vs + 2 * j]) << 4 | hex_value(s[vs + 2 * j + 1]));
                if (c >= 0x80)
                    return 0;
                out[j] = c ? c : ' ';
            }
            *v = val_of(out, n / 2);
            *scratch += n / 2;
            return 1;
        }
    }
    *v = val_of(s + vs, n);
    return 1;
}

typedef struct {
    long long index;
    Py_ssize_t order, vs, ve;
    int quoted;
} Arg;

static int arg_order(const void *a, const void *b)
{
    const Arg *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}


/* Whether a line is ENRICHED, holds a ' or a quoted value with a space (_take's and _fields'
 * general path): Python builds its event. */
static inline int line_complex(const uint8_t *s, const Line *ln)
{
    return (ln->flags & (L_SQ | L_GS)) || quoted_space(s, ln->body, ln->eol);
}

/* One event built into the columns, or 0: Python builds it (nothing was added). */
static int build_event(const uint8_t *s, const Line *lines, const Group *g, Out *outs,
                       uint8_t *scratch_base, Arg **args, Py_ssize_t *args_cap, long long *last_sec,
                       char *last_text)
{
    uint8_t *scratch = scratch_base;
    const Line *head = &lines[g->first];
    Val v[B_COUNT];
    memset(v, 0, sizeof v);
    /* types (distinct, in order) */
    Py_ssize_t type_s[16], type_e[16];
    int ntypes = 0;
    const Line *syscall = NULL, *cwd = NULL, *title = NULL;
    Py_ssize_t nargs = 0, order = 0;
    Val argc = {0};
    int has_execve = 0, syscalls = 0;
    /* PATH items: the first one's name, the created/deleted one */
    int paths = 0;
    Val path = {0}, file_path = {0};
    const char *action = NULL;
    int action_done = 0;
    for (int32_t li = g->first; li >= 0; li = lines[li].next) {
        const Line *ln = &lines[li];
        if (line_complex(s, ln))
            return 0;
        Py_ssize_t ts = ln->node_e == ln->node_s ? ln->start + 5 : ln->node_e + 6;
        Py_ssize_t te = ts;
        while (s[te] != ' ')
            te++;
        int seen = 0;
        for (int t = 0; t < ntypes && !seen; t++)
            seen = type_e[t] - type_s[t] == te - ts && memcmp(s + type_s[t], s + ts, (size_t)(te - ts)) == 0;
        if (!seen) {
            if (ntypes == 16)
                return 0;
            type_s[ntypes] = ts;
            type_e[ntypes++] = te;
        }
        Py_ssize_t b = ln->body, e = ln->eol;
        if (ln->type == T_SYSCALL) {
            syscalls++;
            if (syscall == NULL)
                syscall = ln;
        } else if (ln->type == T_EXECVE) {
            has_execve = 1;
            for (Py_ssize_t i = b; i < e; i++)
                if (s[i] != ' ' && is_space(s[i]))
                    return 0; /* _fields splits on any white space: Python */
            Py_ssize_t p = b;
            while (p < e) {
                while (p < e && s[p] == ' ')
                    p++;
                if (p >= e)
                    break;
                Py_ssize_t w = p;
                while (p < e && s[p] != ' ')
                    p++;
                const uint8_t *eq = memchr(s + w, '=', (size_t)(p - w));
                if (eq == NULL)
                    continue;
                Py_ssize_t k_e = eq - s, vs = k_e + 1;
                if (k_e - w == 4 && memcmp(s + w, "argc", 4) == 0) {
                    argc = val_of(s + vs, p - vs);
                    continue;
                }
                if (s[w] != 'a')
                    continue;
                if (memchr(s + w, '[', (size_t)(k_e - w)) != NULL)
                    return 0; /* an argument in pieces (or a key like one): Python */
                if (k_e - w < 2)
                    continue;
                Py_ssize_t d = w + 1;
                while (d < k_e && is_digit(s[d]))
                    d++;
                if (d != k_e)
                    continue; /* a1_len and others: not an argument */
                if (k_e - w > 8 || (s[w + 1] == '0' && k_e - w > 2))
                    return 0; /* a huge or zero-led index: Python's int() */
                long long index = 0;
                for (Py_ssize_t j = w + 1; j < k_e; j++)
                    index = index * 10 + (s[j] - '0');
                if (nargs == *args_cap) {
                    Py_ssize_t cap = *args_cap ? *args_cap * 2 : 64;
                    Arg *a2 = realloc(*args, (size_t)cap * sizeof(Arg));
                    if (a2 == NULL)
                        return -1;
                    *args = a2;
                    *args_cap = cap;
                }
                Arg *a = &(*args)[nargs++];
                a->index = index;
                a->order = order++;
                a->vs = vs;
                a->ve = p;
                a->quoted = p - vs > 1 && s[vs] == '"' && s[p - 1] == '"';
            }
        } else if (te - ts == 3 && memcmp(s + ts, "CWD", 3) == 0) {
            if (cwd == NULL)
                cwd = ln;
        } else if (te - ts == 4 && memcmp(s + ts, "PATH", 4) == 0) {
            Py_ssize_t ns, ne, ts2, te2;
            int has_name = take(s, b, e, "name", &ns, &ne);
            Val name = {0};
            if (has_name && !decode_value(s, ns, ne, 1, &scratch, &name))
                return 0;
            if (paths++ == 0 && has_name)
                path = name;
            if (action_done || !has_name)
                continue;
            int has_type = take(s, b, e, "nametype", &ts2, &te2);
            if (!has_type || ts2 == te2)
                has_type = take(s, b, e, "objtype", &ts2, &te2);
            if (!has_type)
                continue;
            int create = span_is(s, ts2, te2, "CREATE");
            if (!create && !span_is(s, ts2, te2, "DELETE"))
                continue;
            if (name.n == 0 || name.p[0] != '/')
                return 0; /* relative: joined to the CWD below, in Python */
            file_path = name;
            action = create ? "created" : "deleted";
            action_done = create;
        } else if (te - ts == 9 && memcmp(s + ts, "PROCTITLE", 9) == 0) {
            if (title == NULL)
                title = ln;
        }
    }
    /* a relative name with no CWD value stays as written: punted above either way (rare) */
    Py_ssize_t vs[S_COUNT], ve[S_COUNT];
    for (int k = 0; k < S_COUNT; k++)
        vs[k] = -1;
    if (syscall != NULL) {
        int found = 0;
        for (int k = 0; k < S_COUNT; k++) {
            if (!take(s, syscall->body, syscall->eol, BUILD_SYSCALL_KEYS[k], &vs[k], &ve[k]))
                vs[k] = -1;
            found |= vs[k] >= 0;
        }
        if (!found && syscalls > 1)
            return 0; /* event_row reads the next SYSCALL record then: Python */
    }
    static const int RAW_COLUMNS[][2] = {
        {S_ARCH, B_ARCH}, {S_SYSCALL, B_SYSCALL}, {S_SUCCESS, B_SUCCESS}, {S_EXIT, B_EXIT},
        {S_PID, B_PID}, {S_PPID, B_PPID}, {S_UID, B_UID}, {S_AUID, B_AUID}, {S_EUID, B_EUID},
        {S_GID, B_GID}, {S_SES, B_SES}, {S_TTY, B_TTY}};
    for (size_t i = 0; i < sizeof RAW_COLUMNS / sizeof RAW_COLUMNS[0]; i++) {
        int k = RAW_COLUMNS[i][0];
        if (vs[k] >= 0)
            v[RAW_COLUMNS[i][1]] = val_of(s + vs[k], ve[k] - vs[k]);
    }
    static const int HEX_COLUMNS[][2] = {{S_COMM, B_COMM}, {S_EXE, B_EXE}, {S_KEY, B_KEY}};
    for (size_t i = 0; i < 3; i++) {
        int k = HEX_COLUMNS[i][0];
        if (vs[k] >= 0 && !decode_value(s, vs[k], ve[k], 1, &scratch, &v[HEX_COLUMNS[i][1]]))
            return 0;
    }
    if (cwd != NULL) {
        Py_ssize_t cs, ce;
        if (take(s, cwd->body, cwd->eol, "cwd", &cs, &ce)) {
            if (!decode_value(s, cs, ce, 1, &scratch, &v[B_CWD]))
                return 0;
        } else {
            v[B_CWD] = val_of(s, 0); /* "": present, empty */
        }
    }
    if (title != NULL) {
        Py_ssize_t ps, pe;
        if (take(s, title->body, title->eol, "proctitle", &ps, &pe) &&
            !decode_value(s, ps, pe, 1, &scratch, &v[B_PROCTITLE]))
            return 0;
    }
    /* the command line: aN values by index (the last written of each), joined by spaces */
    if (nargs) {
        qsort(*args, (size_t)nargs, sizeof(Arg), arg_order);
        uint8_t *line = scratch;
        Py_ssize_t n = 0, joined = 0;
        for (Py_ssize_t i = 0; i < nargs; i++) {
            const Arg *a = &(*args)[i];
            if (i + 1 < nargs && (*args)[i + 1].index == a->index)
                continue; /* a later one of the same index wins */
            if (joined++)
                line[n++] = ' ';
            scratch = line + n;
            Val arg;
            if (a->quoted)
                arg = val_of(s + a->vs + 1, a->ve - a->vs - 2);
            else if (!decode_value(s, a->vs, a->ve, 1, &scratch, &arg))
                return 0;
            memmove(line + n, arg.p, (size_t)arg.n);
            n += arg.n;
            scratch = line + n;
        }
        v[B_COMMAND_LINE] = val_of(line, n);
    }
    if (argc.set)
        v[B_ARGC] = argc;
    if (!v[B_COMMAND_LINE].set)
        v[B_COMMAND_LINE] = v[B_PROCTITLE];
    int is_exec = has_execve;
    for (int i = 0; !is_exec && vs[S_ARCH] >= 0 && vs[S_SYSCALL] >= 0 && i < 6; i++)
        is_exec = span_is(s, vs[S_ARCH], ve[S_ARCH], EXEC_SYSCALLS[i][0]) &&
                  span_is(s, vs[S_SYSCALL], ve[S_SYSCALL], EXEC_SYSCALLS[i][1]);
    int failed = vs[S_SUCCESS] >= 0 && span_is(s, vs[S_SUCCESS], ve[S_SUCCESS], "no");
    if (is_exec && !failed)
        v[B_RECORD_TYPE] = val_text("execve");
    else if (action != NULL && !failed)
        v[B_RECORD_TYPE] = val_text(action[0] == 'c' ? "file_create" : "file_delete");
    else
        v[B_RECORD_TYPE] = val_of(s + type_s[0], type_e[0] - type_s[0]);
    if (!v[B_EXE].set && is_exec && path.set && path.n > 0 && path.p[0] == '/')
        v[B_EXE] = path;
    v[B_USER] = v[B_UID];
    v[B_PATH] = path;
    if (action != NULL) {
        v[B_FILE_PATH] = file_path;
        v[B_FILE_ACTION] = val_text(action);
        Py_ssize_t slash = file_path.n;
        while (slash > 0 && file_path.p[slash - 1] != '/')
            slash--;
        v[B_FILE_NAME] = val_of(file_path.p + slash, file_path.n - slash);
    }
    /* types joined by commas */
    uint8_t *types = scratch;
    Py_ssize_t tn = 0;
    for (int t = 0; t < ntypes; t++) {
        if (t)
            types[tn++] = ',';
        memcpy(types + tn, s + type_s[t], (size_t)(type_e[t] - type_s[t]));
        tn += type_e[t] - type_s[t];
    }
    v[B_TYPES] = val_of(types, tn);
    scratch += tn;
    /* time, node, serial, key */
    char stamp[48];
    size_t stamp_len = 0;
    if (!when(s, head, stamp, &stamp_len, last_sec, last_text))
        return 0;
    v[B_TIME] = val_of((const uint8_t *)stamp, (Py_ssize_t)stamp_len);
    Py_ssize_t node_n = head->node_e - head->node_s;
    if (node_n) {
        v[B_DEST] = v[B_NODE] = val_of(s + head->node_s, node_n);
    }
    v[B_SERIAL] = val_of(s + head->frac_e + 1, head->par_e - head->frac_e - 1);
    uint8_t *key = scratch;
    Py_ssize_t kn = 0;
    key[kn++] = '|';
    memcpy(key + kn, s + head->node_s, (size_t)node_n);
    kn += node_n;
    key[kn++] = '|';
    memcpy(key + kn, stamp, stamp_len);
    kn += (Py_ssize_t)stamp_len;
    key[kn++] = '|';
    memcpy(key + kn, v[B_SERIAL].p, (size_t)v[B_SERIAL].n);
    kn += v[B_SERIAL].n;
    v[B_EVENT_KEY] = val_of(key, kn);
    for (int c = 0; c < B_COUNT; c++)
        out_put(&outs[c], &v[c]);
    return 1;
}

/* Whether a column ran out of memory. */
static inline int out_failed(const Out *o)
{
    return o->valid.failed || o->offsets.failed || o->data.failed;
}

static void out_free(Out *o)
{
    free(o->valid.data);
    free(o->offsets.data);
    free(o->data.data);
}

static PyObject *out_triple(Out *o)
{
    if (o->offsets.len == 0) {
        int32_t zero = 0;
        buf_add(&o->offsets, &zero, 4);
    }
    return Py_BuildValue("(NNN)", bytes_of(&o->valid), bytes_of(&o->offsets), bytes_of(&o->data));
}

static PyObject *build_chunk(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer view;
    Py_ssize_t edge_lines;
    if (!PyArg_ParseTuple(args, "y*n", &view, &edge_lines))
        return NULL;
    const uint8_t *s = view.buf;
    Py_ssize_t n = view.len;
    PyObject *result = NULL, *listed = NULL;
    Line *lines = NULL;
    Group *groups = NULL;
    uint64_t *table = NULL;
    uint8_t *scratch = NULL;
    Arg *argv = NULL;
    Py_ssize_t args_cap = 0;
    Py_ssize_t count = 0, cap = 0, ngroups = 0;
    int ok = 1, nomem = 0;
    Out outs[B_COUNT];
    Buf ordinals = {0};
    memset(outs, 0, sizeof outs);
    Py_ssize_t *pending = NULL; /* the groups Python builds */
    Py_ssize_t npending = 0;
    if (n > INT32_MAX / 4)
        ok = 0; /* int32 offsets: Python reads a chunk this big */

    Py_BEGIN_ALLOW_THREADS
    /* lines and headers, events: as index() */
    Py_ssize_t pos = 0;
    while (ok && pos < n) {
        Line *ln = new_line(&lines, count, &cap);
        if (ln == NULL) {
            nomem = 1;
            break;
        }
        ok = read_line(s, pos, n, ln, 0);
        count++;
        pos = ln->eol + 1;
    }
    if (n == 0)
        ok = 0;
    Py_ssize_t size = 16;
    while (ok && !nomem && size < 2 * count)
        size *= 2;
    if (ok && !nomem) {
        table = malloc((size_t)size * sizeof(uint64_t));
        groups = malloc((size_t)(count ? count : 1) * sizeof(Group));
        pending = malloc((size_t)(count ? count : 1) * sizeof(Py_ssize_t));
        scratch = malloc((size_t)n + 256);
        if (table == NULL || groups == NULL || pending == NULL || scratch == NULL)
            nomem = 1;
        else
            memset(table, 0xff, (size_t)size * sizeof(uint64_t));
    }
    for (Py_ssize_t i = 0; ok && !nomem && i < count; i++)
        group_line(s, lines, i, table, size, groups, &ngroups);
    /* the events wholly inside the chunk, built */
    long long last_sec = -1;
    char last_text[32] = {0};
    for (Py_ssize_t gi = 0; ok && !nomem && gi < ngroups; gi++) {
        Group *g = &groups[gi];
        Py_ssize_t first = g->first + 1, last = g->last + 1;
        int edge = (first <= edge_lines ? 1 : 0) | (last > count - edge_lines ? 2 : 0);
        int built = edge ? 0 : build_event(s, lines, g, outs, scratch, &argv, &args_cap,
                                           &last_sec, last_text);
        if (built < 0) {
            nomem = 1;
        } else if (built) {
            int64_t ord = gi;
            buf_add(&ordinals, &ord, 8);
        } else {
            pending[npending++] = gi;
        }
    }
    Py_END_ALLOW_THREADS

    if (nomem || ordinals.failed) {
        PyErr_NoMemory();
        goto done;
    }
    for (int c = 0; c < B_COUNT; c++)
        if (out_failed(&outs[c])) {
            PyErr_NoMemory();
            goto done;
        }
    if (!ok) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    listed = PyList_New(0);
    if (listed == NULL)
        goto done;
    long long last_sec2 = -1;
    char last_text2[32] = {0};
    for (Py_ssize_t pi = 0; pi < npending; pi++) {
        Py_ssize_t gi = pending[pi];
        Group *g = &groups[gi];
        Py_ssize_t first = g->first + 1, last = g->last + 1;
        int edge = (first <= edge_lines ? 1 : 0) | (last > count - edge_lines ? 2 : 0);
        Py_ssize_t nlines = 0;
        for (int32_t li = g->first; li >= 0; li = lines[li].next)
            nlines++;
        PyObject *spans = PyTuple_New(2 * nlines);
        if (spans == NULL)
            goto done;
        Py_ssize_t k = 0;
        for (int32_t li = g->first; li >= 0; li = lines[li].next) {
            PyTuple_SET_ITEM(spans, k++, PyLong_FromSsize_t(lines[li].start));
            PyTuple_SET_ITEM(spans, k++, PyLong_FromSsize_t(lines[li].eol));
        }
        PyObject *piece = NULL;
        const Line *head = &lines[g->first];
        char stamp[48];
        size_t stamp_len = 0;
        if (edge && when(s, head, stamp, &stamp_len, &last_sec2, last_text2)) {
            Buf text = {0}, key = {0};
            piece_lines(&text, s, lines, g->first);
            buf_add(&key, "|", 1);
            buf_add(&key, s + head->node_s, (size_t)(head->node_e - head->node_s));
            buf_add(&key, "|", 1);
            buf_add(&key, stamp, stamp_len);
            buf_add(&key, "|", 1);
            buf_add(&key, s + head->frac_e + 1, (size_t)(head->par_e - head->frac_e - 1));
            if (text.failed || key.failed)
                PyErr_NoMemory();
            else
                piece = Py_BuildValue("(s#s#)", key.data, (Py_ssize_t)key.len,
                                      text.data ? text.data : "", (Py_ssize_t)text.len);
            free(text.data);
            free(key.data);
        } else {
            piece = Py_NewRef(Py_None); /* (an edge event past 11 digits of seconds: Python) */
        }
        PyObject *item = piece == NULL ? NULL
                                       : Py_BuildValue("(niinNN)", gi, edge, (int)first, last,
                                                       spans, piece);
        if (item == NULL) {
            if (piece == NULL)
                Py_DECREF(spans);
            goto done;
        }
        if (PyList_Append(listed, item) < 0) {
            Py_DECREF(item);
            goto done;
        }
        Py_DECREF(item);
    }
    {
        Py_ssize_t nbuilt = (Py_ssize_t)(ordinals.len / 8);
        PyObject *built = PyTuple_New(2 + B_COUNT);
        if (built == NULL)
            goto done;
        PyTuple_SET_ITEM(built, 0, PyLong_FromSsize_t(nbuilt));
        PyTuple_SET_ITEM(built, 1, bytes_of(&ordinals));
        for (int c = 0; c < B_COUNT; c++)
            PyTuple_SET_ITEM(built, 2 + c, out_triple(&outs[c]));
        for (Py_ssize_t i = 0; i < 2 + B_COUNT; i++)
            if (PyTuple_GET_ITEM(built, i) == NULL) {
                Py_DECREF(built);
                goto done;
            }
        result = Py_BuildValue("(nON)", count, listed, built);
    }
done:
    Py_XDECREF(listed);
    free(lines);
    free(groups);
    free(table);
    free(scratch);
    free(argv);
    free(pending);
    free(ordinals.data);
    for (int c = 0; c < B_COUNT; c++)
        out_free(&outs[c]);
    PyBuffer_Release(&view);
    return result;
}


/* ---- records(data): a chunk of bare records as raw events ----------------------------------
 *
 * auditd.RawPlan without a raw filter (one row per record line: host, _time, _raw) over a chunk
 * that index() would read (every line a bare, whole, ASCII record; None otherwise, and for a
 * node= name past 100 bytes or seconds past 11 digits: the Python path reads it). host is the
 * record's node= (None without), _time audit_time's text, _raw the line.
 * Returns (count, host (validity, offsets, data), _time (validity, offsets, data), _raw (...)).
 */
static PyObject *raw_records(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    const uint8_t *s = view.buf;
    Py_ssize_t n = view.len;
    Out outs[3];
    memset(outs, 0, sizeof outs);
    int ok = n > 0 && n <= INT32_MAX / 4; /* int32 offsets */
    long long last_sec = -1;
    char last_text[32] = {0};
    PyObject *result = NULL;

    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t pos = 0;
    while (ok && pos < n) {
        Line ln;
        char stamp[48];
        size_t stamp_len = 0;
        if (!read_line(s, pos, n, &ln, 0) || ln.node_e - ln.node_s > 100 ||
            !when(s, &ln, stamp, &stamp_len, &last_sec, last_text)) {
            ok = 0;
            break;
        }
        Val host = {s + ln.node_s, ln.node_e - ln.node_s, ln.node_e > ln.node_s};
        Val at = val_of((const uint8_t *)stamp, (Py_ssize_t)stamp_len);
        Val raw = val_of(s + ln.start, ln.eol - ln.start);
        out_put(&outs[0], &host);
        out_put(&outs[1], &at);
        out_put(&outs[2], &raw);
        pos = ln.eol + 1;
    }
    Py_END_ALLOW_THREADS

    int failed = 0;
    for (int c = 0; c < 3; c++)
        failed |= out_failed(&outs[c]);
    if (failed)
        PyErr_NoMemory();
    else if (!ok)
        result = Py_NewRef(Py_None);
    else
        result = Py_BuildValue("(nNNN)", outs[0].count, out_triple(&outs[0]),
                               out_triple(&outs[1]), out_triple(&outs[2]));
    for (int c = 0; c < 3; c++)
        out_free(&outs[c]);
    PyBuffer_Release(&view);
    return result;
}

/* set_avx2(flag): whether the byte scans use AVX2 from now on (where the CPU has it; tests hold
 * both ways equal); the previous setting. */
static PyObject *set_avx2(PyObject *self, PyObject *arg)
{
    (void)self;
    int flag = PyObject_IsTrue(arg);
    if (flag < 0)
        return NULL;
#ifdef AUDITD_AVX2
    int before = HAVE_AVX2;
    HAVE_AVX2 = flag && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    return PyBool_FromLong(before);
#else
    return PyBool_FromLong(0);
#endif
}

static PyMethodDef methods[] = {
    {"set_avx2", set_avx2, METH_O, "Whether the byte scans use AVX2 (where the CPU has it)."},
    {"build", build_chunk, METH_VARARGS,
     "build(data, edge_lines) -> (lines, listed, built) or None (see build_chunk)."},
    {"records", raw_records, METH_VARARGS,
     "records(data) -> (count, host, _time, _raw) or None (see raw_records)."},
    {"index", index_chunk, METH_VARARGS,
     "index(data, needles, edge_lines) -> (lines, dropped, groups, slim) or None (see the "
     "module docstring)."},
#ifdef AUDITD_MAPPED
    {"index_mapped", index_mapped, METH_VARARGS,
     "index_mapped(fd, offset, length, needles, edge_lines) -> index() of the file's range read "
     "through a mapping, with the bytes its spans point into; None or False (see there)."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "escudo.sources._auditd",
    "The auditd hunt's chunk index in C (see escudo.sources.auditd_hunt).", -1, methods,
};

PyMODINIT_FUNC PyInit__auditd(void)
{
    classes_init();
#ifdef AUDITD_AVX2
    __builtin_cpu_init();
    HAVE_AVX2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
#endif
    if (pthread_key_create(&SCRATCH_KEY, scratch_free) != 0)
        return PyErr_NoMemory();
#ifdef AUDITD_MAPPED
    bus_guard(); /* (failing, SIGBUS stays elsewhere: bus_guarded() says so, nothing is mapped) */
#endif
    if (PyType_Ready(&ProcessesType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddObjectRef(m, "Processes", (PyObject *)&ProcessesType) < 0)
        Py_CLEAR(m);
    return m;
}
