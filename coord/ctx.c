/* A context's life: refit_create (communicator, settings, guard, backend),
 * refit_destroy, the accessors, the hooks the guard calls back, and the
 * tool calls of refit_tool.h. The protocol itself: load.c. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_internal.h"
#include "options_agree.h"
#include "refit_tool.h"
#include "verify.h"
#include "rf_settings.h"

#define RF_DEFAULT_BUCKET (32ull << 20) /* best of 16-64 MiB measured on 4 x H200 */

/* The first refit_options (0.1.0) ended with timeout_s: no caller's struct
 * is smaller (refit.h: struct_size). */
#define RF_OPTIONS_MIN_SIZE (offsetof(refit_options, timeout_s) + sizeof(double))

static refit_options library_defaults(void) {
    return (refit_options){.struct_size = sizeof(refit_options), .tp = 0, .quant = "fp8-tensor",
                           .backend = REFIT_BACKEND_AUTO, .bucket_bytes = 0, .commit = REFIT_COMMIT_SHADOW,
                           .timeout_s = RF_DEFAULT_TIMEOUT_S, .device = -1, .on_timeout = REFIT_ON_TIMEOUT_RETURN};
}

/* Writes only the struct_size bytes the caller's struct has. */
void refit_options_init(refit_options *opt, size_t struct_size) {
    if (!opt || struct_size < sizeof opt->struct_size) return;
    refit_options d = library_defaults();
    d.struct_size = struct_size;
    memcpy(opt, &d, struct_size < sizeof d ? struct_size : sizeof d);
}

/* The caller's fields over the library's defaults: exactly the bytes its
 * refit.h declared (refit.h: struct_size). */
static refit_status read_options(const refit_options *opt, refit_options *out) {
    *out = library_defaults();
    if (!opt) return REFIT_OK;
    if (opt->struct_size < RF_OPTIONS_MIN_SIZE)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "refit_options.struct_size is %zu, below the smallest refit_options (%zu bytes): "
                        "fill the options with refit_options_default() first",
                        opt->struct_size, (size_t)RF_OPTIONS_MIN_SIZE);
    if (opt->struct_size > sizeof *out)
        return rf_error(REFIT_ERR_INVALID_ARG,
                        "refit_options.struct_size is %zu but this library (refit %s) knows %zu bytes: "
                        "the program was built against a newer refit.h than the library it runs with",
                        opt->struct_size, refit_version(), sizeof *out);
    memcpy(out, opt, opt->struct_size);
    return REFIT_OK;
}

const char *refit_phase_name(refit_phase ph) {
    static const char *const names[REFIT_PHASE_COUNT] = {"open", "snapshot", "restore",
                                                         "transfer", "quantize", "commit"};
    return (int)ph >= 0 && ph < REFIT_PHASE_COUNT ? names[ph] : "unknown";
}

/* auto: cuda only when every rank has a GPU (the choice must be the same everywhere). */
static refit_status pick_backend(refit_ctx *ctx) {
    refit_backend want = ctx->opt.backend;
#ifdef REFIT_HAVE_CUDA
    if (want == REFIT_BACKEND_AUTO) {
        uint64_t all_gpu = rf_backend_cuda_available();
        RF_CHECK(rf_comm_allreduce_min_u64(ctx->comm, &all_gpu));
        want = all_gpu ? REFIT_BACKEND_CUDA : REFIT_BACKEND_HOST;
    }
    if (want == REFIT_BACKEND_CUDA) return rf_backend_cuda_create(ctx->comm, ctx->opt.device, &ctx->be);
#else
    if (want == REFIT_BACKEND_CUDA)
        return rf_error(REFIT_ERR_DEVICE, "this refit was built without CUDA (no nvcc or NCCL at build time)");
#endif
    return rf_backend_host_create(&ctx->be);
}

/* ---- the guard's hooks (guard.h): the guard never sees the context ---- */
static void unblock_backend(void *user) {
    refit_ctx *ctx = user;
    if (ctx->be && ctx->be->ops->abort) ctx->be->ops->abort(ctx->be);
}

static refit_status dump_local(void *user, const char *dir) { return rf_dump_local(user, dir); }

static void end_job(void *user, int code) {
    refit_ctx *ctx = user;
    rf_comm_abort(ctx->comm, code);
}

static refit_status create_guard(refit_ctx *ctx) {
    rf_guard_config_t cfg = {.rank = rf_comm_rank(ctx->comm), .world = rf_comm_world(ctx->comm),
                             .timeout_s = ctx->opt.timeout_s, .shadow = ctx->opt.commit == REFIT_COMMIT_SHADOW,
                             .generation = ctx->generation,
                             .return_on_timeout = ctx->opt.on_timeout == REFIT_ON_TIMEOUT_RETURN};
    rf_guard_hooks_t hooks = {.user = ctx, .unblock = unblock_backend, .dump_local = dump_local, .end_job = end_job};
    return rf_guard_create(&cfg, &hooks, &ctx->guard);
}

/* The cause of this thread's last failed refit_create: refit_last_error(NULL). */
static _Thread_local char create_error[1024];

static refit_status create_ctx(const void *mpi_comm, const refit_options *opt, refit_ctx **out);

refit_status refit_create(const void *mpi_comm, const refit_options *opt, refit_ctx **out) {
    rf_err_clear();
    create_error[0] = '\0';
#ifdef REFIT_HAVE_CUDA
    int saved = rf_backend_cuda_device_save(); /* the backend makes its own device current */
#endif
    refit_status st = out ? create_ctx(mpi_comm, opt, out)
                          : rf_error(REFIT_ERR_INVALID_ARG, "refit_create: out is NULL");
#ifdef REFIT_HAVE_CUDA
    rf_backend_cuda_device_restore(saved);
#endif
    if (st != REFIT_OK)
        snprintf(create_error, sizeof create_error, "%s", rf_err_msg()[0] ? rf_err_msg() : refit_status_str(st));
    return st;
}

static refit_status create_ctx(const void *mpi_comm, const refit_options *opt, refit_ctx **out) {
    if (!mpi_comm) return rf_error(REFIT_ERR_INVALID_ARG, "refit_create: mpi_comm is NULL (pass an MPI_Comm*)");
    refit_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return rf_error(REFIT_ERR_NOMEM, "context");
    /* A bad option is agreed with the options themselves, before any
     * split: every rank still takes part, none is left waiting. */
    refit_status opt_st = read_options(opt, &ctx->opt);
    if (!ctx->opt.quant) ctx->opt.quant = "fp8-tensor";
    ctx->generation = -1;
    ctx->valid = true;
    if (opt_st == REFIT_OK && !rf_q_scheme_parse(ctx->opt.quant, &ctx->scheme))
        opt_st = rf_error(REFIT_ERR_INVALID_ARG, "unknown quant scheme '%s' (fp8-tensor, fp8-row, fp8-block, none)",
                          ctx->opt.quant);
    ctx->opt.quant = rf_q_scheme_name(ctx->scheme); /* the caller's string is not kept */
    if (opt_st == REFIT_OK && ctx->opt.moe != REFIT_MOE_TP && ctx->opt.moe != REFIT_MOE_EP)
        opt_st = rf_error(REFIT_ERR_INVALID_ARG, "unknown MoE mode %d (REFIT_MOE_TP, REFIT_MOE_EP)", (int)ctx->opt.moe);
    ctx->moe = ctx->opt.moe == REFIT_MOE_EP ? RF_MOE_EP : RF_MOE_TP;
    if (opt_st == REFIT_OK && ctx->opt.readers != REFIT_READERS_ROOT && ctx->opt.readers != REFIT_READERS_ALL)
        opt_st = rf_error(REFIT_ERR_INVALID_ARG, "readers %d: expected REFIT_READERS_ROOT or _ALL", ctx->opt.readers);
    /* Before any split: a bad option on any rank, or options that differ
     * between ranks (--tp above all), fail every rank with the cause named
     * instead of a hang in MPI_Comm_split. */
    refit_status st = rf_options_agree(mpi_comm, &ctx->opt, opt_st);
    int world = 0;
    if (st == REFIT_OK) st = rf_comm_create(mpi_comm, 1, &ctx->comm); /* probe world size first */
    if (st == REFIT_OK) {
        world = rf_comm_world(ctx->comm);
        rf_comm_destroy(ctx->comm);
        ctx->comm = NULL;
    }
    /* abort mode: the watchdog thread calls MPI_Abort while the main thread
     * may sit in MPI (return mode calls MPI from the main thread only) */
    if (st == REFIT_OK && ctx->opt.on_timeout != REFIT_ON_TIMEOUT_RETURN && ctx->opt.on_timeout != REFIT_ON_TIMEOUT_ABORT)
        st = rf_error(REFIT_ERR_INVALID_ARG, "on_timeout %d: expected REFIT_ON_TIMEOUT_RETURN or _ABORT",
                      ctx->opt.on_timeout);
    if (st == REFIT_OK && ctx->opt.on_timeout == REFIT_ON_TIMEOUT_ABORT && ctx->opt.timeout_s >= 0 &&
        !rf_comm_thread_multiple())
        st = rf_error(REFIT_ERR_INVALID_ARG, "on_timeout=abort needs MPI_THREAD_MULTIPLE (its watchdog thread calls "
                      "MPI_Abort): initialize MPI with MPI_Init_thread(..., MPI_THREAD_MULTIPLE, ...)");
    int tp = ctx->opt.tp > 0 ? ctx->opt.tp : world;
    if (st == REFIT_OK) st = rf_comm_create(mpi_comm, tp, &ctx->comm);
    ctx->opt.tp = tp;
    /* Every rank must agree on the bucket: the plan is the protocol. */
    ctx->bucket = ctx->opt.bucket_bytes ? ctx->opt.bucket_bytes : RF_DEFAULT_BUCKET;
    if (st == REFIT_OK) st = rf_comm_allreduce_min_u64(ctx->comm, &ctx->bucket);
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, rf_verify_agree(ctx));
    /* every REFIT_* setting well formed on every rank, before any is used */
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, rf_settings_check());
    /* REFIT_FAULT and the watchdog: agreed apart, backend set-up may be collective */
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, create_guard(ctx));
    if (st == REFIT_OK) st = rf_comm_agree(ctx->comm, pick_backend(ctx));
    if (st != REFIT_OK) {
        refit_destroy(ctx);
        return st;
    }
    RF_INFO("snap", "context: world %d, tp %d, scheme %s, --moe %s, backend %s, bucket %llu bytes", world, tp,
            rf_q_scheme_name(ctx->scheme), rf_moe_mode_name(ctx->moe), ctx->be->ops->name,
            (unsigned long long)ctx->bucket);
    *out = ctx;
    return REFIT_OK;
}

void refit_destroy(refit_ctx *ctx) {
    if (!ctx) return;
    int saved = -1;
    void (*leave)(int) = ctx->be && ctx->be->ops->device_leave ? ctx->be->ops->device_leave : NULL;
    if (ctx->be && ctx->be->ops->device_enter && ctx->be->ops->device_enter(ctx->be, &saved) != REFIT_OK)
        rf_err_clear(); /* destroy cannot fail: the frees below report nothing either */
    rf_guard_destroy(ctx->guard);
    if (ctx->be) rf_free_params(ctx);
    rf_plan_free(&ctx->plan);
    rf_snap_free(ctx->snap);
    free(ctx->snap_blob);
    rf_source_close(ctx);
    rf_verify_free(ctx->verify);
    if (ctx->be) ctx->be->ops->destroy(ctx->be);
    rf_comm_destroy(ctx->comm);
    free(ctx);
    if (leave) leave(saved);
}

int64_t refit_generation(const refit_ctx *ctx) { return ctx->generation; }
int refit_model_valid(const refit_ctx *ctx) { return ctx->valid; }
const char *refit_last_error(const refit_ctx *ctx) { return ctx ? ctx->last_error : create_error; }

refit_status rf_ctx_device_enter(refit_ctx *ctx, int *saved) {
    *saved = -1;
    return ctx->be->ops->device_enter ? ctx->be->ops->device_enter(ctx->be, saved) : REFIT_OK;
}

void rf_ctx_device_leave(refit_ctx *ctx, int saved) {
    if (ctx->be->ops->device_leave) ctx->be->ops->device_leave(saved);
}
const char *refit_backend_name(const refit_ctx *ctx) { return ctx->be->ops->name; }

refit_status refit_last_stats(const refit_ctx *ctx, refit_load_stats *out) {
    *out = ctx->stats;
    return REFIT_OK;
}

/* ---- refit_tool.h ------------------------------------------------------- */
void rf_ctx_set_emergency_dump(refit_ctx *ctx, const char *dir) { rf_guard_set_dump_dir(ctx->guard, dir); }

void rf_ctx_emergency(refit_ctx *ctx, const char *why, double max_seconds) {
    rf_guard_emergency(ctx->guard, why, max_seconds);
}

void rf_ctx_emergency_dump_start(refit_ctx *ctx) { rf_guard_emergency_dump_start(ctx->guard); }

void rf_ctx_signal(refit_ctx *ctx, int sig, double max_dump_seconds) {
    rf_guard_signal(ctx->guard, sig, max_dump_seconds);
}

void rf_tool_timeout_split(double timeout_s, double *fire_s, double *abort_s) {
    rf_guard_timeout_split(timeout_s, fire_s, abort_s);
}
