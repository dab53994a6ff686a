/* The param table of this rank (issue 9): built from the snapshot with the
 * sizes of every param and no memory (refit_open, or the first R2), listed
 * by refit_param_count/find/info_get, and bound to the caller's storage by
 * refit_bind before the first stage or load allocates anything. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_internal.h"

refit_status rf_param_table(refit_ctx *ctx) {
    const rf_snap_t *s = ctx->snap;
    if (ctx->ps) return REFIT_OK;
    ctx->ps = calloc(s->n_params ? s->n_params : 1, sizeof *ctx->ps);
    if (!ctx->ps) return rf_error(REFIT_ERR_NOMEM, "param table of %zu params", s->n_params);
    for (size_t i = 0; i < s->n_params; i++) {
        const rf_param_t *p = &s->params[i];
        rf_pstate_t *ps = &ctx->ps[i];
        /* this rank's share: under --moe ep its own experts; fp8-block experts padded (SPEC §3a) */
        rf_snap_param_sizes(s, p, rf_comm_tp_rank(ctx->comm), &ps->data_bytes, &ps->scale_bytes);
        ps->quantized_gen = ps->received_gen = -1;
        if (ps->scale_bytes) rf_scale_name(p->name, ctx->scheme, ps->scale_name, sizeof ps->scale_name);
    }
    return REFIT_OK;
}

size_t refit_param_count(const refit_ctx *ctx) { return ctx->ps ? ctx->snap->n_params : 0; }

static refit_status need_table(const refit_ctx *ctx, const char *call) {
    if (!ctx->ps)
        return rf_error(REFIT_ERR_STATE, "rank %d: %s: no param table yet (call refit_open or refit_load first)",
                        rf_comm_rank(ctx->comm), call);
    return REFIT_OK;
}

/* A local call's failure: its message in last_error too. */
static refit_status noted(refit_ctx *ctx, refit_status st) {
    if (st != REFIT_OK) snprintf(ctx->last_error, sizeof ctx->last_error, "%s", rf_err_msg());
    return st;
}

static refit_status find(refit_ctx *ctx, const char *vllm_name, size_t *index) {
    RF_CHECK(need_table(ctx, "refit_param_find"));
    if (!vllm_name || !index) return rf_error(REFIT_ERR_INVALID_ARG, "refit_param_find: NULL name or index");
    for (size_t i = 0; i < ctx->snap->n_params; i++)
        if (!strcmp(ctx->snap->params[i].name, vllm_name)) {
            *index = i;
            return REFIT_OK;
        }
    return rf_error(REFIT_ERR_INVALID_ARG, "rank %d: unknown param %s", rf_comm_rank(ctx->comm), vllm_name);
}

refit_status refit_param_find(refit_ctx *ctx, const char *vllm_name, size_t *index) {
    rf_err_clear();
    return noted(ctx, find(ctx, vllm_name, index));
}

static refit_status info_get(refit_ctx *ctx, size_t index, refit_param_info *out) {
    RF_CHECK(need_table(ctx, "refit_param_info_get"));
    if (!out) return rf_error(REFIT_ERR_INVALID_ARG, "refit_param_info_get: NULL out");
    if (index >= ctx->snap->n_params)
        return rf_error(REFIT_ERR_INVALID_ARG, "rank %d: param index %zu out of range (%zu params)",
                        rf_comm_rank(ctx->comm), index, ctx->snap->n_params);
    const rf_param_t *p = &ctx->snap->params[index];
    const rf_pstate_t *ps = &ctx->ps[index];
    bool q = ps->scale_bytes > 0;
    *out = (refit_param_info){.name = p->name, .dtype = q ? REFIT_DTYPE_F8_E4M3 : REFIT_DTYPE_BF16,
                              .layout = rf_layout_name(p->layout), .data = ps->live, .scales = ps->live_scales,
                              .data_bytes = ps->data_bytes, .scale_bytes = ps->scale_bytes,
                              .generation = ctx->generation, .bound = ps->bound};
    uint64_t shape[3] = {0, 0, 0}, sshape[3] = {0, 0, 0};
    int sndim = 0;
    rf_param_shapes(ctx, p, &out->ndim, shape, &sndim, sshape);
    for (int d = 0; d < out->ndim && d < 3; d++) out->shape[d] = (int64_t)shape[d];
    if (q) {
        out->scale_name = ps->scale_name;
        out->scale_dtype = REFIT_DTYPE_F32;
        out->scale_ndim = sndim;
        for (int d = 0; d < sndim && d < 3; d++) out->scale_shape[d] = (int64_t)sshape[d];
    }
    return REFIT_OK;
}

refit_status refit_param_info_get(refit_ctx *ctx, size_t index, refit_param_info *out) {
    rf_err_clear();
    return noted(ctx, info_get(ctx, index, out));
}

/* Why refit cannot take `ptr` as a param's storage, or NULL: size, alignment, memory kind. */
static refit_status check_buffer(refit_ctx *ctx, const char *name, const char *what, const void *ptr, size_t got,
                                 uint64_t want) {
    int rank = rf_comm_rank(ctx->comm);
    size_t align = ctx->be->ops->bind_align;
    if (!ptr) return rf_error(REFIT_ERR_INVALID_ARG, "rank %d: bind %s: %s is NULL", rank, name, what);
    if (got != want)
        return rf_error(REFIT_ERR_INVALID_ARG, "rank %d: bind %s: %s is %zu bytes, the param needs exactly %llu",
                        rank, name, what, got, (unsigned long long)want);
    if ((uintptr_t)ptr % align != 0)
        return rf_error(REFIT_ERR_INVALID_ARG, "rank %d: bind %s: %s at %p is not aligned to %zu bytes (%s backend)",
                        rank, name, what, ptr, align, ctx->be->ops->name);
    if (ctx->be->ops->check_ptr) {
        char why[200];
        if (!ctx->be->ops->check_ptr(ctx->be, ptr, why, sizeof why))
            return rf_error(REFIT_ERR_INVALID_ARG, "rank %d: bind %s: %s at %p is %s", rank, name, what, ptr, why);
    }
    return REFIT_OK;
}

static refit_status bind_state(refit_ctx *ctx, const char *name, const rf_pstate_t *ps) {
    int rank = rf_comm_rank(ctx->comm);
    if (ctx->timed_out) return rf_error(REFIT_ERR_STATE, "rank %d: bind %s: the context timed out (destroy only)", rank, name);
    if (ctx->opt.commit == REFIT_COMMIT_INPLACE)
        return rf_error(REFIT_ERR_STATE, "rank %d: bind %s: binding needs shadow commit mode (in-place loads write "
                        "live storage refit must zero first)", rank, name);
    if (ctx->allocated || ctx->generation >= 0)
        return rf_error(REFIT_ERR_STATE, "rank %d: bind %s: already loaded (bind before the first stage or load)",
                        rank, name);
    if (ps->bound) return rf_error(REFIT_ERR_STATE, "rank %d: bind %s: already bound", rank, name);
    return REFIT_OK;
}

refit_status refit_bind(refit_ctx *ctx, size_t index, void *data, size_t data_bytes, void *scales,
                        size_t scale_bytes) {
    rf_err_clear();
    refit_status st = need_table(ctx, "refit_bind");
    if (st == REFIT_OK && index >= ctx->snap->n_params)
        st = rf_error(REFIT_ERR_INVALID_ARG, "rank %d: bind: param index %zu out of range (%zu params)",
                      rf_comm_rank(ctx->comm), index, ctx->snap->n_params);
    if (st == REFIT_OK) {
        rf_pstate_t *ps = &ctx->ps[index];
        const char *name = ctx->snap->params[index].name;
        st = bind_state(ctx, name, ps);
        if (st == REFIT_OK) st = check_buffer(ctx, name, "data", data, data_bytes, ps->data_bytes);
        if (st == REFIT_OK && ps->scale_bytes)
            st = check_buffer(ctx, name, "scales", scales, scale_bytes, ps->scale_bytes);
        if (st == REFIT_OK && !ps->scale_bytes && (scales || scale_bytes))
            st = rf_error(REFIT_ERR_INVALID_ARG, "rank %d: bind %s: a bf16 param has no scales (pass NULL, 0)",
                          rf_comm_rank(ctx->comm), name);
        if (st == REFIT_OK) {
            ps->live = data;
            ps->live_scales = ps->scale_bytes ? scales : NULL;
            ps->bound = true;
        }
    }
    return noted(ctx, st);
}

refit_status refit_bind_name(refit_ctx *ctx, const char *vllm_name, void *data, size_t data_bytes, void *scales,
                             size_t scale_bytes) {
    rf_err_clear();
    size_t i = 0;
    refit_status st = find(ctx, vllm_name, &i);
    if (st != REFIT_OK) return noted(ctx, st);
    return refit_bind(ctx, i, data, data_bytes, scales, scale_bytes);
}
