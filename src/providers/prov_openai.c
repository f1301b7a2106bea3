/*
 * The OpenAI chat-completions dialect: the request is the client's own JSON with the model name
 * replaced, config fields added where the request has none and usage always asked for in streams;
 * replies and chunks are relayed byte for byte, only read for usage and generated text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwrite.h"
#include "providers/prov_dialect.h"
#include "providers/prov_embed.h"
#include "providers/prov_openai.h"

/*
 * ---- Fast path for replies and stream chunks ----
 *
 * A reply or chunk is relayed byte for byte and only read for usage and generated text. Building
 * a jansson tree for that cost more than the rest of the request's own work, so one pass over the
 * bytes reads the same facts (prov_usage_parse/merge_chunk, prov_usage_text_bytes,
 * prov_usage_is_usage_only) without allocating. It accepts only input jansson parses the same
 * way: valid JSON (UTF-8 checked, no "\u0000", integers that fit, reals that do not overflow)
 * whose top level is an object. Anything it is not sure about (a \u escape in a key, a key that
 * matters seen twice, a real token count, an "error" member, deep nesting) returns OA_UNSURE and
 * the caller takes the jansson path, which decides.
 */
#define OA_OK 0
#define OA_UNSURE (-1)
#define OA_MAX_DEPTH 32

struct oa_scan {
    const unsigned char *p, *end;
    int depth;
};

/* What one reply or chunk says (see the prov_usage.h functions it stands for). */
struct oa_facts {
    bool choices_array; /* "choices" is an array */
    size_t nchoices;
    bool usage_object; /* "usage" is an object */
    long tokens[3]; /* its prompt, completion and total token fields as usage_field() reads them */
    bool error;     /* a non-null "error" member */
    size_t text;    /* prov_usage_text_bytes() */
};

typedef int oa_member_fn(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg);
typedef int oa_elem_fn(struct oa_scan *s, void *arg);

static int oa_value(struct oa_scan *s);

static void oa_ws(struct oa_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int oa_peek(struct oa_scan *s)
{
    oa_ws(s);
    return s->p < s->end ? *s->p : -1;
}

static bool oa_key_is(const unsigned char *key, size_t klen, const char *name)
{
    return strlen(name) == klen && memcmp(key, name, klen) == 0;
}

/* Marks key number bit as seen; a second sighting makes the result unsure (jansson: last wins). */
static int oa_once(unsigned *seen, unsigned bit)
{
    if (*seen & (1u << bit))
        return OA_UNSURE;
    *seen |= 1u << bit;
    return OA_OK;
}

static int oa_hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return OA_UNSURE;
    }
    *out = v;
    return OA_OK;
}

/* One UTF-8 sequence at p (lead byte >= 0x80), as strict as jansson: its length, or 0. */
static size_t oa_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned cp;

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/*
 * A string at the cursor ('"'): *raw and *rawlen are its bytes between the quotes, *len its length
 * once decoded (json_string_length), *escaped whether it had escapes.
 */
static int oa_string(struct oa_scan *s, const unsigned char **raw, size_t *rawlen, size_t *len,
                     bool *escaped)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    size_t n = 0;

    *escaped = false;
    while (p < end && *p != '"') {
        unsigned char c = *p;
        if (c < 0x20)
            return OA_UNSURE;
        if (c < 0x80 && c != '\\') {
            p++;
            n++;
        } else if (c >= 0x80) {
            size_t k = oa_utf8(p, end);
            if (k == 0)
                return OA_UNSURE;
            p += k;
            n += k;
        } else {
            unsigned cp, lo;
            *escaped = true;
            if (end - p < 2)
                return OA_UNSURE;
            c = p[1];
            if (c != 'u') {
                if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
                    return OA_UNSURE;
                p += 2;
                n++;
                continue;
            }
            if (end - p < 6 || oa_hex4(p + 2, &cp) != OA_OK || cp == 0 ||
                (cp >= 0xDC00 && cp <= 0xDFFF))
                return OA_UNSURE;
            p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || oa_hex4(p + 2, &lo) != OA_OK ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return OA_UNSURE;
                p += 6;
                n += 4;
            } else {
                n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
            }
        }
    }
    if (p >= end)
        return OA_UNSURE;
    *raw = s->p + 1;
    *rawlen = (size_t)(p - (s->p + 1));
    *len = n;
    s->p = p + 1;
    return OA_OK;
}

static int oa_skip_string(struct oa_scan *s)
{
    const unsigned char *raw;
    size_t rawlen, len;
    bool esc;

    return oa_string(s, &raw, &rawlen, &len, &esc);
}

static bool oa_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/*
 * A number: *is_int and, for integers, *value. Integers have at most 18 digits (they fit
 * json_int_t); reals at most 40 characters and a two-digit exponent (they cannot overflow).
 */
static int oa_number(struct oa_scan *s, bool *is_int, long *value)
{
    const unsigned char *p = s->p, *end = s->end, *start = s->p;
    bool neg = false;
    size_t digits = 0, expdigits = 0;
    long v = 0;

    *is_int = true;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (!oa_digit(p, end))
        return OA_UNSURE;
    if (*p == '0') {
        p++;
        digits = 1;
        if (oa_digit(p, end))
            return OA_UNSURE;
    } else {
        while (oa_digit(p, end)) {
            if (++digits > 18)
                return OA_UNSURE;
            v = v * 10 + (*p - '0');
            p++;
        }
    }
    if (p < end && *p == '.') {
        *is_int = false;
        p++;
        if (!oa_digit(p, end))
            return OA_UNSURE;
        while (oa_digit(p, end))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *is_int = false;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!oa_digit(p, end))
            return OA_UNSURE;
        while (oa_digit(p, end)) {
            if (++expdigits > 2)
                return OA_UNSURE;
            p++;
        }
    }
    if (!*is_int && p - start > 40)
        return OA_UNSURE;
    *value = neg ? -v : v;
    s->p = p;
    return OA_OK;
}

static int oa_literal(struct oa_scan *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return OA_UNSURE;
    s->p += n;
    /* "truex" is one bad identifier for jansson; let it say so. */
    if (s->p < s->end && ((*s->p >= 'a' && *s->p <= 'z') || (*s->p >= 'A' && *s->p <= 'Z')))
        return OA_UNSURE;
    return OA_OK;
}

/* Walks an object at the cursor; fn (NULL: skip) consumes each member's value. */
static int oa_object(struct oa_scan *s, oa_member_fn *fn, void *arg)
{
    if (++s->depth > OA_MAX_DEPTH)
        return OA_UNSURE;
    s->p++;
    if (oa_peek(s) == '}') {
        s->p++;
        s->depth--;
        return OA_OK;
    }
    for (;;) {
        const unsigned char *key;
        size_t klen, len;
        bool esc;

        if (oa_peek(s) != '"' || oa_string(s, &key, &klen, &len, &esc) != OA_OK || esc ||
            oa_peek(s) != ':')
            return OA_UNSURE;
        s->p++;
        if (oa_peek(s) < 0)
            return OA_UNSURE;
        if ((fn != NULL ? fn(s, key, klen, arg) : oa_value(s)) != OA_OK)
            return OA_UNSURE;
        switch (oa_peek(s)) {
        case ',':
            s->p++;
            continue;
        case '}':
            s->p++;
            s->depth--;
            return OA_OK;
        default:
            return OA_UNSURE;
        }
    }
}

/* Walks an array at the cursor; fn (NULL: skip) consumes each element. *count gets their number. */
static int oa_array(struct oa_scan *s, oa_elem_fn *fn, void *arg, size_t *count)
{
    size_t n = 0;

    if (++s->depth > OA_MAX_DEPTH)
        return OA_UNSURE;
    s->p++;
    if (oa_peek(s) == ']') {
        s->p++;
        s->depth--;
        if (count != NULL)
            *count = 0;
        return OA_OK;
    }
    for (;;) {
        if (oa_peek(s) < 0 || (fn != NULL ? fn(s, arg) : oa_value(s)) != OA_OK)
            return OA_UNSURE;
        n++;
        switch (oa_peek(s)) {
        case ',':
            s->p++;
            continue;
        case ']':
            s->p++;
            s->depth--;
            if (count != NULL)
                *count = n;
            return OA_OK;
        default:
            return OA_UNSURE;
        }
    }
}

/* Any value at the cursor, skipped. */
static int oa_value(struct oa_scan *s)
{
    bool is_int;
    long v;

    switch (oa_peek(s)) {
    case '{':
        return oa_object(s, NULL, NULL);
    case '[':
        return oa_array(s, NULL, NULL, NULL);
    case '"':
        return oa_skip_string(s);
    case 't':
        return oa_literal(s, "true");
    case 'f':
        return oa_literal(s, "false");
    case 'n':
        return oa_literal(s, "null");
    default:
        return oa_number(s, &is_int, &v);
    }
}

/* A value whose decoded length counts when it is a string (usage_str_bytes). */
static int oa_str_bytes(struct oa_scan *s, size_t *n)
{
    const unsigned char *raw;
    size_t rawlen, len;
    bool esc;

    if (oa_peek(s) != '"')
        return oa_value(s);
    if (oa_string(s, &raw, &rawlen, &len, &esc) != OA_OK)
        return OA_UNSURE;
    *n += len;
    return OA_OK;
}

/* State of one object walk: the bytes counted and the keys seen. */
struct oa_count {
    size_t n;
    unsigned seen;
};

/*
 * A value whose object members fn counts (struct oa_count): walked when it is an object, skipped
 * otherwise (json_object_get() on a non-object finds nothing). Adds the bytes to *n.
 */
static int oa_count_object(struct oa_scan *s, oa_member_fn *fn, size_t *n)
{
    struct oa_count c = {0};

    if (oa_peek(s) != '{')
        return oa_value(s);
    if (oa_object(s, fn, &c) != OA_OK)
        return OA_UNSURE;
    *n += c.n;
    return OA_OK;
}

static int oa_text_member(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg)
{
    struct oa_count *c = arg;

    if (!oa_key_is(key, klen, "text"))
        return oa_value(s);
    return oa_once(&c->seen, 0) == OA_OK ? oa_str_bytes(s, &c->n) : OA_UNSURE;
}

/* content: a string, or an array of parts whose "text" strings count. */
static int oa_part(struct oa_scan *s, void *arg)
{
    return oa_count_object(s, oa_text_member, arg);
}

static int oa_content_member(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg)
{
    struct oa_count *c = arg;

    if (!oa_key_is(key, klen, "content"))
        return oa_value(s);
    return oa_once(&c->seen, 0) == OA_OK ? oa_str_bytes(s, &c->n) : OA_UNSURE;
}

static int oa_function_member(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg)
{
    struct oa_count *c = arg;

    if (oa_key_is(key, klen, "name"))
        return oa_once(&c->seen, 0) == OA_OK ? oa_str_bytes(s, &c->n) : OA_UNSURE;
    if (oa_key_is(key, klen, "arguments"))
        return oa_once(&c->seen, 1) == OA_OK ? oa_str_bytes(s, &c->n) : OA_UNSURE;
    return oa_value(s);
}

static int oa_call_member(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg)
{
    struct oa_count *c = arg;

    if (!oa_key_is(key, klen, "function"))
        return oa_value(s);
    if (oa_once(&c->seen, 0) != OA_OK)
        return OA_UNSURE;
    return oa_count_object(s, oa_function_member, &c->n);
}

static int oa_call(struct oa_scan *s, void *arg)
{
    return oa_count_object(s, oa_call_member, arg);
}

/* The members of a "message" or "delta" that usage_msg_bytes() counts. */
static int oa_msg_member(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg)
{
    static const char *const keys[] = {"content", "reasoning_content", "refusal", "reasoning",
                                       "tool_calls"};
    struct oa_count *c = arg;
    unsigned k = 0;
    int t;

    while (k < sizeof(keys) / sizeof(keys[0]) && !oa_key_is(key, klen, keys[k]))
        k++;
    if (k == sizeof(keys) / sizeof(keys[0]))
        return oa_value(s);
    if (oa_once(&c->seen, k) != OA_OK)
        return OA_UNSURE;
    t = oa_peek(s);
    if (k == 0 && t == '[')
        return oa_array(s, oa_part, &c->n, NULL);
    if (k == 3 && t == '{')
        return oa_count_object(s, oa_content_member, &c->n);
    if (k == 4)
        return t == '[' ? oa_array(s, oa_call, &c->n, NULL) : oa_value(s);
    return oa_str_bytes(s, &c->n);
}

static int oa_choice_member(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg)
{
    struct oa_count *c = arg;
    unsigned k;

    if (oa_key_is(key, klen, "delta"))
        k = 0;
    else if (oa_key_is(key, klen, "message"))
        k = 1;
    else
        return oa_value(s);
    if (oa_once(&c->seen, k) != OA_OK)
        return OA_UNSURE;
    return oa_count_object(s, oa_msg_member, &c->n);
}

static int oa_choice(struct oa_scan *s, void *arg)
{
    return oa_count_object(s, oa_choice_member, arg);
}

struct oa_usage {
    long *tokens;
    unsigned seen;
};

/* A token count as usage_field() reads it: integers > 0 as is, a real unsure, the rest 0. */
static int oa_usage_member(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg)
{
    static const char *const keys[] = {"prompt_tokens", "completion_tokens", "total_tokens"};
    struct oa_usage *u = arg;
    unsigned k = 0;
    bool is_int;
    long v;
    int t;

    while (k < 3 && !oa_key_is(key, klen, keys[k]))
        k++;
    if (k == 3)
        return oa_value(s);
    if (oa_once(&u->seen, k) != OA_OK)
        return OA_UNSURE;
    t = oa_peek(s);
    if (t != '-' && (t < '0' || t > '9'))
        return oa_value(s);
    if (oa_number(s, &is_int, &v) != OA_OK || !is_int)
        return OA_UNSURE;
    u->tokens[k] = v > 0 ? v : 0;
    return OA_OK;
}

struct oa_top {
    struct oa_facts *f;
    unsigned seen;
};

static int oa_top_member(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg)
{
    struct oa_top *top = arg;
    struct oa_facts *f = top->f;
    int t;

    if (oa_key_is(key, klen, "choices")) {
        if (oa_once(&top->seen, 0) != OA_OK)
            return OA_UNSURE;
        if (oa_peek(s) != '[')
            return oa_value(s);
        f->choices_array = true;
        return oa_array(s, oa_choice, &f->text, &f->nchoices);
    }
    if (oa_key_is(key, klen, "usage")) {
        struct oa_usage u = {.tokens = f->tokens};
        if (oa_once(&top->seen, 1) != OA_OK)
            return OA_UNSURE;
        if (oa_peek(s) != '{')
            return oa_value(s);
        f->usage_object = true;
        return oa_object(s, oa_usage_member, &u);
    }
    if (oa_key_is(key, klen, "error")) {
        if (oa_once(&top->seen, 2) != OA_OK)
            return OA_UNSURE;
        t = oa_peek(s);
        f->error = t != 'n';
        return oa_value(s);
    }
    return oa_value(s);
}

/* Reads the facts of a reply or chunk: OA_OK, or OA_UNSURE (use jansson). */
static int oa_facts_read(const char *buf, size_t len, struct oa_facts *f)
{
    struct oa_scan s = {.p = (const unsigned char *)buf, .end = (const unsigned char *)buf + len};
    struct oa_top top = {.f = f};

    memset(f, 0, sizeof(*f));
    if (oa_peek(&s) != '{' || oa_object(&s, oa_top_member, &top) != OA_OK)
        return OA_UNSURE;
    oa_ws(&s);
    return s.p == s.end ? OA_OK : OA_UNSURE;
}

/* The usage of facts with a usage object, as prov_usage_parse() sets it. */
static void oa_facts_usage(const struct oa_facts *f, struct prov_usage *u)
{
    prov_usage_init(u);
    u->prompt_tokens = f->tokens[0];
    u->completion_tokens = f->tokens[1];
    u->total_tokens = f->tokens[2];
    u->seen = true;
}

int prov_openai_chat_reply(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                           char **out, size_t *out_len)
{
    struct oa_facts f;
    json_t *j;
    int rc = -1;

    *out = NULL;
    *out_len = 0;
    *gen_bytes = 0;
    prov_usage_init(u);
    if (oa_facts_read(body, len, &f) == OA_OK) {
        if (!f.choices_array)
            return -1;
        if (f.usage_object)
            oa_facts_usage(&f, u);
        *gen_bytes = f.text;
        return 0;
    }
    j = json_loadb(body, len, 0, NULL);
    /* A 2xx without choices (or with an error object instead) is not a completion. */
    if (json_is_object(j) && json_is_array(json_object_get(j, "choices"))) {
        prov_usage_parse(u, j);
        *gen_bytes = prov_usage_text_bytes(j);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

/*
 * ---- Request body ----
 *
 * The upstream body is the client's request with the bare model name (spec §7.2), config fields
 * filled in where the request has none, and usage asked for on streams. When nothing but the
 * model changes, the client's bytes are kept and only the model's value is replaced (no tree
 * serialisation, numbers and key order exactly as sent); otherwise the tree is serialised.
 */
#define OA_STREAM_USAGE ",\"stream_options\":{\"include_usage\":true}"

/* The top-level facts the splice needs: the "model" value's span, "stream_options" present. */
struct oa_req_top {
    const unsigned char *model, *model_end;
    bool stream_options;
};

static int oa_req_member(struct oa_scan *s, const unsigned char *key, size_t klen, void *arg)
{
    struct oa_req_top *t = arg;

    if (oa_key_is(key, klen, "model")) {
        if (t->model != NULL)
            return OA_UNSURE;
        t->model = s->p;
        if (oa_value(s) != OA_OK)
            return OA_UNSURE;
        t->model_end = s->p;
        return OA_OK;
    }
    if (oa_key_is(key, klen, "stream_options"))
        t->stream_options = true;
    return oa_value(s);
}

/* Writes s as a JSON string at o (room for 2 + 6 * strlen(s) bytes); returns the end. */
static char *oa_put_string(char *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    *o++ = '"';
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    return o;
}

/*
 * The body by editing in->raw, or NULL when that is not possible (no raw bytes, a config field
 * to add, stream_options to change, a request the scanner is not sure about) or out of memory:
 * the caller then serialises the tree, which decides.
 */
static char *oa_body_splice(const struct prov_conf *pc, const struct prov_chat_in *in, size_t *len)
{
    struct oa_scan s;
    struct oa_req_top t = {0};
    const unsigned char *raw = (const unsigned char *)in->raw, *close;
    const char *k;
    json_t *v;
    char *out, *o;

    if (raw == NULL)
        return NULL;
    json_object_foreach(pc->kwargs, k, v)
    {
        if (json_object_get(in->req, k) == NULL)
            return NULL;
    }
    s = (struct oa_scan){.p = raw, .end = raw + in->raw_len};
    if (oa_peek(&s) != '{' || oa_object(&s, oa_req_member, &t) != OA_OK || t.model == NULL ||
        (in->stream && t.stream_options))
        return NULL;
    close = s.p - 1; /* the object's '}' */
    oa_ws(&s);
    if (s.p != s.end)
        return NULL;
    out = malloc((size_t)(t.model - raw) + 2 + 6 * strlen(in->model) +
                 (size_t)(close - t.model_end) + sizeof(OA_STREAM_USAGE) + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, raw, (size_t)(t.model - raw));
    o = oa_put_string(out + (t.model - raw), in->model);
    memcpy(o, t.model_end, (size_t)(close - t.model_end));
    o += close - t.model_end;
    if (in->stream) {
        memcpy(o, OA_STREAM_USAGE, sizeof(OA_STREAM_USAGE) - 1);
        o += sizeof(OA_STREAM_USAGE) - 1;
    }
    *o++ = '}';
    *o = '\0';
    *len = (size_t)(o - out);
    return out;
}

/* The body by serialising the (amended) tree; -1 with err set when it cannot be built. */
static int oa_body_tree(const struct prov_conf *pc, const struct prov_chat_in *in,
                        bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    const char *k;
    json_t *v, *req = in->req;

    /* Config fields are defaults: a field the request sets wins (spec §7.2). */
    json_object_foreach(pc->kwargs, k, v)
    {
        if (json_object_get(req, k) == NULL && json_object_set(req, k, v) < 0)
            goto oom;
    }
    if (json_object_set_new(req, "model", json_string(in->model)) < 0)
        goto oom;
    if (in->stream && prov_usage_inject_stream_options(req, client_usage) < 0) {
        snprintf(err, errlen, "stream_options must be an object");
        return -1;
    }
    out->body = jw_dumps(req, NULL);
    if (out->body == NULL)
        goto oom;
    out->body_len = strlen(out->body);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int prov_openai_chat_body(const struct prov_conf *pc, const struct prov_chat_in *in,
                          bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    *client_usage = false;
    out->body = oa_body_splice(pc, in, &out->body_len);
    if (out->body == NULL && oa_body_tree(pc, in, client_usage, out, err, errlen) < 0)
        return -1;
    return 0;
}

static int openai_chat_build(const struct prov_conf *pc, const struct prov_chat_in *in,
                             bool *client_usage, struct prov_http *out, char *err, size_t errlen)
{
    size_t n;

    *client_usage = false;
    if (pc->base_url == NULL) {
        return prov_no_base_url(pc, err, errlen);
    }
    if (prov_openai_chat_body(pc, in, client_usage, out, err, errlen) < 0)
        return -1;
    n = strlen(pc->base_url) + sizeof("/chat/completions");
    if ((out->url = malloc(n)) == NULL)
        goto oom;
    snprintf(out->url, n, "%s/chat/completions", pc->base_url);
    if (prov_http_std(out, pc, in->stream ? "text/event-stream" : "application/json", NULL, err,
                      errlen) < 0)
        return -1;
    /* The any-llm "gateway" provider is another gateway: it reads AnyLLM-Key too (the same value
       as its Authorization header, the third one). */
    if (pc->api_key != NULL && strcmp(pc->info->id, "gateway") == 0 &&
        prov_http_add(out, "AnyLLM-Key", out->headers[2].value) < 0)
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int prov_openai_chat_event(struct prov_stream *s, const char *event, const char *data, size_t len,
                           prov_emit_fn *emit, void *arg)
{
    struct oa_facts f;
    json_t *j, *e;
    int rc = 0;

    (void)event;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->done = true;
        return 0;
    }
    if (oa_facts_read(data, len, &f) == OA_OK && !f.error) {
        if (f.usage_object) {
            struct prov_usage cu;
            oa_facts_usage(&f, &cu);
            /* prov_usage_merge_chunk(): a non-zero field replaces the current one. */
            if (cu.prompt_tokens != 0)
                s->usage.prompt_tokens = cu.prompt_tokens;
            if (cu.completion_tokens != 0)
                s->usage.completion_tokens = cu.completion_tokens;
            if (cu.total_tokens != 0)
                s->usage.total_tokens = cu.total_tokens;
            s->usage.seen = true;
        }
        s->gen_bytes += f.text;
        if (s->client_usage || !(f.usage_object && f.choices_array && f.nchoices == 0))
            rc = emit(NULL, data, len, arg);
        return rc;
    }
    j = json_loadb(data, len, 0, NULL);
    if (!json_is_object(j)) {
        s->failed = true;
        snprintf(s->error, sizeof(s->error), "malformed stream event from the provider");
        json_decref(j);
        return 0;
    }
    e = json_object_get(j, "error");
    if (e != NULL && !json_is_null(e)) {
        const char *m = json_string_value(json_object_get(e, "message"));
        if (m == NULL)
            m = json_is_string(e) ? json_string_value(e) : "error event from the provider";
        s->failed = true;
        prov_copy_line(s->error, sizeof(s->error), m, strlen(m));
        json_decref(j);
        return 0;
    }
    prov_usage_merge_chunk(&s->usage, j);
    s->gen_bytes += prov_usage_text_bytes(j);
    if (s->client_usage || !prov_usage_is_usage_only(j))
        rc = emit(NULL, data, len, arg);
    json_decref(j);
    return rc;
}

void prov_openai_error_message(const char *body, size_t len, char *out, size_t outlen, char *code,
                               size_t codelen)
{
    json_t *j = json_loadb(body, len, 0, NULL), *e, *c;
    const char *m = NULL;

    if (code != NULL && codelen > 0)
        code[0] = '\0';
    e = json_object_get(j, "error");
    if (json_is_object(e)) {
        m = json_string_value(json_object_get(e, "message"));
        c = json_object_get(e, "code");
        if (!json_is_string(c))
            c = json_object_get(e, "type");
        if (json_is_string(c) && code != NULL)
            prov_copy_line(code, codelen, json_string_value(c), json_string_length(c));
    } else if (json_is_string(e)) {
        m = json_string_value(e);
    }
    if (m == NULL)
        m = json_string_value(json_object_get(j, "message"));
    if (m == NULL)
        m = json_string_value(json_object_get(j, "detail"));
    if (m != NULL) {
        prov_copy_line(out, outlen, m, strlen(m));
    } else {
        /* Not JSON: the start of the text, without control characters. */
        size_t n = len < 200 ? len : 200;
        prov_copy_line(out, outlen, body, n);
    }
    json_decref(j);
}

const struct prov_dialect_ops prov_dialect_openai = {
    .name = "openai",
    .chat_build = openai_chat_build,
    .chat_reply = prov_openai_chat_reply,
    .chat_event = prov_openai_chat_event,
    .error_message = prov_openai_error_message,
    .embed_build = prov_openai_embed_build,
    .embed_reply = prov_openai_embed_reply,
};
