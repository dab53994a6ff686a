/* Transfer plan and slice packing. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "plan.h"

#define RF_PLAN_ALIGN 4096u

refit_status rf_plan_build(const rf_snap_t *s, uint64_t bucket, rf_plan_t *out) {
    uint64_t *offs = malloc(sizeof *offs * (s->n_params + 1));
    if (!offs) return rf_error(REFIT_ERR_NOMEM, "transfer plan");
    uint64_t total = 0;
    for (size_t i = 0; i < s->n_params; i++) {
        offs[i] = total;
        total += rf_snap_param_bf16_bytes(&s->params[i]);
    }
    offs[s->n_params] = total;
    bucket -= bucket % RF_PLAN_ALIGN;
    if (bucket < RF_PLAN_ALIGN) bucket = RF_PLAN_ALIGN;
    *out = (rf_plan_t){.n_params = s->n_params, .offs = offs, .total = total, .bucket = bucket,
                       .n_buckets = (size_t)((total + bucket - 1) / bucket)};
    return REFIT_OK;
}

void rf_plan_free(rf_plan_t *p) {
    free(p->offs);
    p->offs = NULL;
}

uint64_t rf_plan_bucket_bytes(const rf_plan_t *p, size_t k) {
    uint64_t begin = (uint64_t)k * p->bucket;
    if (begin >= p->total) return 0;
    uint64_t left = p->total - begin;
    return left < p->bucket ? left : p->bucket;
}

/* Index of the param whose slice holds stream byte `at` (skips empty slices). */
static size_t param_at(const rf_plan_t *p, uint64_t at) {
    size_t lo = 0, hi = p->n_params; /* offs[lo] <= at < offs[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->offs[mid] <= at) lo = mid;
        else hi = mid;
    }
    return lo;
}

void rf_plan_iter_init(const rf_plan_t *p, size_t k, uint64_t lo, uint64_t hi, rf_plan_iter_t *it) {
    uint64_t begin = (uint64_t)k * p->bucket, bytes = rf_plan_bucket_bytes(p, k);
    if (hi > bytes) hi = bytes;
    if (lo > hi) lo = hi;
    *it = (rf_plan_iter_t){.at = begin + lo, .end = begin + hi, .begin = begin};
}

bool rf_plan_iter_next(const rf_plan_t *p, rf_plan_iter_t *it, rf_seg_t *seg) {
    if (it->at >= it->end) return false;
    size_t i = param_at(p, it->at);
    uint64_t stop = p->offs[i + 1] < it->end ? p->offs[i + 1] : it->end;
    *seg = (rf_seg_t){.param = i, .param_off = it->at - p->offs[i], .bucket_off = it->at - it->begin,
                      .len = stop - it->at};
    it->at = stop;
    return true;
}

size_t rf_plan_segments(const rf_plan_t *p, size_t k, rf_seg_t *segs, size_t max) {
    rf_plan_iter_t it;
    rf_seg_t seg;
    size_t n = 0;
    for (rf_plan_iter_init(p, k, 0, UINT64_MAX, &it); rf_plan_iter_next(p, &it, &seg); n++)
        if (n < max) segs[n] = seg;
    return n;
}

/* A run of `bytes` source bytes of part `part` from byte `at`, to dst. */
static refit_status copy_run(const rf_src_t *src, uint64_t at, uint64_t bytes, bool use_pread, uint8_t *dst) {
    if (!use_pread) {
        memcpy(dst, src->ptr + at, bytes);
        return REFIT_OK;
    }
    while (bytes > 0) {
        ssize_t got = pread(src->fd, dst, bytes, (off_t)(src->off + at));
        if (got <= 0)
            return rf_error(REFIT_ERR_IO, "read of %llu bytes at file offset %llu: %s", (unsigned long long)bytes,
                            (unsigned long long)(src->off + at), got < 0 ? strerror(errno) : "file shrank");
        dst += got;
        at += (uint64_t)got;
        bytes -= (uint64_t)got;
    }
    return REFIT_OK;
}

refit_status rf_pack_slice(const rf_param_t *p, const rf_src_t src[RF_MAX_PARTS], int tp, int tp_rank,
                           uint64_t elem0, uint64_t n, bool use_pread, uint8_t *dst) {
    const uint64_t cols = (uint64_t)p->cols;
    uint64_t e = elem0, end = elem0 + n;
    /* pending run: source bytes [run_at, run_at + run_len) of part run_part */
    int run_part = -1;
    uint64_t run_at = 0, run_len = 0;
    uint8_t *run_dst = dst;
    while (e < end) {
        uint64_t row = e / cols, col = e % cols;
        uint64_t len = cols - col < end - e ? cols - col : end - e;
        rf_row_src_t rs = rf_param_row_source(p, tp, tp_rank, (int64_t)row);
        uint64_t at = rs.part < 0 ? 0
                                  : ((uint64_t)rs.src_row * (uint64_t)p->parts[rs.part].cols +
                                     (uint64_t)rs.src_col + col) * 2;
        if (run_part >= 0 && (rs.part != run_part || at != run_at + run_len)) {
            RF_CHECK(copy_run(&src[run_part], run_at, run_len, use_pread, run_dst));
            run_part = -1;
        }
        if (rs.part < 0) {
            memset(dst, 0, len * 2);
        } else if (run_part < 0) {
            run_part = rs.part;
            run_at = at;
            run_len = len * 2;
            run_dst = dst;
        } else {
            run_len += len * 2;
        }
        dst += len * 2;
        e += len;
    }
    if (run_part >= 0) RF_CHECK(copy_run(&src[run_part], run_at, run_len, use_pread, run_dst));
    return REFIT_OK;
}
