/*
 * Fuzz target: the AWS event-stream decoder (prov_awsstream). The input is fed as is, and again
 * with every message's lengths clamped to the input and both CRCs recomputed (so random bytes
 * reach the header parser, which a CRC mismatch would otherwise stop). Each is fed whole, one
 * byte at a time and in random pieces: every plan must deliver the same messages, return the
 * same codes and fail with the same reason; every delivered field must lie inside its message.
 * The decoder is then reused after prov_awsstream_finish() and must give the same result. A
 * payload starting with "STOP" makes the callback stop the decoder.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/prov_awsstream.h"

#include "fz.h"

static void log_str(struct fz_log *l, const char *s)
{
    fz_log_field(l, s ? s : "", s ? strlen(s) + 1 : 0);
}

static int on_message(const struct prov_aws_message *m, void *arg)
{
    struct fz_log *l = arg;

    FZ_CHECK(m->payload != NULL && m->payload[m->payload_len] == '\0');
    FZ_CHECK(m->payload_len <= PROV_AWS_MAX_PAYLOAD);
    FZ_CHECK(m->nheaders == 0 || m->headers != NULL);
    fz_log_num(l, 'M');
    log_str(l, m->message_type);
    log_str(l, m->event_type);
    log_str(l, m->exception_type);
    log_str(l, m->content_type);
    log_str(l, m->error_code);
    log_str(l, m->error_message);
    fz_log_num(l, (long long)m->nheaders);
    for (size_t i = 0; i < m->nheaders; i++) {
        const struct prov_aws_header *h = &m->headers[i];

        FZ_CHECK(h->name_len > 0 && h->name_len < 256 && (unsigned)h->type <= PROV_AWS_UUID);
        FZ_CHECK((h->data == NULL) == (h->type != PROV_AWS_BYTES && h->type != PROV_AWS_STRING &&
                                       h->type != PROV_AWS_UUID));
        FZ_CHECK(h->type != PROV_AWS_UUID || h->len == 16);
        fz_log_field(l, h->name, h->name_len);
        fz_log_num(l, h->type);
        fz_log_num(l, h->ival);
        if (h->data != NULL)
            fz_log_field(l, h->data, h->len);
    }
    fz_log_field(l, m->payload, m->payload_len);
    return m->payload_len >= 4 && memcmp(m->payload, "STOP", 4) == 0 ? 7 : 0;
}

static void feed_plan(struct prov_awsstream *p, struct fz_log *l, const uint8_t *data, size_t size,
                      int plan)
{
    uint64_t rng = fz_hash(data, size) | 1;
    int last = 0;

    for (size_t off = 0; off < size;) {
        size_t k = fz_piece(plan, &rng, off, size);
        char *piece = fz_dup(data + off, k);
        int rc = prov_awsstream_feed(p, piece, k);

        free(piece);
        off += k;
        FZ_CHECK(last == 0 || rc == -1);
        if (last == 0 && rc != 0) {
            FZ_CHECK(rc == -1 || rc == 7);
            fz_log_num(l, 'R');
            fz_log_num(l, rc);
            log_str(l, prov_awsstream_error(p));
        }
        if (rc != 0)
            last = rc;
    }
    fz_log_num(l, 'F');
    fz_log_num(l, prov_awsstream_finish(p));
    FZ_CHECK(prov_awsstream_error(p)[0] == '\0');
}

static void run(const uint8_t *data, size_t size)
{
    struct fz_log whole = {0}, part = {0};
    struct prov_awsstream p;

    prov_awsstream_init(&p, on_message, &whole);
    feed_plan(&p, &whole, data, size, 0);
    prov_awsstream_cleanup(&p);
    for (int plan = 1; plan < FZ_PLANS; plan++) {
        prov_awsstream_init(&p, on_message, &part);
        feed_plan(&p, &part, data, size, plan);
        FZ_CHECK(fz_log_eq(&whole, &part));
        part.len = 0;
        feed_plan(&p, &part, data, size, 0); /* reused after finish() */
        FZ_CHECK(fz_log_eq(&whole, &part));
        prov_awsstream_cleanup(&p);
        part.len = 0;
    }
    fz_log_free(&part);
    fz_log_free(&whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed = (uint8_t *)fz_dup(data, size);

    run(data, size);
    fz_aws_fix_crcs(fixed, size);
    run(fixed, size);
    free(fixed);
    return 0;
}
