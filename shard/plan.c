/* The transfer plan. */
#include <stdlib.h>

#include "plan.h"

#define RF_PLAN_ALIGN 4096u

/* Whether some param's slice size differs between groups (experts under ep). */
static bool groups_differ(const rf_param_t *params, size_t n, int tp) {
    for (size_t i = 0; i < n; i++)
        for (int g = 1; g < tp; g++)
            if (rf_param_local_elems(&params[i], tp, g) != rf_param_local_elems(&params[i], tp, 0)) return true;
    return false;
}

refit_status rf_plan_build(const rf_param_t *params, size_t n, int tp, uint64_t bucket, rf_plan_t *out) {
    if (tp < 1) return rf_error(REFIT_ERR_INVALID_ARG, "transfer plan: tp %d", tp);
    bucket -= bucket % RF_PLAN_ALIGN;
    if (bucket < RF_PLAN_ALIGN) bucket = RF_PLAN_ALIGN;
    rf_plan_t p = {.tp = tp, .n_params = n, .bucket = bucket, .n_streams = groups_differ(params, n, tp) ? tp : 1};
    size_t ns = (size_t)p.n_streams;
    p.offs = malloc(sizeof *p.offs * ns * (n + 1));
    p.total = malloc(sizeof *p.total * ns);
    p.n_buckets = malloc(sizeof *p.n_buckets * ns);
    if (!p.offs || !p.total || !p.n_buckets) {
        rf_plan_free(&p);
        return rf_error(REFIT_ERR_NOMEM, "transfer plan");
    }
    for (int g = 0; g < p.n_streams; g++) {
        uint64_t *offs = p.offs + (size_t)g * (n + 1), total = 0;
        for (size_t i = 0; i < n; i++) {
            offs[i] = total;
            total += rf_param_local_elems(&params[i], tp, g) * 2;
        }
        offs[n] = total;
        p.total[g] = total;
        p.n_buckets[g] = (size_t)((total + bucket - 1) / bucket);
        if (p.n_buckets[g] > p.max_buckets) p.max_buckets = p.n_buckets[g];
    }
    *out = p;
    return REFIT_OK;
}

void rf_plan_free(rf_plan_t *p) {
    free(p->offs);
    free(p->total);
    free(p->n_buckets);
    p->offs = p->total = NULL;
    p->n_buckets = NULL;
}

/* The table of group g (groups share table 0 when their streams are alike). */
static int stream(const rf_plan_t *p, int g) { return p->n_streams == 1 || g < 0 || g >= p->tp ? 0 : g; }

uint64_t rf_plan_total(const rf_plan_t *p, int g) { return p->total[stream(p, g)]; }

size_t rf_plan_buckets(const rf_plan_t *p, int g) { return p->n_buckets[stream(p, g)]; }

uint64_t rf_plan_param_bytes(const rf_plan_t *p, int g, size_t i) {
    const uint64_t *offs = p->offs + (size_t)stream(p, g) * (p->n_params + 1);
    return offs[i + 1] - offs[i];
}

uint64_t rf_plan_bucket_bytes(const rf_plan_t *p, int g, size_t k) {
    uint64_t begin = (uint64_t)k * p->bucket, total = rf_plan_total(p, g);
    if (begin >= total) return 0;
    uint64_t left = total - begin;
    return left < p->bucket ? left : p->bucket;
}

/* Index of the param whose slice holds stream byte `at` (skips empty slices). */
static size_t param_at(const rf_plan_t *p, const uint64_t *offs, uint64_t at) {
    size_t lo = 0, hi = p->n_params; /* offs[lo] <= at < offs[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (offs[mid] <= at) lo = mid;
        else hi = mid;
    }
    return lo;
}

void rf_plan_iter_init(const rf_plan_t *p, int g, size_t k, uint64_t lo, uint64_t hi, rf_plan_iter_t *it) {
    uint64_t begin = (uint64_t)k * p->bucket, bytes = rf_plan_bucket_bytes(p, g, k);
    if (hi > bytes) hi = bytes;
    if (lo > hi) lo = hi;
    *it = (rf_plan_iter_t){.offs = p->offs + (size_t)stream(p, g) * (p->n_params + 1), .at = begin + lo,
                           .end = begin + hi, .begin = begin};
}

bool rf_plan_iter_next(const rf_plan_t *p, rf_plan_iter_t *it, rf_seg_t *seg) {
    if (it->at >= it->end) return false;
    size_t i = param_at(p, it->offs, it->at);
    uint64_t stop = it->offs[i + 1] < it->end ? it->offs[i + 1] : it->end;
    *seg = (rf_seg_t){.param = i, .param_off = it->at - it->offs[i], .bucket_off = it->at - it->begin,
                      .len = stop - it->at};
    it->at = stop;
    return true;
}

size_t rf_plan_segments(const rf_plan_t *p, int g, size_t k, rf_seg_t *segs, size_t max) {
    rf_plan_iter_t it;
    rf_seg_t seg;
    size_t n = 0;
    for (rf_plan_iter_init(p, g, k, 0, UINT64_MAX, &it); rf_plan_iter_next(p, &it, &seg); n++)
        if (n < max) segs[n] = seg;
    return n;
}
