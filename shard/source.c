/* Sources of params in a checkpoint and slice packing (source.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "rf_bf16.h"
#include "source.h"

void rf_sources_close(rf_sources_t *s) {
    free(s->src);
    free(s->slots);
    *s = (rf_sources_t){0};
}

refit_status rf_sources_open(const rf_manifest_t *m, const rf_param_t *params, size_t n, rf_sources_t *out) {
    rf_sources_t s = {0};
    size_t n_slots = 0;
    for (size_t i = 0; i < n; i++) n_slots += (size_t)rf_param_n_sources(&params[i]);
    s.src = calloc(n ? n : 1, sizeof *s.src);
    s.slots = calloc(n_slots ? n_slots : 1, sizeof *s.slots);
    refit_status st = s.src && s.slots ? REFIT_OK : rf_error(REFIT_ERR_NOMEM, "source table");
    rf_src_t *next = s.slots;
    for (size_t i = 0; i < n && st == REFIT_OK; i++) {
        const rf_param_t *p = &params[i];
        s.src[i] = next;
        for (int k = 0; k < rf_param_n_sources(p) && st == REFIT_OK; k++, next++) {
            rf_part_t part;
            const rf_mf_entry_t *e;
            st = rf_param_source(p, k, &part);
            if (st == REFIT_OK) st = rf_manifest_need(m, part.src, &e);
            /* a checkpoint's own descriptor: the very file whose header was
             * read and whose identity is checked after the last byte */
            if (st == REFIT_OK) *next = e->src;
        }
    }
    if (st != REFIT_OK) {
        rf_sources_close(&s);
        return st;
    }
    *out = s;
    return REFIT_OK;
}

/* A run of `bytes` source bytes from byte `at` of tensor src, to dst. */
static refit_status read_run(const rf_src_t *src, uint64_t at, uint64_t bytes, bool use_pread, uint8_t *dst) {
    if (src->ptr && (!use_pread || src->fd < 0)) {
        memcpy(dst, src->ptr + at, bytes);
        return REFIT_OK;
    }
    while (bytes > 0) {
        ssize_t got = pread(src->fd, dst, bytes, (off_t)(src->off + at));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return rf_error(REFIT_ERR_IO, "%s: read of %llu bytes at byte %llu: %s", src->file ? src->file : "?",
                            (unsigned long long)bytes, (unsigned long long)(src->off + at),
                            got < 0 ? strerror(errno) : "file shrank while it was read");
        dst += got;
        at += (uint64_t)got;
        bytes -= (uint64_t)got;
    }
    return REFIT_OK;
}

refit_status rf_convert_bf16(const rf_src_t *src, const void *in_, uint64_t n, uint64_t first, void *dst_) {
    const uint8_t *in = in_;
    uint8_t *dst = dst_;
    for (uint64_t i = 0; i < n; i++) {
        uint16_t h;
        uint32_t u;
        float f;
        if (src->conv == RF_CONV_F16) {
            memcpy(&h, in + 2 * i, 2);
            f = rf_f16_to_f32(h);
        } else {
            memcpy(&u, in + 4 * i, 4);
            memcpy(&f, &u, 4);
        }
        uint16_t b = rf_f32_to_bf16(f);
        if (rf_bf16_nonfinite(b))
            return rf_error(REFIT_ERR_NUMERIC, "tensor %s of file %s: element %llu is %s after conversion from %s "
                            "to BF16", src->tensor ? src->tensor : "?", src->file ? src->file : "?",
                            (unsigned long long)(first + i), (b & 0x7F) ? "nan" : "inf",
                            src->conv == RF_CONV_F16 ? "F16" : "F32");
        memcpy(dst + 2 * i, &b, 2);
    }
    return REFIT_OK;
}

#define RF_CONV_CHUNK 65536u /* elements read per pread of a converted run */

/* A run of n elements from element `at` of tensor src, as bf16 to dst:
 * bf16 verbatim; F16/F32 converted from the image in memory or read in
 * chunks (the source bytes are larger than, or as large as, the bf16). */
static refit_status copy_run(const rf_src_t *src, uint64_t at, uint64_t n, bool use_pread, uint8_t *dst) {
    if (src->conv == RF_CONV_BF16) return read_run(src, at * 2, n * 2, use_pread, dst);
    uint64_t esz = rf_conv_size(src->conv);
    if (src->ptr && (!use_pread || src->fd < 0)) return rf_convert_bf16(src, src->ptr + at * esz, n, at, dst);
    uint8_t *buf = malloc((n < RF_CONV_CHUNK ? n : RF_CONV_CHUNK) * esz);
    if (!buf) return rf_error(REFIT_ERR_NOMEM, "conversion buffer for tensor %s", src->tensor ? src->tensor : "?");
    refit_status st = REFIT_OK;
    for (uint64_t done = 0; done < n && st == REFIT_OK;) {
        uint64_t k = n - done < RF_CONV_CHUNK ? n - done : RF_CONV_CHUNK;
        st = read_run(src, (at + done) * esz, k * esz, true, buf);
        if (st == REFIT_OK) st = rf_convert_bf16(src, buf, k, at + done, dst + 2 * done);
        done += k;
    }
    free(buf);
    return st;
}

/* The runs of local elements [elem0, elem0 + n) of param p on tp rank
 * `tp_rank`, each handed to fn once it cannot grow: a source-contiguous
 * run of one slot, or a run of padding (src NULL). */
static refit_status slice_runs(const rf_param_t *p, const rf_src_t *src, int tp, int tp_rank, uint64_t elem0,
                               uint64_t n, uint64_t dst_byte, rf_run_fn fn, void *user) {
    const uint64_t cols = (uint64_t)p->cols;
    uint64_t e = elem0, end = elem0 + n;
    /* pending run: source elements [run_at, run_at + run_len) of slot run_part (-2: none, -1: zeros) */
    int run_part = -2;
    uint64_t run_at = 0, run_len = 0, run_dst = dst_byte;
    while (e < end) {
        uint64_t row = e / cols, col = e % cols;
        uint64_t len = cols - col < end - e ? cols - col : end - e;
        rf_row_src_t rs = rf_param_row_source(p, tp, tp_rank, (int64_t)row);
        int part = rs.part < 0 ? -1 : rs.part;
        uint64_t at = part < 0 ? 0
                               : ((uint64_t)rs.src_row * (uint64_t)rf_param_slot_part(p, part)->cols +
                                  (uint64_t)rs.src_col + col);
        if (run_part != -2 && (part != run_part || (part >= 0 && at != run_at + run_len))) {
            RF_CHECK(fn(user, run_part < 0 ? NULL : &src[run_part], run_at, run_len, run_dst));
            run_part = -2;
        }
        if (run_part == -2) {
            run_part = part;
            run_at = at;
            run_len = 0;
            run_dst = dst_byte + (e - elem0) * 2;
        }
        run_len += len;
        e += len;
    }
    if (run_part != -2) RF_CHECK(fn(user, run_part < 0 ? NULL : &src[run_part], run_at, run_len, run_dst));
    return REFIT_OK;
}

typedef struct {
    bool use_pread;
    uint8_t *dst;
} host_pack_t;

static refit_status host_run(void *user, const rf_src_t *src, uint64_t src_elem, uint64_t n, uint64_t dst_byte) {
    host_pack_t *h = user;
    if (!src) {
        memset(h->dst + dst_byte, 0, n * 2);
        return REFIT_OK;
    }
    return copy_run(src, src_elem, n, h->use_pread, h->dst + dst_byte);
}

refit_status rf_pack_slice(const rf_param_t *p, const rf_src_t *src, int tp, int tp_rank, uint64_t elem0, uint64_t n,
                           bool use_pread, uint8_t *dst) {
    host_pack_t h = {.use_pread = use_pread, .dst = dst};
    return slice_runs(p, src, tp, tp_rank, elem0, n, 0, host_run, &h);
}

refit_status rf_bucket_runs(const rf_plan_t *plan, const rf_param_t *params, const rf_src_t *const *src, int group,
                            size_t k, uint64_t lo, uint64_t hi, rf_run_fn fn, void *user) {
    rf_plan_iter_t it;
    rf_seg_t seg;
    for (rf_plan_iter_init(plan, group, k, lo, hi, &it); rf_plan_iter_next(plan, &it, &seg);)
        RF_CHECK(slice_runs(&params[seg.param], src[seg.param], plan->tp, group, seg.param_off / 2, seg.len / 2,
                            seg.bucket_off, fn, user));
    return REFIT_OK;
}

refit_status rf_pack_bucket(const rf_plan_t *plan, const rf_param_t *params, const rf_src_t *const *src, int group,
                            size_t k, uint64_t lo, uint64_t hi, bool use_pread, uint8_t *dst) {
    host_pack_t h = {.use_pread = use_pread, .dst = dst};
    return rf_bucket_runs(plan, params, src, group, k, lo, hi, host_run, &h);
}
