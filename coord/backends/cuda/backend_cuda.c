/* cuda backend: model memory in device memory at stable addresses, the
 * quantization kernels of kernels/quant_cuda.cu (bit-identical to the C
 * reference), NCCL data plane (xfer_nccl.c). One GPU per rank, chosen by
 * local rank (comm/node_place.h); a process that sees one GPU uses
 * device 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cuda.h"
#include "cuda_device.h"
#include "quant_cuda.h"
#include "quant_moe_cuda.h"

bool rf_backend_cuda_available(void) { return rf_dev_count() > 0; }

static rf_cuda_t *state(rf_backend_t *b) { return b->impl; }

static refit_status cu_alloc(rf_backend_t *b, size_t bytes, void **out) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        size_t free_b = 0, total = 0;
        (void)cudaGetLastError();
        if (cudaMemGetInfo(&free_b, &total) != cudaSuccess) (void)cudaGetLastError();
        return rf_error(REFIT_ERR_NOMEM, "gpu %d: cudaMalloc of %zu bytes failed: %s (%zu of %zu bytes free)",
                        state(b)->device, bytes, cudaGetErrorString(e), free_b, total);
    }
    /* zeroed like the host backend: vocab padding rows rely on nothing else */
    e = cudaMemset(p, 0, bytes);
    if (e != cudaSuccess) {
        refit_status st = rf_cuda_fail(e, "cudaMemset");
        if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
        return st;
    }
    *out = p;
    return REFIT_OK;
}

/* The size of every allocation, for the account (cudaFree does not tell). */
static refit_status remember(rf_cuda_t *c, void *p, uint64_t bytes) {
    if (c->n_recs == c->cap_recs) {
        size_t cap = c->cap_recs ? 2 * c->cap_recs : 256;
        struct rf_cuda_rec *r = realloc(c->recs, cap * sizeof *r);
        if (!r) return rf_error(REFIT_ERR_NOMEM, "allocation table of %zu entries", cap);
        c->recs = r;
        c->cap_recs = cap;
    }
    c->recs[c->n_recs++] = (struct rf_cuda_rec){p, bytes};
    return REFIT_OK;
}

static uint64_t forget(rf_cuda_t *c, void *p) {
    for (size_t i = 0; i < c->n_recs; i++)
        if (c->recs[i].p == p) {
            uint64_t b = c->recs[i].bytes;
            c->recs[i] = c->recs[--c->n_recs];
            return b;
        }
    return 0;
}

static void cu_release(rf_backend_t *b, void *ptr) {
    if (!ptr) return;
    rf_backend_account(b, forget(state(b), ptr), false);
    if (cudaFree(ptr) != cudaSuccess) { /* an earlier kernel's error; the memory is gone either way */
        (void)cudaGetLastError();
        RF_WARN("kern", "gpu %d: cudaFree reported an earlier error", state(b)->device);
    }
}

static refit_status cu_alloc_tracked(rf_backend_t *b, size_t bytes, void **out) {
    void *p = NULL;
    RF_CHECK(cu_alloc(b, bytes, &p));
    refit_status st = remember(state(b), p, bytes);
    if (st != REFIT_OK) {
        if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
        return st;
    }
    rf_backend_account(b, bytes, true);
    *out = p;
    return REFIT_OK;
}

static refit_status cu_copy(rf_backend_t *b, void *dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, state(b)->s_comp), "commit copy");
    return REFIT_OK;
}

static refit_status cu_sync(rf_backend_t *b) {
    CUDA_CHECK(cudaStreamSynchronize(state(b)->s_comp), "commit copy");
    return REFIT_OK;
}

/* refit_commit on the caller's stream (backend.h). The events are made
 * once and kept: a commit is the engine's pause, nothing slow belongs in it. */
static refit_status cu_fence(rf_backend_t *b, void *stream, bool before) {
    rf_cuda_t *c = state(b);
    cudaEvent_t *ev = &c->ev_fence[before ? 0 : 1];
    if (!*ev) CUDA_CHECK(cudaEventCreateWithFlags(ev, cudaEventDisableTiming), "commit event");
    cudaStream_t from = before ? (cudaStream_t)stream : c->s_comp, to = before ? c->s_comp : (cudaStream_t)stream;
    CUDA_CHECK(cudaEventRecord(*ev, from), "commit event record");
    CUDA_CHECK(cudaStreamWaitEvent(to, *ev, 0), "commit stream wait");
    return REFIT_OK;
}

/* refit_bind: device (or managed) memory of this rank's GPU only. */
static bool cu_check_ptr(rf_backend_t *b, const void *ptr, char *why, size_t cap) {
    struct cudaPointerAttributes a;
    int dev = state(b)->device;
    if (cudaPointerGetAttributes(&a, ptr) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(why, cap, "not memory CUDA knows, the cuda backend needs device memory of GPU %d", dev);
        return false;
    }
    if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged) {
        snprintf(why, cap, "host memory, the cuda backend needs device memory of GPU %d", dev);
        return false;
    }
    if (a.device != dev) {
        snprintf(why, cap, "device memory of GPU %d, this rank uses GPU %d", a.device, dev);
        return false;
    }
    return true;
}

static refit_status cu_to_host(rf_backend_t *b, void *host_dst, const void *src, size_t bytes) {
    (void)b;
    CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost), "copy to host");
    return REFIT_OK;
}

/* Workspace bytes of param p on this rank: an expert param's grouped
 * kernels need the most over the schemes (the scheme is the context's, not
 * known here), any other param the dense kernels' fixed size. */
static uint64_t ws_bytes(const rf_xfer_t *x, const rf_param_t *p) {
    if (!rf_param_is_expert(p)) return RF_QCU_WORKSPACE_BYTES;
    rf_q_moe_t m = rf_param_moe_desc(p, x->tp, rf_comm_tp_rank(x->comm));
    uint64_t most = RF_QCU_WORKSPACE_BYTES;
    for (int s = 0; s < RF_Q_COUNT; s++) {
        uint64_t w = rf_qcu_moe_workspace_bytes((rf_qscheme_t)s, &m);
        if (w > most) most = w;
    }
    return most;
}

/* Workspaces and timing events for the params of x (made once, on the
 * first load: the params never change). */
static refit_status ensure_ws(rf_cuda_t *c, const rf_xfer_t *x) {
    size_t n = x->n_params;
    if (c->ws_params >= n) return REFIT_OK;
    if (c->d_ws) return rf_error(REFIT_ERR_INTERNAL, "param count grew from %zu to %zu", c->ws_params, n);
    c->ws_off = malloc((n + 1) * sizeof *c->ws_off);
    if (!c->ws_off) return rf_error(REFIT_ERR_NOMEM, "workspace table");
    c->ws_off[0] = 0;
    for (size_t i = 0; i < n; i++) c->ws_off[i + 1] = c->ws_off[i] + ws_bytes(x, &x->params[i]);
    CUDA_CHECK(cudaMalloc(&c->d_ws, c->ws_off[n]), "workspace");
    c->h_ws = malloc(c->ws_off[n]);
    c->ev_q = calloc(2 * n, sizeof *c->ev_q);
    c->q_used = calloc(n, sizeof *c->q_used);
    if (!c->h_ws || !c->ev_q || !c->q_used) return rf_error(REFIT_ERR_NOMEM, "workspace table");
    for (size_t i = 0; i < 2 * n; i++) CUDA_CHECK(cudaEventCreate(&c->ev_q[i]), "event");
    c->ws_params = n;
    return REFIT_OK;
}

/* Param `param`'s workspace; NULL (an internal error) when it has none. */
static void *param_ws(rf_cuda_t *c, size_t param, size_t *bytes) {
    if (param >= c->ws_params) return NULL;
    *bytes = (size_t)(c->ws_off[param + 1] - c->ws_off[param]);
    return (uint8_t *)c->d_ws + c->ws_off[param];
}

static refit_status cu_process(rf_backend_t *b, size_t param, rf_qscheme_t s, const void *x, int64_t rows,
                               int64_t cols, void *out, void *scales) {
    rf_cuda_t *c = state(b);
    size_t wsb = 0;
    void *ws = param_ws(c, param, &wsb);
    if (!ws) return rf_error(REFIT_ERR_INTERNAL, "param %zu has no workspace", param);
    CUDA_CHECK(cudaEventRecord(c->ev_q[2 * param], c->s_comp), "event");
    if (s == RF_Q_NONE) RF_CHECK(rf_qcu_scan(x, rows * cols, ws, c->s_comp));
    else RF_CHECK(rf_qcu_quantize(s, x, rows, cols, out, scales, ws, RF_QCU_WORKSPACE_BYTES, c->s_comp));
    CUDA_CHECK(cudaEventRecord(c->ev_q[2 * param + 1], c->s_comp), "event");
    c->q_used[param] = true;
    return REFIT_OK;
}

/* All local experts of the param in one grouped launch (SPEC §3a). */
static refit_status cu_process_experts(rf_backend_t *b, size_t param, rf_qscheme_t s, const rf_q_moe_t *m,
                                       const void *x, void *out, void *scales) {
    rf_cuda_t *c = state(b);
    size_t wsb = 0;
    void *ws = param_ws(c, param, &wsb);
    if (!ws) return rf_error(REFIT_ERR_INTERNAL, "param %zu has no workspace", param);
    CUDA_CHECK(cudaEventRecord(c->ev_q[2 * param], c->s_comp), "event");
    RF_CHECK(rf_qcu_moe_quantize(s, m, x, out, scales, ws, wsb, c->s_comp));
    CUDA_CHECK(cudaEventRecord(c->ev_q[2 * param + 1], c->s_comp), "event");
    c->q_used[param] = true;
    return REFIT_OK;
}

static refit_status cu_collect(rf_backend_t *b, size_t *bad_param, int64_t *bad_elem, uint16_t *bad_bits) {
    rf_cuda_t *c = state(b);
    *bad_param = SIZE_MAX;
    CUDA_CHECK(cudaStreamSynchronize(c->s_comp), "waiting for quantization");
    if (!c->ws_params) return REFIT_OK;
    CUDA_CHECK(cudaMemcpy(c->h_ws, c->d_ws, c->ws_off[c->ws_params], cudaMemcpyDeviceToHost),
                  "reading NaN/Inf flags");
    for (size_t i = 0; i < c->ws_params; i++) {
        if (!c->q_used[i]) continue;
        bool is_inf = false;
        int64_t bad = rf_qcu_ws_first_bad(c->h_ws + c->ws_off[i], &is_inf);
        if (bad >= 0) {
            *bad_param = i;
            *bad_elem = bad;
            *bad_bits = is_inf ? 0x7F80 : 0x7FC0;
            break;
        }
    }
    return REFIT_OK;
}

static double cu_quant_seconds(rf_backend_t *b) {
    rf_cuda_t *c = state(b);
    double total = 0;
    for (size_t i = 0; i < c->ws_params; i++) {
        if (!c->q_used[i]) continue;
        float ms = 0;
        if (cudaEventElapsedTime(&ms, c->ev_q[2 * i], c->ev_q[2 * i + 1]) == cudaSuccess) total += ms * 1e-3;
        else (void)cudaGetLastError(); /* a figure only: an untimed param counts 0 */
        c->q_used[i] = false; /* next load starts clean */
    }
    return total;
}

static refit_status cu_transfer(rf_backend_t *b, const rf_xfer_t *x, uint64_t *bytes_moved) {
    RF_CHECK(ensure_ws(state(b), x));
    return rf_xfer_cuda_run(b, x, bytes_moved);
}

/* Watchdog thread, the load is past its deadline: free NCCL kernels that
 * wait for a dead or hung peer, so the emergency dump's device reads run. */
static void cu_abort(rf_backend_t *b) { rf_nccl_abort(state(b)); }

/* Teardown: an error here is an earlier kernel's, already reported or moot;
 * it is cleared so that the next context starts clean. */
static void cu_destroy(rf_backend_t *b) {
    rf_cuda_t *c = state(b);
    if (c) {
        rf_nccl_fini(c);
        rf_cu_digest_free(c);
        for (size_t i = 0; c->ev_q && i < 2 * c->ws_params; i++)
            if (c->ev_q[i] && cudaEventDestroy(c->ev_q[i]) != cudaSuccess) (void)cudaGetLastError();
        if (c->d_ws && cudaFree(c->d_ws) != cudaSuccess) (void)cudaGetLastError();
        free(c->h_ws);
        free(c->ws_off);
        free(c->ev_q);
        free(c->q_used);
        cudaStream_t streams[] = {c->s_h2d, c->s_nccl, c->s_comp};
        for (int i = 0; i < 3; i++)
            if (streams[i] && cudaStreamDestroy(streams[i]) != cudaSuccess) (void)cudaGetLastError();
        for (int i = 0; i < 2; i++)
            if (c->ev_fence[i] && cudaEventDestroy(c->ev_fence[i]) != cudaSuccess) (void)cudaGetLastError();
        free(c->recs);
        free(c);
    }
    free(b);
}

/* The caller's GPU (refit_options.device >= 0) or one by local rank
 * (comm/node_place.h); one visible GPU: device 0. */
static refit_status pick_device(rf_cuda_t *c, int want) {
    c->local_rank = rf_comm_local_rank(c->comm);
    int local_size = rf_comm_local_size(c->comm);
    int n = rf_dev_count();
    if (n == 0) return rf_error(REFIT_ERR_DEVICE, "no usable GPU (cuda backend asked for; try --backend host)");
    if (want >= n)
        return rf_error(REFIT_ERR_INVALID_ARG, "refit_options.device %d: this process sees %d GPU%s (0..%d)", want,
                        n, n == 1 ? "" : "s", n - 1);
    if (want < 0 && n > 1 && local_size > n)
        RF_WARN("launch", "%d ranks on this host share %d GPUs", local_size, n);
    c->device = want >= 0 ? want : n == 1 ? 0 : c->local_rank % n;
    RF_CHECK(rf_dev_set(c->device));
    char desc[160] = "";
    if (rf_dev_desc(desc, sizeof desc) != REFIT_OK) { /* for the log line only */
        snprintf(desc, sizeof desc, "no description: %s", rf_err_msg());
        rf_err_clear();
    }
    RF_INFO("launch", "local rank %d -> gpu %d (%s)", c->local_rank, c->device, desc);
    return REFIT_OK;
}

static refit_status cu_init(rf_cuda_t *c, int device) {
    RF_CHECK(pick_device(c, device));
    int lo, hi; /* the data plane gets the higher priority: it paces everything */
    CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&lo, &hi), "stream priorities");
    CUDA_CHECK(cudaStreamCreateWithPriority(&c->s_h2d, cudaStreamNonBlocking, hi), "stream");
    CUDA_CHECK(cudaStreamCreateWithPriority(&c->s_nccl, cudaStreamNonBlocking, hi), "stream");
    CUDA_CHECK(cudaStreamCreateWithPriority(&c->s_comp, cudaStreamNonBlocking, lo), "stream");
    return rf_nccl_init(c);
}

int rf_backend_cuda_device_save(void) { return rf_dev_current(); }

void rf_backend_cuda_device_restore(int saved) {
    /* not rf_dev_set: the call's own first cause (rf_error) must stand */
    if (saved >= 0 && rf_dev_current() != saved && cudaSetDevice(saved) != cudaSuccess)
        RF_WARN("launch", "could not make the caller's device %d current again: %s", saved,
                cudaGetErrorString(cudaGetLastError()));
}

static refit_status cu_device_enter(rf_backend_t *b, int *saved) {
    *saved = rf_dev_current();
    return *saved == state(b)->device ? REFIT_OK : rf_dev_set(state(b)->device);
}

static const rf_backend_ops_t cuda_ops = {
    .name = "cuda", .alloc = cu_alloc_tracked, .release = cu_release, .copy = cu_copy, .to_host = cu_to_host,
    .process = cu_process, .process_experts = cu_process_experts, .collect = cu_collect, .transfer = cu_transfer, .sync = cu_sync,
    .quant_seconds = cu_quant_seconds, .digest = rf_cu_digest, .digest_collect = rf_cu_digest_collect,
    .leaves_begin = rf_cu_leaves_begin, .leaves = rf_cu_leaves, .leaves_collect = rf_cu_leaves_collect,
    .abort = cu_abort, .destroy = cu_destroy, .bind_align = 256, .check_ptr = cu_check_ptr, .fence = cu_fence,
    .device_enter = cu_device_enter, .device_leave = rf_backend_cuda_device_restore};

refit_status rf_backend_cuda_create(rf_comm_t *comm, int device, rf_backend_t **out) {
    rf_backend_t *b = calloc(1, sizeof *b);
    rf_cuda_t *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return rf_error(REFIT_ERR_NOMEM, "cuda backend");
    }
    c->comm = comm;
    *b = (rf_backend_t){.ops = &cuda_ops, .impl = c};
    refit_status st = cu_init(c, device);
    if (st != REFIT_OK) {
        cu_destroy(b);
        return st;
    }
    *out = b;
    return REFIT_OK;
}
