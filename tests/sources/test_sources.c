/* Every source kind (issue 11) under MPI, host backend: generation 0 from
 * the directory (rank 0 reads), generation 1 from G1 as DIR (readers root),
 * DIR (readers all), ROOT_MEMORY and RANK_MEMORY, each dumped to
 * OUT/<kind> (check_sources.sh compares them with each other and with
 * tests/ref); a first load from memory in state created (config_dir), dumped
 * to OUT/root_memory_first and OUT/rank_memory_first; then sources that lie
 * or cannot be read, each an exact error on every rank with generation 0
 * kept: a wrong shape on the last rank's RANK_MEMORY, a missing tensor and a
 * NULL pointer in ROOT_MEMORY, readers all where the last rank's view of
 * the directory (BAD: G1 with one file truncated) cannot be opened.
 * Memory tensors are G1's files read into malloc'd buffers, in their stored
 * dtype (BF16, F16, F32).
 * BACKEND cuda (a CUDA build on a GPU): every load on the cuda backend, and
 * two more kinds, OUT/root_memory_device and OUT/rank_memory_device, from
 * copies of the tensors in this rank's GPU memory. On host: a device
 * pointer is an exact error.
 * usage: test_sources G0 G1 BAD TRUNCATED_FILE_NAME OUT TP [host|cuda] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h" /* CHECK, failures */
#include "checkpoint.h"
#include "refit.h"
#ifdef REFIT_HAVE_CUDA
#include <cuda_runtime.h>
#endif

static int rank, world;
static const char *g0, *g1, *bad, *bad_file, *out;
static int tp;
static bool cuda;

/* A checkpoint's tensors in host memory: what a trainer's state dict is. */
typedef struct {
    rf_ckpt_t *ckpt; /* owns the names */
    refit_tensor *t;
    size_t n;
} mem_t;

static refit_dtype public_dtype(rf_dtype_t d) {
    return d == RF_DT_F16 ? REFIT_DTYPE_F16 : d == RF_DT_F32 ? REFIT_DTYPE_F32 : REFIT_DTYPE_BF16;
}

static void mem_read(const char *dir, mem_t *m) {
    memset(m, 0, sizeof *m);
    if (rf_ckpt_open(dir, &m->ckpt) != REFIT_OK) {
        CHECK(0, "open %s: %s", dir, rf_err_msg());
        return;
    }
    m->n = rf_ckpt_count(m->ckpt);
    m->t = calloc(m->n, sizeof *m->t);
    for (size_t i = 0; i < m->n; i++) {
        const rf_st_file_t *f;
        const rf_st_tensor_t *t;
        rf_ckpt_at(m->ckpt, i, &f, &t);
        void *data = malloc(t->end - t->begin);
        CHECK(data && rf_st_read(f, t, 0, t->end - t->begin, data) == REFIT_OK, "read %s", t->name);
        m->t[i] = (refit_tensor){.name = t->name, .dtype = public_dtype(t->dtype), .ndim = t->ndim, .data = data,
                                 .where = REFIT_MEM_HOST};
        for (int d = 0; d < t->ndim; d++) m->t[i].shape[d] = (int64_t)t->shape[d];
    }
}

static void mem_free(mem_t *m) {
    for (size_t i = 0; i < m->n; i++) free((void *)m->t[i].data);
    free(m->t);
    rf_ckpt_close(m->ckpt);
}

#ifdef REFIT_HAVE_CUDA
/* m's tensors copied into this rank's GPU memory (the same names). */
static void mem_to_device(const mem_t *m, mem_t *d) {
    *d = (mem_t){.t = calloc(m->n, sizeof *d->t), .n = m->n};
    for (size_t i = 0; i < m->n; i++) {
        size_t bytes = (m->t[i].dtype == REFIT_DTYPE_F32 ? 4 : 2) * (size_t)m->t[i].shape[0] *
                       (size_t)(m->t[i].ndim > 1 ? m->t[i].shape[1] : 1);
        void *p = NULL;
        CHECK(cudaMalloc(&p, bytes) == cudaSuccess && cudaMemcpy(p, m->t[i].data, bytes, cudaMemcpyHostToDevice) ==
                                                          cudaSuccess, "device copy of %s", m->t[i].name);
        d->t[i] = m->t[i];
        d->t[i].data = p;
        d->t[i].where = REFIT_MEM_DEVICE;
    }
}

static void device_free(mem_t *d) {
    for (size_t i = 0; i < d->n; i++) cudaFree((void *)d->t[i].data);
    free(d->t);
}
#endif

static refit_ctx *create(void) {
    refit_options opt;
    refit_options_default(&opt);
    opt.tp = tp;
    opt.backend = cuda ? REFIT_BACKEND_CUDA : REFIT_BACKEND_HOST;
    opt.quant = "fp8-block";
    opt.bucket_bytes = 1 << 20;
    refit_ctx *ctx = NULL;
    MPI_Comm comm = MPI_COMM_WORLD;
    CHECK(refit_create(&comm, &opt, &ctx) == REFIT_OK, "create: %s", refit_last_error(NULL));
    return ctx;
}

static refit_source source(refit_source_kind kind, int readers, const mem_t *m) {
    refit_source s;
    refit_source_default(&s);
    s.kind = kind;
    s.dir = g1;
    s.readers = readers;
    if (m && (kind == REFIT_SOURCE_RANK_MEMORY || rank == 0)) {
        s.tensors = m->t;
        s.n_tensors = m->n;
    }
    return s;
}

static void dump(refit_ctx *ctx, const char *name) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", out, name);
    CHECK(refit_dump(ctx, dir) == REFIT_OK, "dump %s: %s", name, refit_last_error(ctx));
}

/* Generation 0 from G0, then generation 1 from src, dumped as `name`. */
static void load_kind(const char *name, const refit_source *src) {
    refit_ctx *ctx = create();
    if (!ctx) return;
    CHECK(refit_load(ctx, g0) == REFIT_OK, "%s: generation 0: %s", name, refit_last_error(ctx));
    CHECK(refit_load_source(ctx, src) == REFIT_OK, "%s: generation 1: %s", name, refit_last_error(ctx));
    CHECK(refit_generation(ctx) == 1, "%s: generation %lld", name, (long long)refit_generation(ctx));
    dump(ctx, name);
    refit_destroy(ctx);
}

/* A first load (state created) from memory: the model from config_dir. */
static void load_first(const char *name, refit_source src) {
    refit_ctx *ctx = create();
    if (!ctx) return;
    src.config_dir = rank == 0 ? g1 : NULL;
    CHECK(refit_load_source(ctx, &src) == REFIT_OK, "%s: %s", name, refit_last_error(ctx));
    CHECK(refit_generation(ctx) == 0, "%s: generation %lld", name, (long long)refit_generation(ctx));
    dump(ctx, name);
    refit_destroy(ctx);
}

/* Generation 0, then src must fail with `want` (as this rank reads it: the
 * failing rank's own status, the others REFIT_ERR_REMOTE) and keep 0. */
static void expect_fail(const char *name, const refit_source *src, int failing_rank, refit_status st, const char *want) {
    refit_ctx *ctx = create();
    if (!ctx) return;
    CHECK(refit_load(ctx, g0) == REFIT_OK, "%s: generation 0: %s", name, refit_last_error(ctx));
    refit_status got = refit_load_source(ctx, src);
    refit_status expect = rank == failing_rank ? st : REFIT_ERR_REMOTE;
    CHECK(got == expect, "%s: status %s, wanted %s", name, refit_status_str(got), refit_status_str(expect));
    CHECK(!strcmp(refit_last_error(ctx), want), "%s: error\n  '%s', wanted\n  '%s'", name, refit_last_error(ctx), want);
    CHECK(refit_generation(ctx) == 0 && refit_model_valid(ctx), "%s: generation %lld after the failure", name,
          (long long)refit_generation(ctx));
    refit_destroy(ctx);
}

static void lies(mem_t *m) {
    char want[2048];
    int last = world - 1;
    /* the last rank's shape of its first tensor has one row more */
    refit_tensor *t0 = &m->t[0];
    int64_t rows = t0->shape[0];
    if (rank == last) t0->shape[0] = rows + 1;
    refit_source s = source(REFIT_SOURCE_RANK_MEMORY, 0, m);
    char shape[128], rec[128];
    if (t0->ndim == 1) {
        snprintf(shape, sizeof shape, "%lld", (long long)rows + 1);
        snprintf(rec, sizeof rec, "%lld", (long long)rows);
    } else {
        snprintf(shape, sizeof shape, "%lld,%lld", (long long)rows + 1, (long long)t0->shape[1]);
        snprintf(rec, sizeof rec, "%lld,%lld", (long long)rows, (long long)t0->shape[1]);
    }
    snprintf(want, sizeof want, "rank %d's memory: tensor %s has shape [%s], snapshot records [%s]", last, t0->name,
             shape, rec);
    expect_fail("rank memory, wrong shape", &s, last, REFIT_ERR_MISMATCH, want);
    t0->shape[0] = rows;

    /* rank 0 leaves out its last tensor */
    s = source(REFIT_SOURCE_ROOT_MEMORY, 0, m);
    if (rank == 0) s.n_tensors--;
    snprintf(want, sizeof want, "rank 0's memory: tensor %s missing", m->t[m->n - 1].name);
    expect_fail("root memory, missing tensor", &s, 0, REFIT_ERR_MISMATCH, want);

    const void *keep = m->t[1].data;
    m->t[1].data = NULL;
    s = source(REFIT_SOURCE_ROOT_MEMORY, 0, m);
    snprintf(want, sizeof want, "rank 0's memory: tensor %s: data is NULL", m->t[1].name);
    expect_fail("root memory, NULL data", &s, 0, REFIT_ERR_INVALID_ARG, want);
    m->t[1].data = keep;

    if (world > 1) { /* the last rank passes another kind than the others */
        s = source(last == rank ? REFIT_SOURCE_ROOT_MEMORY : REFIT_SOURCE_DIR, REFIT_READERS_ROOT, m);
        expect_fail("kinds differ", &s, 0, REFIT_ERR_INVALID_ARG,
                    "the ranks pass different source kinds (DIR (readers root) .. ROOT_MEMORY): every rank must pass the "
                    "same kind");
    }

    if (!cuda) { /* a device pointer on the host backend */
        m->t[1].where = REFIT_MEM_DEVICE;
        s = source(REFIT_SOURCE_ROOT_MEMORY, 0, m);
        snprintf(want, sizeof want, "rank 0's memory: tensor %s: device memory needs the cuda backend", m->t[1].name);
        expect_fail("root memory, device pointer on host", &s, 0, REFIT_ERR_INVALID_ARG, want);
        m->t[1].where = REFIT_MEM_HOST;
    }

    /* readers all: the last rank's view of the directory cannot be opened */
    s = source(REFIT_SOURCE_DIR, REFIT_READERS_ALL, NULL);
    if (rank == last) s.dir = bad;
    /* a rank other than 0 names itself (rank 0's own R0 errors are named by
     * the command's log prefix, as before: none here) */
    if (last > 0) snprintf(want, sizeof want, "rank %d: %s/%s: byte ", last, bad, bad_file);
    else snprintf(want, sizeof want, "%s/%s: byte ", bad, bad_file);
    refit_ctx *ctx = create();
    if (!ctx) return;
    CHECK(refit_load(ctx, g0) == REFIT_OK, "readers all: generation 0: %s", refit_last_error(ctx));
    refit_status got = refit_load_source(ctx, &s);
    CHECK(got == (rank == last ? REFIT_ERR_FORMAT : REFIT_ERR_REMOTE), "readers all: status %s",
          refit_status_str(got));
    CHECK(!strncmp(refit_last_error(ctx), want, strlen(want)), "readers all: error '%s', wanted it to start '%s'",
          refit_last_error(ctx), want);
    CHECK(refit_generation(ctx) == 0 && refit_model_valid(ctx), "readers all: generation %lld after the failure",
          (long long)refit_generation(ctx));
    if (rank == 0) printf("readers all, unreadable on rank %d: %s\n", last, refit_last_error(ctx));
    refit_destroy(ctx);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (argc != 7 && argc != 8) {
        if (rank == 0) fprintf(stderr, "usage: test_sources G0 G1 BAD TRUNCATED_FILE_NAME OUT TP [host|cuda]\n");
        MPI_Finalize();
        return 2;
    }
    g0 = argv[1], g1 = argv[2], bad = argv[3], bad_file = argv[4], out = argv[5], tp = atoi(argv[6]);
    cuda = argc == 8 && !strcmp(argv[7], "cuda");
    mem_t m;
    mem_read(g1, &m);
    refit_source s = source(REFIT_SOURCE_DIR, REFIT_READERS_ROOT, NULL);
    load_kind("dir_root", &s);
    s = source(REFIT_SOURCE_DIR, REFIT_READERS_ALL, NULL);
    load_kind("dir_all", &s);
    s = source(REFIT_SOURCE_ROOT_MEMORY, 0, &m);
    load_kind("root_memory", &s);
    s = source(REFIT_SOURCE_RANK_MEMORY, 0, &m);
    load_kind("rank_memory", &s);
#ifdef REFIT_HAVE_CUDA
    if (cuda) {
        mem_t d;
        mem_to_device(&m, &d);
        s = source(REFIT_SOURCE_ROOT_MEMORY, 0, &d);
        load_kind("root_memory_device", &s);
        s = source(REFIT_SOURCE_RANK_MEMORY, 0, &d);
        load_kind("rank_memory_device", &s);
        device_free(&d);
    }
#endif
    load_first("root_memory_first", source(REFIT_SOURCE_ROOT_MEMORY, 0, &m));
    load_first("rank_memory_first", source(REFIT_SOURCE_RANK_MEMORY, 0, &m));
    lies(&m);
    mem_free(&m);
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("test_sources: %s (%d failures over %d ranks)\n", all ? "FAIL" : "ok", all, world);
    MPI_Finalize();
    return all ? 1 : 0;
}
