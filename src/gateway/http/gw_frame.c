/*
 * Incremental HTTP/1.x request framer (contract in gw_frame.h). The end of the head is found by
 * scanning only the new bytes with memchr() for LF; the head is then parsed once, complete.
 * Bodies are skipped by counting; only chunk-size lines and trailers are read byte by byte.
 * The rules are strict where evhttp and we could disagree on where a request ends.
 */
#include "gateway/http/gw_frame.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum fr_state {
    FR_START,     /* before the request line: skipping empty lines */
    FR_HEAD,      /* in the head, looking for the empty line */
    FR_HEAD_WAIT, /* head found, waiting for gw_frame_head() */
    FR_BODY,      /* Content-Length body */
    FR_CSIZE,     /* chunk-size digits */
    FR_CEXT,      /* chunk extensions, up to the end of the line */
    FR_CSIZE_LF,  /* CR seen at the end of a chunk-size line */
    FR_CDATA,     /* chunk data */
    FR_CDATA_END, /* the CRLF after chunk data */
    FR_CDATA_LF,  /* CR seen after chunk data */
    FR_TRAILER,   /* at the start of a trailer line or of the final empty line; this state */
                  /* and the three after it hold trailer bytes (fr_chunk_byte() counts them) */
    FR_TLINE,     /* inside a trailer line */
    FR_TLINE_LF,  /* CR seen inside a trailer line */
    FR_TEND_LF,   /* CR seen at the start of the final empty line */
    FR_DONE,
    FR_ERROR,
};

/* The request line, checked byte by byte as it arrives (fr_check_line()). */
enum fr_line {
    RL_METHOD,  /* method token */
    RL_TARGET,  /* request target */
    RL_VERSION, /* "HTTP/d.d" */
    RL_CR,      /* CR seen after the version */
    RL_DONE,    /* the request line is complete and well formed */
};

/* Longest method token taken for one: a longer run of token bytes is not HTTP. */
#define FR_METHOD_MAX 32

struct gw_frame {
    size_t max_head;
    size_t max_body;
    enum fr_state st;
    struct gw_frame_info info;
    size_t consumed;    /* bytes of this request so far, skipped empty lines included */
    int hstate;         /* FR_HEAD: 0 inside a line, 1 just after LF, 2 after LF CR */
    enum fr_line rl;    /* FR_HEAD: progress through the request line */
    size_t rl_n;        /* bytes of the current request-line part */
    uint64_t left;      /* bytes left in the Content-Length body or in the current chunk */
    uint64_t chunk_sum; /* sum of the chunk sizes so far */
    uint64_t csize;     /* chunk size being read */
    size_t cline;       /* bytes of the current chunk-size line so far */
    bool cdigits;       /* the chunk-size line has at least one digit */
    size_t trailer;     /* trailer bytes so far (they count toward max_head) */
    bool tcolon;        /* the current trailer line has its ':' */
};

struct gw_frame *gw_frame_new(size_t max_header_size, size_t max_body_size)
{
    struct gw_frame *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->max_head = max_header_size;
    f->max_body = max_body_size;
    f->st = FR_START;
    return f;
}

void gw_frame_free(struct gw_frame *f)
{
    free(f);
}

const struct gw_frame_info *gw_frame_info(const struct gw_frame *f)
{
    return &f->info;
}

bool gw_frame_is_busy(const struct gw_frame *f)
{
    return f->st != FR_START && f->st != FR_DONE && f->st != FR_ERROR;
}

static void fr_reset(struct gw_frame *f)
{
    size_t max_head = f->max_head, max_body = f->max_body;

    memset(f, 0, sizeof(*f));
    f->max_head = max_head;
    f->max_body = max_body;
    f->st = FR_START;
}

static enum gw_frame_ev fr_fail(struct gw_frame *f, int status)
{
    f->info.status = status;
    f->st = FR_ERROR;
    return GW_FRAME_ERROR;
}

static bool fr_is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* RFC 9110 tchar. */
static bool fr_is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int fr_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ASCII case-insensitive comparison of s[0..n) with the lower-case literal lit. */
static bool fr_ieq(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)lit[i])
            return false;
    }
    return true;
}

/* The methods evhttp 2.1 knows (exact, case-sensitive); any other token is answered 501. */
static bool fr_method_is_known(const char *m, size_t n)
{
    static const char *const methods[] = {"GET",     "POST",  "HEAD",    "PUT",  "DELETE",
                                          "OPTIONS", "TRACE", "CONNECT", "PATCH"};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strlen(methods[i]) == n && memcmp(methods[i], m, n) == 0)
            return true;
    }
    return false;
}

/*
 * evhttp 2.1 reads a body only for these methods (exact, case-sensitive); for any other method
 * it would parse the body as the next request, so such a body is refused instead.
 */
static bool fr_method_reads_body(const char *m, size_t n)
{
    static const char *const methods[] = {"GET",     "POST",    "PUT",  "DELETE",
                                          "OPTIONS", "CONNECT", "PATCH"};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strlen(methods[i]) == n && memcmp(methods[i], m, n) == 0)
            return true;
    }
    return false;
}

/*
 * "METHOD SP target SP HTTP/d.d" with exactly one space between parts, as evhttp splits it.
 * Returns 0, 400 (malformed), 505 (a version other than 1.0 and 1.1: evhttp would answer in
 * that version) or 501 (a method evhttp does not know: it would answer with an HTML page).
 */
static int fr_request_line(struct gw_frame *f, const char *s, size_t n, bool *body_ok)
{
    size_t i = 0, method, target;
    const char *v;

    while (i < n && fr_is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ' ')
        return 400;
    method = i;
    *body_ok = fr_method_reads_body(s, i);
    target = ++i;
    while (i < n && (unsigned char)s[i] > ' ' && s[i] != 0x7f)
        i++;
    if (i == target || i >= n || s[i] != ' ')
        return 400;
    v = s + i + 1;
    if (n - i - 1 != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1' || v[7] > '1')
        return 505;
    if (!fr_method_is_known(s, method))
        return 501;
    f->info.http11 = v[7] == '1';
    return 0;
}

static int fr_content_length(struct gw_frame *f, const char *v, size_t n)
{
    uint64_t cl = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (cl > ((uint64_t)INT64_MAX - (uint64_t)(v[i] - '0')) / 10)
            return -1; /* evhttp keeps lengths in an int64 */
        cl = cl * 10 + (uint64_t)(v[i] - '0');
    }
    if (f->info.has_content_length && f->info.content_length != cl)
        return -1;
    f->info.has_content_length = true;
    f->info.content_length = cl;
    return 0;
}

/*
 * One header line s[0..n) without its line end; off and full are the line's offset in the head
 * and its length with the line end (to cut an Expect line out).
 */
static int fr_header(struct gw_frame *f, const char *s, size_t n, size_t off, size_t full)
{
    size_t name = 0, vb, ve;

    while (name < n && fr_is_tchar((unsigned char)s[name]))
        name++;
    /* Also refuses folded lines (leading SP/HT) and whitespace before the colon. */
    if (name == 0 || name >= n || s[name] != ':')
        return -1;
    for (size_t i = name + 1; i < n; i++) {
        if (fr_is_ctl((unsigned char)s[i]))
            return -1;
    }
    vb = name + 1;
    ve = n;
    while (vb < ve && (s[vb] == ' ' || s[vb] == '\t'))
        vb++;
    while (ve > vb && (s[ve - 1] == ' ' || s[ve - 1] == '\t'))
        ve--;
    if (fr_ieq(s, name, "content-length"))
        return fr_content_length(f, s + vb, ve - vb);
    if (fr_ieq(s, name, "transfer-encoding")) {
        /* evhttp understands exactly "chunked", once; anything else would be misframed. */
        if (f->info.chunked || !fr_ieq(s + vb, ve - vb, "chunked"))
            return -1;
        f->info.chunked = true;
        return 0;
    }
    if (fr_ieq(s, name, "expect") && fr_ieq(s + vb, ve - vb, "100-continue") &&
        !f->info.expect_continue) {
        f->info.expect_continue = true;
        f->info.expect_off = off;
        f->info.expect_len = full;
    }
    return 0;
}

static enum gw_frame_ev fr_parse_head(struct gw_frame *f, const char *h, size_t n)
{
    const char *line = h, *end = h + n, *nl;
    bool body_ok = false, has_body;
    size_t len;
    int status;

    for (bool first = true;; first = false) {
        nl = memchr(line, '\n', (size_t)(end - line));
        assert(nl != NULL); /* the head ends with an empty line */
        len = (size_t)(nl - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (first) {
            if ((status = fr_request_line(f, line, len, &body_ok)) != 0)
                return fr_fail(f, status);
        } else if (len == 0) {
            break;
        } else if (fr_header(f, line, len, (size_t)(line - h), (size_t)(nl + 1 - line)) < 0) {
            return fr_fail(f, 400);
        }
        line = nl + 1;
    }
    if (f->info.has_content_length && f->info.chunked)
        return fr_fail(f, 400);
    has_body = f->info.chunked || f->info.content_length > 0;
    if (has_body && !body_ok)
        return fr_fail(f, 400);
    if (f->info.content_length > f->max_body)
        return fr_fail(f, 413);
    if (f->info.chunked) {
        f->st = FR_CSIZE;
        return GW_FRAME_MORE;
    }
    if (f->info.content_length > 0) {
        f->left = f->info.content_length;
        f->st = FR_BODY;
        return GW_FRAME_MORE;
    }
    f->st = FR_DONE;
    f->info.total_len = f->consumed;
    return GW_FRAME_DONE;
}

enum gw_frame_ev gw_frame_head(struct gw_frame *f, const char *head)
{
    assert(f->st == FR_HEAD_WAIT);
    return fr_parse_head(f, head, f->info.head_len);
}

/*
 * Checks the request line as its bytes arrive (p[0..n), the bytes after those seen before), so
 * that a client speaking something else (TLS, SSH, binary) is refused at its first impossible
 * byte instead of after read_timeout: a method of token bytes, one space, a target of visible
 * bytes, one space, "HTTP/" digit "." digit, then CRLF or LF. Returns -1 at the first byte that
 * cannot belong to an HTTP/1.x request line, 0 otherwise.
 */
static int fr_check_line(struct gw_frame *f, const char *p, size_t n)
{
    static const char version[] = "HTTP/d.d";

    for (size_t i = 0; i < n && f->rl != RL_DONE; i++) {
        unsigned char c = (unsigned char)p[i];

        switch (f->rl) {
        case RL_METHOD:
            if (c == ' ' && f->rl_n > 0) {
                f->rl = RL_TARGET;
                f->rl_n = 0;
            } else if (!fr_is_tchar(c) || ++f->rl_n > FR_METHOD_MAX) {
                return -1;
            }
            break;
        case RL_TARGET:
            if (c == ' ' && f->rl_n > 0) {
                f->rl = RL_VERSION;
                f->rl_n = 0;
            } else if (c <= ' ' || c == 0x7f) {
                return -1;
            } else {
                f->rl_n++;
            }
            break;
        case RL_VERSION:
            if (f->rl_n == sizeof(version) - 1) {
                if (c != '\r' && c != '\n')
                    return -1;
                f->rl = c == '\r' ? RL_CR : RL_DONE;
            } else if (version[f->rl_n] == 'd' ? (c < '0' || c > '9') : c != version[f->rl_n]) {
                return -1;
            }
            f->rl_n++;
            break;
        case RL_CR:
            if (c != '\n')
                return -1;
            f->rl = RL_DONE;
            break;
        case RL_DONE:
            break;
        }
    }
    return 0;
}

/*
 * Scans p[*i .. len) for the empty line that ends the head, never past max_head. Lines may end
 * in CRLF or a bare LF, so the terminator is LF LF or LF CR LF.
 */
static enum gw_frame_ev fr_scan_head(struct gw_frame *f, const char *p, size_t len, size_t *i)
{
    size_t used = f->info.skip + f->info.head_len;
    size_t room = used < f->max_head ? f->max_head - used : 0;
    const char *q = p + *i, *e = len - *i > room ? q + room : p + len;

    while (q < e) {
        if (f->hstate == 0) {
            const char *nl = memchr(q, '\n', (size_t)(e - q));
            if (nl == NULL) {
                q = e;
                break;
            }
            q = nl + 1;
            f->hstate = 1;
            continue;
        }
        if (*q == '\n') {
            q++;
            f->info.head_len += (size_t)(q - (p + *i));
            *i = (size_t)(q - p);
            f->st = FR_HEAD_WAIT;
            return GW_FRAME_HEAD;
        }
        f->hstate = (*q == '\r' && f->hstate == 1) ? 2 : 0;
        q++;
    }
    f->info.head_len += (size_t)(q - (p + *i));
    *i = (size_t)(q - p);
    if (*i < len) /* more bytes than the head may have, and no end in sight */
        return fr_fail(f, 431);
    return GW_FRAME_MORE;
}

static enum gw_frame_ev fr_chunk_line_end(struct gw_frame *f)
{
    if (f->csize == 0) {
        f->st = FR_TRAILER;
        return GW_FRAME_MORE;
    }
    f->chunk_sum += f->csize;
    f->left = f->csize;
    f->csize = 0;
    f->cdigits = false;
    f->cline = 0;
    f->st = FR_CDATA;
    return GW_FRAME_MORE;
}

static enum gw_frame_ev fr_trailer_line_end(struct gw_frame *f)
{
    if (!f->tcolon)
        return fr_fail(f, 400);
    f->st = FR_TRAILER;
    return GW_FRAME_MORE;
}

/* One byte of chunk framing or trailer (the rare, small parts of a chunked body). */
static enum gw_frame_ev fr_chunk_byte(struct gw_frame *f, unsigned char c)
{
    int d;

    if (f->st >= FR_TRAILER && ++f->trailer > f->max_head - f->info.skip - f->info.head_len)
        return fr_fail(f, 431);
    switch (f->st) {
    case FR_CSIZE:
        if (++f->cline > GW_FRAME_CHUNK_LINE_MAX)
            return fr_fail(f, 400);
        d = fr_hex(c);
        if (d >= 0) {
            uint64_t room = f->max_body - f->chunk_sum;
            if ((uint64_t)d > room || f->csize > (room - (uint64_t)d) / 16)
                return fr_fail(f, 413);
            f->csize = f->csize * 16 + (uint64_t)d;
            f->cdigits = true;
            return GW_FRAME_MORE;
        }
        if (!f->cdigits)
            return fr_fail(f, 400);
        if (c == '\r') {
            f->st = FR_CSIZE_LF;
            return GW_FRAME_MORE;
        }
        if (c == '\n')
            return fr_chunk_line_end(f);
        if (c != ' ' && c != '\t' && c != ';')
            return fr_fail(f, 400);
        f->info.chunk_ext = true;
        f->st = FR_CEXT;
        return GW_FRAME_MORE;
    case FR_CEXT:
        if (++f->cline > GW_FRAME_CHUNK_LINE_MAX)
            return fr_fail(f, 400);
        if (c == '\r')
            f->st = FR_CSIZE_LF;
        else if (c == '\n')
            return fr_chunk_line_end(f);
        else if (fr_is_ctl(c))
            return fr_fail(f, 400);
        return GW_FRAME_MORE;
    case FR_CSIZE_LF:
        if (c != '\n')
            return fr_fail(f, 400);
        return fr_chunk_line_end(f);
    case FR_CDATA_END:
        if (c == '\r') {
            f->st = FR_CDATA_LF;
            return GW_FRAME_MORE;
        }
        /* fall through */
    case FR_CDATA_LF:
        if (c != '\n')
            return fr_fail(f, 400);
        f->st = FR_CSIZE;
        return GW_FRAME_MORE;
    case FR_TRAILER:
        if (c == '\n') {
            f->st = FR_DONE;
            return GW_FRAME_DONE;
        }
        if (c == '\r') {
            f->st = FR_TEND_LF;
            return GW_FRAME_MORE;
        }
        if (!fr_is_tchar(c))
            return fr_fail(f, 400);
        f->tcolon = false;
        f->st = FR_TLINE;
        return GW_FRAME_MORE;
    case FR_TLINE:
        if (c == ':')
            f->tcolon = true;
        else if (c == '\r')
            f->st = FR_TLINE_LF;
        else if (c == '\n')
            return fr_trailer_line_end(f);
        else if (fr_is_ctl(c))
            return fr_fail(f, 400);
        return GW_FRAME_MORE;
    case FR_TLINE_LF:
        if (c != '\n')
            return fr_fail(f, 400);
        return fr_trailer_line_end(f);
    case FR_TEND_LF:
        if (c != '\n')
            return fr_fail(f, 400);
        f->st = FR_DONE;
        return GW_FRAME_DONE;
    default:
        assert(0 && "not a chunk state");
        return fr_fail(f, 400);
    }
}

enum gw_frame_ev gw_frame_feed(struct gw_frame *f, const char *p, size_t len, size_t *used)
{
    enum gw_frame_ev ev = GW_FRAME_MORE;
    size_t i = 0, n;

    assert(f->st != FR_HEAD_WAIT);
    if (f->st == FR_ERROR) {
        *used = 0;
        return GW_FRAME_ERROR;
    }
    if (f->st == FR_DONE)
        fr_reset(f);
    while (i < len && ev == GW_FRAME_MORE) {
        switch (f->st) {
        case FR_START:
            while (i < len && (p[i] == '\r' || p[i] == '\n')) {
                i++;
                f->info.skip++;
            }
            if (f->info.skip > f->max_head)
                ev = fr_fail(f, 431);
            else if (i < len)
                f->st = FR_HEAD;
            break;
        case FR_HEAD:
            if (f->rl != RL_DONE) {
                size_t seen = f->info.skip + f->info.head_len;
                size_t room = seen < f->max_head ? f->max_head - seen : 0;
                if (fr_check_line(f, p + i, len - i < room ? len - i : room) < 0) {
                    ev = fr_fail(f, 400);
                    break;
                }
            }
            ev = fr_scan_head(f, p, len, &i);
            break;
        case FR_BODY:
        case FR_CDATA:
            n = len - i < f->left ? len - i : (size_t)f->left;
            i += n;
            f->left -= n;
            if (f->left > 0)
                break;
            if (f->st == FR_BODY) {
                f->st = FR_DONE;
                ev = GW_FRAME_DONE;
            } else {
                f->st = FR_CDATA_END;
            }
            break;
        default:
            ev = fr_chunk_byte(f, (unsigned char)p[i++]);
            break;
        }
    }
    f->consumed += i;
    if (ev == GW_FRAME_DONE)
        f->info.total_len = f->consumed;
    *used = i;
    return ev;
}
