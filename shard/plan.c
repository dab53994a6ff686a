/* The transfer plan. */
#include <stdlib.h>

#include "plan.h"

#define RF_PLAN_ALIGN 4096u

refit_status rf_plan_build(const rf_param_t *params, size_t n, int tp, uint64_t bucket, rf_plan_t *out) {
    if (tp < 1) return rf_error(REFIT_ERR_INVALID_ARG, "transfer plan: tp %d", tp);
    uint64_t *offs = malloc(sizeof *offs * (n + 1));
    if (!offs) return rf_error(REFIT_ERR_NOMEM, "transfer plan");
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        offs[i] = total;
        total += rf_param_bf16_bytes(&params[i]);
    }
    offs[n] = total;
    bucket -= bucket % RF_PLAN_ALIGN;
    if (bucket < RF_PLAN_ALIGN) bucket = RF_PLAN_ALIGN;
    *out = (rf_plan_t){.tp = tp, .n_params = n, .offs = offs, .total = total, .bucket = bucket,
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
