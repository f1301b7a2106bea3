/*
 * The Prometheus text exposition format 0.0.4 of a registry's families (gw_mx.h): HELP and TYPE
 * lines, label values escaped (backslash, double quote, newline), histograms as cumulative
 * _bucket series with le, then _sum and _count.
 */
#ifndef GW_MX_TEXT_H
#define GW_MX_TEXT_H

#include <stddef.h>

struct evbuffer;
struct gw_mx;

#define GW_MX_TEXT_CTYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends family fam merged over every shard. Returns 0, or -1 when out of memory. */
int gw_mx_text_family(struct evbuffer *out, struct gw_mx *mx, int fam);

/*
 * Appends a one-sample family computed at scrape time: HELP, TYPE (type "gauge" or "counter"),
 * then name{label="value"} v, or name v when label is NULL.
 */
void gw_mx_text_value(struct evbuffer *out, const char *name, const char *help, const char *type,
                      const char *label, const char *value, double v);

/* Appends s[0..n) escaped for a label value. */
void gw_mx_text_escape(struct evbuffer *out, const char *s, size_t n);

/* Formats v as the format's float ("+Inf", "NaN", "1.0", "0.005"). Returns buf. */
const char *gw_mx_text_num(char *buf, size_t size, double v);

#endif
