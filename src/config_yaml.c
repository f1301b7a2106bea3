/*
 * YAML side of the configuration: libyaml's event stream is folded into a cfg_node tree that
 * remembers where every node came from, so config.c can report "file:line:col" for any value.
 * Aliases are expanded (with a node budget against alias bombs) and "<<" merge keys applied,
 * which is what PyYAML's safe_load gives the reference implementation.
 */
#include "config_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#define CFG_YAML_MAX_DEPTH 64
#define CFG_YAML_MAX_NODES 200000
#define CFG_YAML_MAX_FILE (16 * 1024 * 1024)
#define CFG_YAML_TAG_PREFIX "tag:yaml.org,2002:"

struct yb_anchor {
    char *name;
    struct cfg_node *node; /* private copy, so later merges cannot invalidate it */
};

struct yb_frame {
    struct cfg_node *node;
    char *anchor;
};

/* Tree builder state. */
struct yb {
    const char *path;
    char *err;
    size_t errlen;
    struct yb_frame stack[CFG_YAML_MAX_DEPTH];
    int depth;
    struct cfg_node *root;
    int ndocs;
    struct yb_anchor *anchors;
    size_t nanchors, capanchors;
    size_t nodes; /* nodes created so far, copies included */
};

static struct cfg_node *cfg_node_alloc(enum cfg_node_kind kind)
{
    struct cfg_node *n = calloc(1, sizeof(*n));

    if (n != NULL)
        n->kind = kind;
    return n;
}

struct cfg_node *cfg_node_new_scalar(const char *text, enum cfg_style style)
{
    struct cfg_node *n = cfg_node_alloc(CFG_NODE_SCALAR);

    if (n == NULL)
        return NULL;
    n->style = style;
    n->text = strdup(text);
    if (n->text == NULL) {
        free(n);
        return NULL;
    }
    return n;
}

void cfg_node_free(struct cfg_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        cfg_node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

/* Appends kid to n (taking ownership). Returns 0, or -1 (kid not taken) when out of memory. */
static int cfg_node_push(struct cfg_node *n, struct cfg_node *kid)
{
    if (n->n == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 8;
        struct cfg_node **k = realloc(n->kids, cap * sizeof(*k));
        if (k == NULL)
            return -1;
        n->kids = k;
        n->cap = cap;
    }
    n->kids[n->n++] = kid;
    return 0;
}

/* ---- scalar typing ---- */

static bool cfg_is_null_word(const char *t)
{
    return t[0] == '\0' || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
           strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

static int cfg_bool_word(const char *t)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};

    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(t, yes[i]) == 0)
            return 1;
        if (strcasecmp(t, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* Decimal (digits may be separated by '_') or 0x hex integer. Returns true and *v on success;
 * *overflow is set when it has the form of an integer but does not fit. */
static bool cfg_parse_int(const char *t, long long *v, bool *overflow)
{
    char buf[64], *end;
    size_t o = 0;
    const char *p = t;
    int base = 10;

    *overflow = false;
    if (*p == '+' || *p == '-')
        buf[o++] = *p++;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
        if (!isxdigit((unsigned char)*p))
            return false;
    } else if (!isdigit((unsigned char)*p)) {
        return false;
    }
    for (; *p != '\0'; p++) {
        if (*p == '_' && o > 0 && isalnum((unsigned char)p[1]))
            continue;
        if (!(base == 16 ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p)))
            return false;
        if (o + 1 >= sizeof(buf)) {
            *overflow = true;
            return false;
        }
        buf[o++] = *p;
    }
    buf[o] = '\0';
    errno = 0;
    *v = strtoll(buf, &end, base);
    if (errno == ERANGE) {
        *overflow = true;
        return false;
    }
    return *end == '\0';
}

/* Decimal float ("1.5", "-2e-3", ".5", "1e6") or .inf / .nan; not strtod's "inf" / hex. */
static bool cfg_parse_float(const char *t, double *v)
{
    const char *p = t;
    size_t digits = 0;
    char *end;

    if (*p == '+' || *p == '-')
        p++;
    if (strcasecmp(p, ".inf") == 0) {
        *v = t[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (p == t && strcasecmp(p, ".nan") == 0) {
        *v = NAN;
        return true;
    }
    while (isdigit((unsigned char)*p) || (*p == '_' && digits > 0)) {
        digits += *p != '_';
        p++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            digits++;
            p++;
        }
    }
    if (digits == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p != '\0' || strchr(t, '_') != NULL) /* strtod does not know '_' */
        return false;
    *v = strtod(t, &end);
    return *end == '\0';
}

void cfg_scalar_resolve(const struct cfg_node *n, struct cfg_scalar *out)
{
    const char *t = n->text != NULL ? n->text : "";
    bool overflow;
    int b;

    memset(out, 0, sizeof(*out));
    out->type = CFG_SV_STR;
    if (n->kind != CFG_NODE_SCALAR || n->style == CFG_STYLE_QUOTED)
        return;
    if (n->style == CFG_STYLE_PLAIN && cfg_is_null_word(t)) {
        out->type = CFG_SV_NULL;
    } else if ((b = cfg_bool_word(t)) >= 0) {
        out->type = CFG_SV_BOOL;
        out->b = b == 1;
    } else if (cfg_parse_int(t, &out->i, &overflow)) {
        out->type = CFG_SV_INT;
        out->d = (double)out->i;
    } else if (cfg_parse_float(t, &out->d)) {
        out->type = CFG_SV_FLOAT;
    } else if (overflow) {
        out->type = CFG_SV_FLOAT;
        out->d = strtod(t, NULL);
    }
}

/* ---- JSON conversion ---- */

json_t *cfg_node_to_json(const struct cfg_node *n)
{
    struct cfg_scalar s;
    json_t *j = NULL, *kid;

    switch (n->kind) {
    case CFG_NODE_SCALAR:
        cfg_scalar_resolve(n, &s);
        if (s.type == CFG_SV_NULL)
            return json_null();
        if (s.type == CFG_SV_BOOL)
            return json_boolean(s.b);
        if (s.type == CFG_SV_INT)
            return json_integer(s.i);
        if (s.type == CFG_SV_FLOAT && isfinite(s.d))
            return json_real(s.d);
        return json_string(n->text); /* JSON has no infinity: keep the text */
    case CFG_NODE_SEQ:
        if ((j = json_array()) == NULL)
            return NULL;
        for (size_t i = 0; i < n->n; i++)
            if ((kid = cfg_node_to_json(n->kids[i])) == NULL || json_array_append_new(j, kid) < 0)
                goto fail;
        return j;
    case CFG_NODE_MAP:
        if ((j = json_object()) == NULL)
            return NULL;
        for (size_t i = 0; i < CFG_MAP_LEN(n); i++) {
            kid = cfg_node_to_json(CFG_MAP_VAL(n, i));
            if (kid == NULL || json_object_set_new(j, CFG_MAP_KEY(n, i)->text, kid) < 0)
                goto fail;
        }
        return j;
    }
fail:
    json_decref(j);
    return NULL;
}

struct cfg_node *cfg_node_from_json(const json_t *j)
{
    char buf[64];
    struct cfg_node *n = NULL, *k, *v;
    const char *key;
    json_t *val;
    size_t i;

    switch (json_typeof(j)) {
    case JSON_OBJECT:
        if ((n = cfg_node_alloc(CFG_NODE_MAP)) == NULL)
            return NULL;
        json_object_foreach((json_t *)j, key, val)
        {
            k = cfg_node_new_scalar(key, CFG_STYLE_QUOTED);
            if (k == NULL || cfg_node_push(n, k) < 0) {
                cfg_node_free(k);
                goto fail;
            }
            v = cfg_node_from_json(val);
            if (v == NULL || cfg_node_push(n, v) < 0) {
                cfg_node_free(v);
                goto fail;
            }
        }
        return n;
    case JSON_ARRAY:
        if ((n = cfg_node_alloc(CFG_NODE_SEQ)) == NULL)
            return NULL;
        json_array_foreach(j, i, val)
        {
            v = cfg_node_from_json(val);
            if (v == NULL || cfg_node_push(n, v) < 0) {
                cfg_node_free(v);
                goto fail;
            }
        }
        return n;
    case JSON_STRING:
        return cfg_node_new_scalar(json_string_value(j), CFG_STYLE_QUOTED);
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return cfg_node_new_scalar(buf, CFG_STYLE_PLAIN);
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(j));
        return cfg_node_new_scalar(buf, CFG_STYLE_PLAIN);
    case JSON_TRUE:
        return cfg_node_new_scalar("true", CFG_STYLE_PLAIN);
    case JSON_FALSE:
        return cfg_node_new_scalar("false", CFG_STYLE_PLAIN);
    case JSON_NULL:
        return cfg_node_new_scalar("null", CFG_STYLE_PLAIN);
    }
fail:
    cfg_node_free(n);
    return NULL;
}

/* ---- tree builder ---- */

static int yb_fail(struct yb *b, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int yb_fail(struct yb *b, const yaml_mark_t *m, const char *fmt, ...)
{
    int o =
        snprintf(b->err, b->errlen, "%s:%d:%d: ", b->path, (int)m->line + 1, (int)m->column + 1);
    va_list ap;

    if (o >= 0 && (size_t)o < b->errlen) {
        va_start(ap, fmt);
        vsnprintf(b->err + o, b->errlen - (size_t)o, fmt, ap);
        va_end(ap);
        /* A key quoted in the message may hold a newline: keep the error on one line. */
        for (char *c = b->err + o; *c != '\0'; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
    }
    return -1;
}

static int yb_oom(struct yb *b, const yaml_mark_t *m)
{
    return yb_fail(b, m, "%s", "out of memory");
}

/* Deep copy within the node budget. Returns owned copy or NULL (budget or memory). */
static struct cfg_node *yb_copy(struct yb *b, const struct cfg_node *n)
{
    struct cfg_node *c, *kid;

    if (++b->nodes > CFG_YAML_MAX_NODES)
        return NULL;
    if (n->kind == CFG_NODE_SCALAR) {
        c = cfg_node_new_scalar(n->text, n->style);
    } else {
        c = cfg_node_alloc(n->kind);
        for (size_t i = 0; c != NULL && i < n->n; i++) {
            kid = yb_copy(b, n->kids[i]);
            if (kid == NULL || cfg_node_push(c, kid) < 0) {
                cfg_node_free(kid);
                cfg_node_free(c);
                return NULL;
            }
        }
    }
    if (c != NULL) {
        c->line = n->line;
        c->col = n->col;
    }
    return c;
}

static int yb_copy_fail(struct yb *b, const yaml_mark_t *m)
{
    if (b->nodes > CFG_YAML_MAX_NODES)
        return yb_fail(b, m, "document has too many nodes (more than %d after alias expansion)",
                       CFG_YAML_MAX_NODES);
    return yb_oom(b, m);
}

static int yb_anchor_add(struct yb *b, char *name, const struct cfg_node *n, const yaml_mark_t *m)
{
    struct yb_anchor *a;
    struct cfg_node *copy;

    if (name == NULL)
        return 0;
    if (b->nanchors == b->capanchors) {
        size_t cap = b->capanchors ? b->capanchors * 2 : 8;
        if ((a = realloc(b->anchors, cap * sizeof(*a))) == NULL) {
            free(name);
            return yb_oom(b, m);
        }
        b->anchors = a;
        b->capanchors = cap;
    }
    if ((copy = yb_copy(b, n)) == NULL) {
        free(name);
        return yb_copy_fail(b, m);
    }
    b->anchors[b->nanchors].name = name;
    b->anchors[b->nanchors++].node = copy;
    return 0;
}

/* Attaches a finished node to the open collection (or makes it the root); takes ownership. */
static int yb_attach(struct yb *b, struct cfg_node *n, const yaml_mark_t *m)
{
    struct cfg_node *parent;

    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    parent = b->stack[b->depth - 1].node;
    if (parent->kind == CFG_NODE_MAP && parent->n % 2 == 0 && n->kind != CFG_NODE_SCALAR) {
        cfg_node_free(n);
        return yb_fail(b, m, "%s", "mapping keys must be scalars");
    }
    if (cfg_node_push(parent, n) < 0) {
        cfg_node_free(n);
        return yb_oom(b, m);
    }
    return 0;
}

static bool yb_map_has(const struct cfg_node *m, size_t npairs, const char *key)
{
    for (size_t i = 0; i < npairs; i++)
        if (strcmp(CFG_MAP_KEY(m, i)->text, key) == 0)
            return true;
    return false;
}

static bool yb_is_merge_key(const struct cfg_node *k)
{
    return k->style == CFG_STYLE_PLAIN && strcmp(k->text, "<<") == 0;
}

/* Copies the pairs of src that m does not have yet. */
static int yb_merge_from(struct yb *b, struct cfg_node *m, const struct cfg_node *src,
                         const yaml_mark_t *mk)
{
    yaml_mark_t sm = {.line = (size_t)src->line - 1, .column = (size_t)src->col - 1};
    struct cfg_node *k, *v;

    if (src->kind != CFG_NODE_MAP)
        return yb_fail(b, src->line > 0 ? &sm : mk, "%s",
                       "merge key '<<' expects a mapping or a list of mappings");
    for (size_t i = 0; i < CFG_MAP_LEN(src); i++) {
        if (yb_map_has(m, CFG_MAP_LEN(m), CFG_MAP_KEY(src, i)->text))
            continue;
        k = yb_copy(b, CFG_MAP_KEY(src, i));
        v = k != NULL ? yb_copy(b, CFG_MAP_VAL(src, i)) : NULL;
        if (v == NULL || cfg_node_push(m, k) < 0) {
            cfg_node_free(k);
            cfg_node_free(v);
            return yb_copy_fail(b, mk);
        }
        if (cfg_node_push(m, v) < 0) { /* keep the pair count even */
            cfg_node_free(v);
            m->n--;
            cfg_node_free(k);
            return yb_oom(b, mk);
        }
    }
    return 0;
}

/* At the end of a mapping: rejects duplicate keys, then applies "<<" merge keys (explicit
 * keys win, then earlier merge sources). On failure m is left whole for the caller to free. */
static int yb_map_finish(struct yb *b, struct cfg_node *m, const yaml_mark_t *mk)
{
    struct cfg_node *merges[16];
    size_t nmerges = 0, w = 0;
    int rc = 0;

    for (size_t i = 0; i < CFG_MAP_LEN(m); i++) {
        const struct cfg_node *k = CFG_MAP_KEY(m, i);
        yaml_mark_t km = {.line = (size_t)k->line - 1, .column = (size_t)k->col - 1};
        if (yb_is_merge_key(k)) {
            if (++nmerges > sizeof(merges) / sizeof(merges[0]))
                return yb_fail(b, &km, "%s", "too many '<<' merge keys");
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const struct cfg_node *prev = CFG_MAP_KEY(m, j);
            if (yb_is_merge_key(prev) || strcmp(prev->text, k->text) != 0)
                continue;
            return yb_fail(b, &km, "duplicate key '%.200s' (first defined at line %d)", k->text,
                           prev->line);
        }
    }
    if (nmerges == 0)
        return 0;
    /* Keep the explicit pairs, set the merge sources aside. */
    nmerges = 0;
    for (size_t i = 0; i < CFG_MAP_LEN(m); i++) {
        struct cfg_node *k = CFG_MAP_KEY(m, i), *v = CFG_MAP_VAL(m, i);
        if (yb_is_merge_key(k)) {
            cfg_node_free(k);
            merges[nmerges++] = v;
            continue;
        }
        m->kids[2 * w] = k;
        m->kids[2 * w + 1] = v;
        w++;
    }
    m->n = 2 * w;
    for (size_t i = 0; i < nmerges && rc == 0; i++) {
        const struct cfg_node *src = merges[i];
        if (src->kind == CFG_NODE_SEQ)
            for (size_t j = 0; j < src->n && rc == 0; j++)
                rc = yb_merge_from(b, m, src->kids[j], mk);
        else
            rc = yb_merge_from(b, m, src, mk);
    }
    for (size_t i = 0; i < nmerges; i++)
        cfg_node_free(merges[i]);
    return rc;
}

static char *yb_dup(const yaml_char_t *s)
{
    return s != NULL ? strdup((const char *)s) : NULL;
}

/* Checks a node tag; scalars get their style from it. Returns 0 or -1 (unsupported tag). */
static int yb_tag(struct yb *b, const yaml_char_t *tag, const yaml_mark_t *m, enum cfg_style *style)
{
    const char *t = (const char *)tag;

    if (t == NULL || strcmp(t, "!") == 0) {
        if (t != NULL && style != NULL)
            *style = CFG_STYLE_QUOTED;
        return 0;
    }
    if (strncmp(t, CFG_YAML_TAG_PREFIX, strlen(CFG_YAML_TAG_PREFIX)) != 0)
        return yb_fail(b, m, "unsupported YAML tag '%.200s'", t);
    t += strlen(CFG_YAML_TAG_PREFIX);
    if (style != NULL)
        *style = strcmp(t, "str") == 0 ? CFG_STYLE_QUOTED : CFG_STYLE_PLAIN;
    return 0;
}

static int yb_scalar(struct yb *b, yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    enum cfg_style style = CFG_STYLE_QUOTED;
    struct cfg_node *n;
    char *anchor;

    if (ev->data.scalar.plain_implicit && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        style = CFG_STYLE_PLAIN;
    if (yb_tag(b, ev->data.scalar.tag, m, &style) < 0)
        return -1;
    if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length)
        return yb_fail(b, m, "%s", "scalar contains a NUL character");
    if (++b->nodes > CFG_YAML_MAX_NODES)
        return yb_copy_fail(b, m);
    if ((n = cfg_node_new_scalar((const char *)ev->data.scalar.value, style)) == NULL)
        return yb_oom(b, m);
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    anchor = yb_dup(ev->data.scalar.anchor);
    if (yb_anchor_add(b, anchor, n, m) < 0) {
        cfg_node_free(n);
        return -1;
    }
    return yb_attach(b, n, m);
}

static int yb_open(struct yb *b, yaml_event_t *ev, enum cfg_node_kind kind)
{
    const yaml_mark_t *m = &ev->start_mark;
    const yaml_char_t *tag, *anchor;
    struct cfg_node *n;

    tag = kind == CFG_NODE_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    anchor = kind == CFG_NODE_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    if (yb_tag(b, tag, m, NULL) < 0)
        return -1;
    if (b->depth == CFG_YAML_MAX_DEPTH)
        return yb_fail(b, m, "nesting deeper than %d levels", CFG_YAML_MAX_DEPTH);
    if (++b->nodes > CFG_YAML_MAX_NODES)
        return yb_copy_fail(b, m);
    if ((n = cfg_node_alloc(kind)) == NULL)
        return yb_oom(b, m);
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    b->stack[b->depth].node = n;
    b->stack[b->depth].anchor = NULL;
    if (anchor != NULL && (b->stack[b->depth].anchor = yb_dup(anchor)) == NULL) {
        cfg_node_free(n);
        return yb_oom(b, m);
    }
    b->depth++;
    return 0;
}

static int yb_close(struct yb *b, yaml_event_t *ev)
{
    struct yb_frame f = b->stack[--b->depth];

    if (f.node->kind == CFG_NODE_MAP && yb_map_finish(b, f.node, &ev->start_mark) < 0) {
        free(f.anchor);
        cfg_node_free(f.node);
        return -1;
    }
    if (yb_anchor_add(b, f.anchor, f.node, &ev->start_mark) < 0) {
        cfg_node_free(f.node);
        return -1;
    }
    return yb_attach(b, f.node, &ev->start_mark);
}

static int yb_alias(struct yb *b, yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    struct cfg_node *c;

    for (size_t i = b->nanchors; i-- > 0;) {
        if (strcmp(b->anchors[i].name, name) != 0)
            continue;
        if ((c = yb_copy(b, b->anchors[i].node)) == NULL)
            return yb_copy_fail(b, &ev->start_mark);
        c->line = (int)ev->start_mark.line + 1;
        c->col = (int)ev->start_mark.column + 1;
        return yb_attach(b, c, &ev->start_mark);
    }
    return yb_fail(b, &ev->start_mark, "unknown alias '*%.200s'", name);
}

static int yb_event(struct yb *b, yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->ndocs > 1)
            return yb_fail(b, &ev->start_mark, "%s",
                           "expected a single YAML document, found another one");
        return 0;
    case YAML_SCALAR_EVENT:
        return yb_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return yb_open(b, ev, CFG_NODE_SEQ);
    case YAML_MAPPING_START_EVENT:
        return yb_open(b, ev, CFG_NODE_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return yb_close(b, ev);
    case YAML_ALIAS_EVENT:
        return yb_alias(b, ev);
    default:
        return 0;
    }
}

/* Formats libyaml's error; reader errors carry a byte offset, converted to line:col. */
static void yb_syntax_error(struct yb *b, const yaml_parser_t *p, const char *buf, size_t len)
{
    yaml_mark_t m = p->problem_mark;
    const char *problem = p->problem != NULL ? p->problem : "unknown error";
    int o;

    if (p->error == YAML_MEMORY_ERROR) {
        snprintf(b->err, b->errlen, "%s: out of memory while parsing YAML", b->path);
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        memset(&m, 0, sizeof(m));
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (buf[i] == '\n') {
                m.line++;
                m.column = 0;
            } else if (((unsigned char)buf[i] & 0xC0) != 0x80) {
                m.column++;
            }
        }
    }
    o = snprintf(b->err, b->errlen, "%s:%d:%d: YAML syntax error: %s", b->path, (int)m.line + 1,
                 (int)m.column + 1, problem);
    if (p->context != NULL && o >= 0 && (size_t)o < b->errlen)
        snprintf(b->err + o, b->errlen - (size_t)o, " %s (started at line %d, column %d)",
                 p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
}

/* Reads the whole file. Returns owned buffer (NUL-terminated) or NULL with err set. */
static char *yb_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *buf = NULL;
    int e;

    if (f == NULL)
        goto fail;
    if (fstat(fileno(f), &st) < 0)
        goto fail;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto fail;
    }
    if (st.st_size > CFG_YAML_MAX_FILE) {
        errno = EFBIG;
        goto fail;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
        goto fail;
    *len = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f))
        goto fail;
    buf[*len] = '\0';
    fclose(f);
    return buf;
fail:
    e = errno != 0 ? errno : EIO;
    snprintf(err, errlen, "%s: cannot read config file: %s", path, strerror(e));
    free(buf);
    if (f != NULL)
        fclose(f);
    return NULL;
}

static const char *yb_kind_name(const struct cfg_node *n)
{
    return n->kind == CFG_NODE_SEQ ? "a list" : n->kind == CFG_NODE_MAP ? "a mapping" : "a scalar";
}

struct cfg_node *cfg_yaml_load(const char *path, char *err, size_t errlen)
{
    struct yb b = {.path = path, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_event_t ev;
    size_t len = 0;
    char *buf;
    bool done = false;
    int rc = 0;

    if ((buf = yb_read_file(path, &len, err, errlen)) == NULL)
        return NULL;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: out of memory while parsing YAML", path);
        free(buf);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&parser, &ev)) {
            yb_syntax_error(&b, &parser, buf, len);
            rc = -1;
            break;
        }
        rc = yb_event(&b, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    free(buf);
    while (b.depth > 0) {
        b.depth--;
        free(b.stack[b.depth].anchor);
        cfg_node_free(b.stack[b.depth].node);
    }
    for (size_t i = 0; i < b.nanchors; i++) {
        free(b.anchors[i].name);
        cfg_node_free(b.anchors[i].node);
    }
    free(b.anchors);
    if (rc == 0 && b.root != NULL && b.root->kind != CFG_NODE_MAP) {
        struct cfg_scalar s;
        cfg_scalar_resolve(b.root, &s);
        if (b.root->kind != CFG_NODE_SCALAR || s.type != CFG_SV_NULL) {
            snprintf(err, errlen, "%s:%d:%d: top level must be a mapping, got %s", path,
                     b.root->line, b.root->col, yb_kind_name(b.root));
            rc = -1;
        }
    }
    if (rc < 0) {
        cfg_node_free(b.root);
        return NULL;
    }
    if (b.root == NULL || b.root->kind != CFG_NODE_MAP) { /* empty document or null: {} */
        cfg_node_free(b.root);
        if ((b.root = cfg_node_alloc(CFG_NODE_MAP)) == NULL)
            snprintf(err, errlen, "%s: out of memory while parsing YAML", path);
        else
            b.root->line = b.root->col = 1;
    }
    return b.root;
}
