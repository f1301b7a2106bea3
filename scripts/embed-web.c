/*
 * embed-web: turns the files under web/ into C arrays ($(BUILD)/gen/web.c), so the binary serves
 * the dashboard, the API document and Swagger UI without reading the file system at run time.
 * Each file gets its content type, the first 12 hex digits of its SHA-256 and, when it saves
 * enough, a gzip -9 copy. In an .html file every src="X" / href="X" naming an embedded file
 * (resolved against the page's URL, as the browser does) becomes X?v=<hash>; an inline script, a
 * <style> element, a style="..." or on*="..." attribute fails the build (the CSP forbids them).
 * Usage: embed-web WEBDIR FILE... > web.c   (FILE paths start with WEBDIR/)
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "sha256.h"

#define EW_HASH_LEN 12
#define EW_MAX_URLS 2
#define EW_GZ_MIN 512 /* smaller files are sent as they are */

struct ew_file {
    char *name; /* path under WEBDIR: "ui/index.html" */
    char *urls[EW_MAX_URLS];
    const char *ctype;
    bool html, text;
    unsigned char *data;
    size_t len;
    unsigned char *gz; /* NULL when not worth it */
    size_t gz_len;
    char hash[SHA256_HEX_LEN];
};

struct ew_buf {
    unsigned char *p;
    size_t len, cap;
};

static struct ew_file *ew_files;
static size_t ew_nfiles;

static void ew_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void ew_die(const char *fmt, ...)
{
    va_list ap;

    fputs("embed-web: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *ew_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        ew_die("out of memory");
    return p;
}

static char *ew_strdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(ew_alloc(n), s, n);
}

static char *ew_concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = ew_alloc(na + nb + 1);

    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

static void ew_put(struct ew_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            ew_die("out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void ew_puts(struct ew_buf *b, const char *s)
{
    ew_put(b, s, strlen(s));
}

static void ew_read(const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct ew_buf b = {0};
    unsigned char chunk[65536];
    size_t n;

    if (f == NULL)
        ew_die("%s: cannot open", path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ew_put(&b, chunk, n);
    if (ferror(f))
        ew_die("%s: read error", path);
    fclose(f);
    *data = b.p;
    *len = b.len;
}

static bool ew_ends(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Content type by extension; text types are the ones worth compressing. */
static void ew_type(struct ew_file *f)
{
    static const struct {
        const char *ext, *ctype;
        bool text;
    } types[] = {
        {".html", "text/html; charset=utf-8", true},
        {".js", "text/javascript; charset=utf-8", true},
        {".mjs", "text/javascript; charset=utf-8", true},
        {".css", "text/css; charset=utf-8", true},
        {".json", "application/json", true},
        {".map", "application/json", true},
        {".svg", "image/svg+xml", true},
        {".txt", "text/plain; charset=utf-8", true},
        {".md", "text/plain; charset=utf-8", true},
        {".csv", "text/csv; charset=utf-8", true},
        {".png", "image/png", false},
        {".jpg", "image/jpeg", false},
        {".gif", "image/gif", false},
        {".webp", "image/webp", false},
        {".ico", "image/x-icon", false},
        {".woff2", "font/woff2", false},
        {".woff", "font/woff", false},
    };
    const char *base = strrchr(f->name, '/');

    base = base ? base + 1 : f->name;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (ew_ends(f->name, types[i].ext)) {
            f->ctype = types[i].ctype;
            f->text = types[i].text;
            f->html = strcmp(types[i].ext, ".html") == 0;
            return;
        }
    }
    if (strchr(base, '.') == NULL) { /* LICENSE, NOTICE */
        f->ctype = "text/plain; charset=utf-8";
        f->text = true;
        return;
    }
    ew_die("web/%s: unknown file type (add its extension to embed-web.c)", f->name);
}

/*
 * The URLs that serve a file (the server's mapping, gw_static.c): ui/ under /ui/ (index.html
 * as /ui/), docs/ under /docs/ (index.html as /docs), vendor/ under both /ui/vendor/ and
 * /docs/vendor/, openapi.json as /openapi.json.
 */
static void ew_urls(struct ew_file *f)
{
    if (strcmp(f->name, "ui/index.html") == 0)
        f->urls[0] = ew_strdup("/ui/");
    else if (strcmp(f->name, "docs/index.html") == 0)
        f->urls[0] = ew_strdup("/docs");
    else if (strncmp(f->name, "ui/", 3) == 0 || strncmp(f->name, "docs/", 5) == 0)
        f->urls[0] = ew_concat("/", f->name);
    else if (strncmp(f->name, "vendor/", 7) == 0) {
        f->urls[0] = ew_concat("/ui/", f->name);
        f->urls[1] = ew_concat("/docs/", f->name);
    } else if (strcmp(f->name, "openapi.json") == 0)
        f->urls[0] = ew_strdup("/openapi.json");
    else
        ew_die("web/%s: not under ui/, docs/ or vendor/: no URL would serve it", f->name);
}

static struct ew_file *ew_by_url(const char *url)
{
    for (size_t i = 0; i < ew_nfiles; i++)
        for (int u = 0; u < EW_MAX_URLS; u++)
            if (ew_files[i].urls[u] != NULL && strcmp(ew_files[i].urls[u], url) == 0)
                return &ew_files[i];
    return NULL;
}

/*
 * Resolves ref against the page URL as a browser does for a path (no scheme, no query): the
 * page's directory plus ref, with "." and ".." segments removed. Returns owned string.
 */
static char *ew_resolve(const char *page, const char *ref)
{
    size_t dir = strrchr(page, '/') - page + 1;
    char *joined = ref[0] == '/' ? ew_strdup(ref) : ew_alloc(dir + strlen(ref) + 1);
    char *out = ew_alloc(strlen(joined) + 2), *seg, *save = NULL;
    size_t n = 0;
    bool trailing;

    if (ref[0] != '/') {
        memcpy(joined, page, dir);
        memcpy(joined + dir, ref, strlen(ref) + 1);
    }
    trailing = joined[strlen(joined) - 1] == '/' || ew_ends(joined, "/.") || ew_ends(joined, "/..");
    for (seg = strtok_r(joined, "/", &save); seg != NULL; seg = strtok_r(NULL, "/", &save)) {
        if (strcmp(seg, ".") == 0)
            continue;
        if (strcmp(seg, "..") == 0) {
            while (n > 0 && out[--n] != '/')
                ;
            continue;
        }
        out[n++] = '/';
        memcpy(out + n, seg, strlen(seg));
        n += strlen(seg);
    }
    if (n == 0 || trailing)
        out[n++] = '/';
    out[n] = '\0';
    free(joined);
    return out;
}

/* True when ref carries a scheme ("https:", "data:") or is protocol-relative ("//host/x"). */
static bool ew_is_external(const char *ref)
{
    size_t n = strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

    return (n > 0 && ref[n] == ':') || strncmp(ref, "//", 2) == 0;
}

/*
 * Writes the value of a src/href attribute, rewritten to ref?v=<hash> when it names an embedded
 * file other than a page; a relative reference that names nothing fails the build.
 */
static void ew_ref(struct ew_buf *out, const struct ew_file *page, const char *tag,
                   const char *attr, const char *ref)
{
    struct ew_file *t = NULL;
    char *url;

    if (ref[0] == '\0' || ref[0] == '#' || ref[0] == '?' || strpbrk(ref, "?#") != NULL) {
        ew_puts(out, ref);
        return;
    }
    if (ew_is_external(ref)) {
        if (strncmp(ref, "data:", 5) != 0 && (strcmp(attr, "src") == 0 || strcmp(tag, "link") == 0))
            ew_die("web/%s: <%s %s=\"%s\">: only files served by the gateway or data: (the CSP)",
                   page->name, tag, attr, ref);
        ew_puts(out, ref);
        return;
    }
    url = ew_resolve(page->urls[0], ref);
    t = ew_by_url(url);
    if (t == NULL && ref[0] != '/')
        ew_die("web/%s: %s=\"%s\" (%s) names no file under web/", page->name, attr, ref, url);
    free(url);
    ew_puts(out, ref);
    if (t != NULL && !t->html) {
        ew_puts(out, "?v=");
        ew_put(out, t->hash, EW_HASH_LEN);
    }
}

static size_t ew_span(const unsigned char *s, size_t i, size_t n, bool (*pred)(int c))
{
    while (i < n && pred(s[i]))
        i++;
    return i;
}

static bool ew_is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool ew_is_name(int c)
{
    return !ew_is_space(c) && c != '=' && c != '>' && c != '/' && c != '"' && c != '\'';
}

static bool ew_is_unquoted(int c)
{
    return !ew_is_space(c) && c != '>';
}

/* Finds needle (lower case) in s[i, n) case-insensitively; n when absent. */
static size_t ew_find_ci(const unsigned char *s, size_t i, size_t n, const char *needle)
{
    size_t m = strlen(needle);

    for (; i + m <= n; i++)
        if (strncasecmp((const char *)s + i, needle, m) == 0)
            return i;
    return n;
}

/*
 * Copies one start tag at s[i] ('<' + letter) into out, rewriting src/href values and refusing
 * inline styles and event handlers. Returns the index after '>', and the tag name and whether it
 * had a src attribute.
 */
static size_t ew_tag(struct ew_buf *out, const struct ew_file *page, const unsigned char *s,
                     size_t i, size_t n, char *tag, size_t tagsz, bool *has_src)
{
    size_t j = ew_span(s, i + 1, n, ew_is_name), k;

    snprintf(tag, tagsz, "%.*s", (int)(j - i - 1), s + i + 1);
    for (char *c = tag; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    *has_src = false;
    ew_put(out, s + i, j - i);
    for (;;) {
        char attr[64], *val;
        size_t vb, ve;
        char q = 0;

        k = ew_span(s, j, n, ew_is_space);
        ew_put(out, s + j, k - j);
        j = k;
        if (j >= n)
            ew_die("web/%s: unterminated <%s> tag", page->name, tag);
        if (s[j] == '>') {
            ew_put(out, ">", 1);
            return j + 1;
        }
        if (s[j] == '/') {
            ew_put(out, s + j, 1);
            j++;
            continue;
        }
        k = ew_span(s, j, n, ew_is_name);
        if (k == j)
            ew_die("web/%s: <%s>: bad attribute", page->name, tag);
        snprintf(attr, sizeof(attr), "%.*s", (int)(k - j), s + j);
        for (char *c = attr; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (strcmp(attr, "style") == 0 || (strncmp(attr, "on", 2) == 0 && attr[2] != '\0'))
            ew_die("web/%s: <%s %s=...>: inline styles and event handlers break the CSP; use a "
                   "CSS class or addEventListener",
                   page->name, tag, attr);
        ew_put(out, s + j, k - j);
        j = ew_span(s, k, n, ew_is_space);
        if (j >= n || s[j] != '=') {
            ew_put(out, s + k, j - k);
            continue;
        }
        j = ew_span(s, j + 1, n, ew_is_space);
        ew_puts(out, "=");
        if (j < n && (s[j] == '"' || s[j] == '\'')) {
            q = (char)s[j];
            vb = j + 1;
            ve = vb;
            while (ve < n && s[ve] != (unsigned char)q)
                ve++;
            if (ve >= n)
                ew_die("web/%s: <%s %s=...>: unterminated value", page->name, tag, attr);
            j = ve + 1;
        } else {
            vb = j;
            ve = ew_span(s, j, n, ew_is_unquoted);
            j = ve;
        }
        val = ew_alloc(ve - vb + 1);
        memcpy(val, s + vb, ve - vb);
        val[ve - vb] = '\0';
        if (q == 0 && strpbrk(val, "\"'=<`") != NULL)
            ew_die("web/%s: <%s %s=...>: quote the value", page->name, tag, attr);
        q = q ? q : '"'; /* an unquoted value gets quotes: "?v=" needs them */
        ew_put(out, &q, 1);
        if (strcmp(attr, "src") == 0 || strcmp(attr, "href") == 0)
            ew_ref(out, page, tag, attr, val);
        else
            ew_puts(out, val);
        ew_put(out, &q, 1);
        *has_src = *has_src || strcmp(attr, "src") == 0;
        free(val);
    }
}

/* The page with its references rewritten (owned buffer). */
static struct ew_buf ew_rewrite(const struct ew_file *page)
{
    const unsigned char *s = page->data;
    size_t n = page->len, i = 0;
    struct ew_buf out = {0};

    while (i < n) {
        if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
            size_t e = ew_find_ci(s, i + 4, n, "-->");
            if (e >= n)
                ew_die("web/%s: unterminated comment", page->name);
            ew_put(&out, s + i, e + 3 - i);
            i = e + 3;
        } else if (s[i] == '<' && i + 1 < n && isalpha(s[i + 1])) {
            char tag[32];
            bool has_src;
            i = ew_tag(&out, page, s, i, n, tag, sizeof(tag), &has_src);
            if (strcmp(tag, "style") == 0)
                ew_die("web/%s: <style> element: the CSP allows style sheets from files only",
                       page->name);
            if (strcmp(tag, "script") == 0) {
                size_t e = ew_find_ci(s, i, n, "</script");
                for (size_t c = i; c < e; c++)
                    if (!ew_is_space(s[c]))
                        ew_die("web/%s: inline <script>: the CSP allows scripts from files only",
                               page->name);
                if (!has_src)
                    ew_die("web/%s: <script> without src", page->name);
                ew_put(&out, s + i, e - i);
                i = e;
            }
        } else {
            ew_put(&out, s + i, 1);
            i++;
        }
    }
    return out;
}

static void ew_hash(struct ew_file *f)
{
    unsigned char d[SHA256_DIGEST_LEN];

    if (sha256_digest(f->data, f->len, d) != 0)
        ew_die("web/%s: SHA-256 failed", f->name);
    sha256_to_hex(d, sizeof(d), f->hash);
}

/* gzip -9 -n (no name, time 0); kept only when it saves at least a tenth. */
static void ew_gzip(struct ew_file *f)
{
    z_stream zs;
    uLong cap;

    if (!f->text || f->len < EW_GZ_MIN)
        return;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        ew_die("deflateInit2 failed");
    cap = deflateBound(&zs, (uLong)f->len) + 32;
    f->gz = ew_alloc(cap);
    zs.next_in = f->data;
    zs.avail_in = (uInt)f->len;
    zs.next_out = f->gz;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        ew_die("web/%s: deflate failed", f->name);
    f->gz_len = zs.total_out;
    deflateEnd(&zs);
    if (f->gz_len > f->len - f->len / 10) {
        free(f->gz);
        f->gz = NULL;
        f->gz_len = 0;
    }
}

/* A C string literal of the bytes: printable ASCII as is, the rest as 3-digit octal escapes. */
static void ew_emit_bytes(const char *var, const unsigned char *p, size_t len)
{
    size_t col = 0;

    printf("static const char %s[] =\n    \"", var);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\' || c == '?' || c < 0x20 || c >= 0x7f)
            col += (size_t)printf("\\%03o", c);
        else
            col += (size_t)(putchar(c) != EOF);
        if (col >= 96 && i + 1 < len) {
            fputs("\"\n    \"", stdout);
            col = 0;
        }
    }
    puts("\";");
}

static int ew_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ew_file *)a)->name, ((const struct ew_file *)b)->name);
}

int main(int argc, char **argv)
{
    size_t rootlen;

    if (argc < 2)
        ew_die("usage: embed-web WEBDIR FILE...");
    rootlen = strlen(argv[1]);
    ew_files = ew_alloc(sizeof(*ew_files) * (size_t)argc);
    for (int a = 2; a < argc; a++) {
        const char *path = argv[a], *base = strrchr(path, '/');
        struct ew_file *f;
        base = base ? base + 1 : path;
        if (strncmp(base, "README", 6) == 0 || strcmp(base, "VERSION") == 0 || base[0] == '.')
            continue;
        if (strncmp(path, argv[1], rootlen) != 0 || path[rootlen] != '/')
            ew_die("%s: not under %s/", path, argv[1]);
        if (path[rootlen + 1 +
                 strspn(path + rootlen + 1, "abcdefghijklmnopqrstuvwxyz"
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-")] != '\0')
            ew_die("%s: use letters, digits, '.', '_', '-' in web/ file names", path);
        if (strstr(path + rootlen, "//") != NULL || strstr(path + rootlen, "/./") != NULL ||
            strstr(path + rootlen, "/../") != NULL || path[strlen(path) - 1] == '/')
            ew_die("%s: give the path without empty, \".\" or \"..\" segments", path);
        f = &ew_files[ew_nfiles++];
        memset(f, 0, sizeof(*f));
        f->name = ew_strdup(path + rootlen + 1);
        ew_type(f);
        ew_urls(f);
        ew_read(path, &f->data, &f->len);
    }
    qsort(ew_files, ew_nfiles, sizeof(*ew_files), ew_cmp);
    /* Pages last: their hashes cover the rewritten form, which needs the others' hashes. */
    for (size_t i = 0; i < ew_nfiles; i++)
        if (!ew_files[i].html)
            ew_hash(&ew_files[i]);
    for (size_t i = 0; i < ew_nfiles; i++) {
        struct ew_file *f = &ew_files[i];
        if (f->html) {
            struct ew_buf b = ew_rewrite(f);
            free(f->data);
            f->data = b.p;
            f->len = b.len;
            ew_hash(f);
        }
        ew_gzip(f);
    }
    printf("/* Generated by scripts/embed-web.c from %s/; do not edit. */\n", argv[1]);
    puts("#include \"gateway/http/gw_static.h\"\n");
    for (size_t i = 0; i < ew_nfiles; i++) {
        char var[32];
        printf("/* %s/%s */\n", argv[1], ew_files[i].name);
        snprintf(var, sizeof(var), "ew_%zu", i);
        ew_emit_bytes(var, ew_files[i].data, ew_files[i].len);
        if (ew_files[i].gz != NULL) {
            snprintf(var, sizeof(var), "ew_%zu_gz", i);
            ew_emit_bytes(var, ew_files[i].gz, ew_files[i].gz_len);
        }
    }
    printf("\nconst struct gw_static_file gw_static_files[] = {\n");
    for (size_t i = 0; i < ew_nfiles; i++) {
        const struct ew_file *f = &ew_files[i];
        printf("    {\"%s\", \"%s\", \"%.*s\", ew_%zu, %zu, ", f->name, f->ctype, EW_HASH_LEN,
               f->hash, i, f->len);
        if (f->gz != NULL)
            printf("ew_%zu_gz, %zu},\n", i, f->gz_len);
        else
            printf("NULL, 0},\n");
    }
    if (ew_nfiles == 0)
        puts("    {NULL, NULL, NULL, NULL, 0, NULL, 0},");
    printf("};\nconst size_t gw_static_nfiles = %zu;\n", ew_nfiles);
    if (fflush(stdout) != 0 || ferror(stdout))
        ew_die("write error");
    for (size_t i = 0; i < ew_nfiles; i++) {
        free(ew_files[i].name);
        free(ew_files[i].urls[0]);
        free(ew_files[i].urls[1]);
        free(ew_files[i].data);
        free(ew_files[i].gz);
    }
    free(ew_files);
    return 0;
}
