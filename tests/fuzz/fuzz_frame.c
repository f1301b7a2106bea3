/*
 * Fuzz target: the HTTP/1.x request framer (gw_frame). The input is a byte stream on one
 * connection; it is fed whole, one byte at a time and in random pieces, under the default limits
 * and under small ones. Every plan must give the same verdict (the same complete requests with
 * the same framing facts, the same error status, the same state at the end), each piece is read
 * from its own exact-size allocation (ASan catches a read past it), and the framer's contract
 * (gw_frame.h) holds after every event.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fz.h"
#include "gateway/http/gw_frame.h"

struct run {
    struct fz_log log;
    const uint8_t *buf; /* the whole stream: heads are passed contiguous from it */
    size_t start;       /* offset of the current request in buf */
    size_t consumed;    /* bytes consumed so far */
    int status;         /* error status, 0 while none */
};

static void log_done(struct run *r, const struct gw_frame_info *in)
{
    fz_log_num(&r->log, 'D');
    fz_log_num(&r->log, (long long)in->skip);
    fz_log_num(&r->log, (long long)in->head_len);
    fz_log_num(&r->log, (long long)in->total_len);
    fz_log_num(&r->log, in->has_content_length ? (long long)in->content_length : -1);
    fz_log_num(&r->log,
               in->chunked | in->chunk_ext << 1 | in->expect_continue << 2 | in->http11 << 3);
    fz_log_num(&r->log, in->expect_continue ? (long long)in->expect_off : -1);
    fz_log_num(&r->log, in->expect_continue ? (long long)in->expect_len : -1);
}

/* Feeds p[0..n) like one socket read, handing each event the way gw_conn does. */
static void feed_piece(struct gw_frame *f, struct run *r, const char *p, size_t n)
{
    while (n > 0 && r->status == 0) {
        size_t used = 999999;
        enum gw_frame_ev ev = gw_frame_feed(f, p, n, &used);
        const struct gw_frame_info *in = gw_frame_info(f);

        FZ_CHECK(used <= n);
        FZ_CHECK(ev != GW_FRAME_MORE || used == n);
        p += used;
        n -= used;
        r->consumed += used;
        if (ev == GW_FRAME_HEAD) {
            FZ_CHECK(gw_frame_is_busy(f));
            FZ_CHECK(in->head_len > 0);
            FZ_CHECK(r->start + in->skip + in->head_len == r->consumed);
            fz_log_num(&r->log, 'H');
            ev = gw_frame_head(f, (const char *)r->buf + r->start + in->skip);
        }
        if (ev == GW_FRAME_DONE) {
            FZ_CHECK(!gw_frame_is_busy(f));
            FZ_CHECK(in->status == 0);
            FZ_CHECK(r->start + in->total_len == r->consumed);
            FZ_CHECK(in->total_len >= in->skip + in->head_len);
            if (!in->chunked)
                FZ_CHECK(in->total_len == in->skip + in->head_len + in->content_length);
            if (in->expect_continue)
                FZ_CHECK(in->expect_off + in->expect_len <= in->head_len);
            log_done(r, in);
            r->start += in->total_len;
        } else if (ev == GW_FRAME_ERROR) {
            FZ_CHECK(!gw_frame_is_busy(f));
            FZ_CHECK(in->status == 400 || in->status == 413 || in->status == 431 ||
                     in->status == 501 || in->status == 505);
            r->status = in->status;
            /* The framer stays in error. */
            FZ_CHECK(gw_frame_feed(f, p, n, &used) == GW_FRAME_ERROR && used == 0);
        }
    }
}

static void run_plan(const uint8_t *data, size_t size, int plan, size_t max_head, size_t max_body,
                     struct run *r)
{
    struct gw_frame *f = gw_frame_new(max_head, max_body);
    uint64_t rng = fz_hash(data, size) | 1;

    FZ_CHECK(f != NULL);
    memset(r, 0, sizeof(*r));
    r->buf = data;
    for (size_t off = 0; off < size;) {
        size_t k = fz_piece(plan, &rng, off, size);
        char *piece = fz_dup(data + off, k);
        feed_piece(f, r, piece, k);
        free(piece);
        off += k;
    }
    fz_log_num(&r->log, r->status);
    fz_log_num(&r->log, gw_frame_is_busy(f));
    gw_frame_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = fz_hash(data, size);
    const size_t limits[2][2] = {{8192, 1 << 20}, {16 + h % 256, h / 256 % 512}};

    for (int l = 0; l < 2; l++) {
        struct run whole, part;

        run_plan(data, size, 0, limits[l][0], limits[l][1], &whole);
        for (int plan = 1; plan < FZ_PLANS; plan++) {
            run_plan(data, size, plan, limits[l][0], limits[l][1], &part);
            FZ_CHECK(fz_log_eq(&whole.log, &part.log));
            fz_log_free(&part.log);
        }
        fz_log_free(&whole.log);
    }
    return 0;
}
