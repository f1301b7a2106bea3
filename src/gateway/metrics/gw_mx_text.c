/*
 * Prometheus text exposition (format 0.0.4) of the registry (contract in gw_mx_text.h).
 */
#include "gateway/metrics/gw_mx_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gateway/metrics/gw_mx.h"

const char *gw_mx_text_num(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        return buf;
    }
    snprintf(buf, size, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, size, "%.17g", v);
    if (strpbrk(buf, ".e") == NULL && strlen(buf) + 3 <= size)
        strcat(buf, ".0");
    return buf;
}

void gw_mx_text_escape(struct evbuffer *out, const char *s, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        const char *esc = s[i] == '\\'   ? "\\\\"
                          : s[i] == '"'  ? "\\\""
                          : s[i] == '\n' ? "\\n"
                                         : NULL;
        if (esc == NULL)
            continue;
        evbuffer_add(out, s + run, i - run);
        evbuffer_add(out, esc, 2);
        run = i + 1;
    }
    evbuffer_add(out, s + run, n - run);
}

/* HELP text escapes backslash and newline only. */
static void gw_mx_text_head(struct evbuffer *out, const char *name, const char *help,
                            const char *type)
{
    evbuffer_add_printf(out, "# HELP %s ", name);
    for (const char *p = help; *p != '\0'; p++) {
        if (*p == '\\')
            evbuffer_add(out, "\\\\", 2);
        else if (*p == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, p, 1);
    }
    evbuffer_add_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* name[suffix]{l1="v1",...[,le="x"]} */
static void gw_mx_text_series(struct evbuffer *out, const struct gw_mx_def *d, const char *suffix,
                              const struct gw_mx_sample *sm, const char *le)
{
    const char *v = sm->key;
    bool any = false;

    evbuffer_add_printf(out, "%s%s", d->name, suffix);
    for (int i = 0; i < d->nlabels; i++) {
        size_t n = strlen(v);
        evbuffer_add_printf(out, "%s%s=\"", any ? "," : "{", d->labels[i]);
        gw_mx_text_escape(out, v, n);
        evbuffer_add(out, "\"", 1);
        any = true;
        v += n + 1;
    }
    if (le != NULL) {
        evbuffer_add_printf(out, "%sle=\"%s\"", any ? "," : "{", le);
        any = true;
    }
    if (any)
        evbuffer_add(out, "}", 1);
}

static const char *gw_mx_type_name(enum gw_mx_kind k)
{
    return k == GW_MX_COUNTER ? "counter" : k == GW_MX_GAUGE ? "gauge" : "histogram";
}

int gw_mx_text_family(struct evbuffer *out, struct gw_mx *mx, int fam)
{
    const struct gw_mx_def *d = gw_mx_def(mx, fam);
    size_t n;
    struct gw_mx_sample *sm = gw_mx_collect(mx, fam, &n);
    char num[64], le[64];

    gw_mx_text_head(out, d->name, d->help, gw_mx_type_name(d->kind));
    for (size_t i = 0; i < n; i++) {
        if (d->kind != GW_MX_HISTOGRAM) {
            gw_mx_text_series(out, d, "", &sm[i], NULL);
            evbuffer_add_printf(out, " %lld\n", (long long)sm[i].value);
            continue;
        }
        uint64_t cum = 0;
        for (int b = 0; b <= d->nbuckets; b++) {
            cum += sm[i].buckets[b];
            if (b < d->nbuckets)
                gw_mx_text_num(le, sizeof(le), d->buckets[b]);
            else
                snprintf(le, sizeof(le), "+Inf");
            gw_mx_text_series(out, d, "_bucket", &sm[i], le);
            evbuffer_add_printf(out, " %llu\n", (unsigned long long)cum);
        }
        gw_mx_text_series(out, d, "_sum", &sm[i], NULL);
        evbuffer_add_printf(out, " %s\n", gw_mx_text_num(num, sizeof(num), sm[i].sum));
        gw_mx_text_series(out, d, "_count", &sm[i], NULL);
        evbuffer_add_printf(out, " %llu\n", (unsigned long long)sm[i].count);
    }
    free(sm);
    return 0;
}

void gw_mx_text_value(struct evbuffer *out, const char *name, const char *help, const char *type,
                      const char *label, const char *value, double v)
{
    char num[64];

    gw_mx_text_head(out, name, help, type);
    evbuffer_add_printf(out, "%s", name);
    if (label != NULL) {
        evbuffer_add_printf(out, "{%s=\"", label);
        gw_mx_text_escape(out, value, strlen(value));
        evbuffer_add(out, "\"}", 2);
    }
    evbuffer_add_printf(out, " %s\n", gw_mx_text_num(num, sizeof(num), v));
}
