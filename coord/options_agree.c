/* refit_create's first collective (options_agree.h): rank 0 broadcasts its
 * options on the caller's communicator, before it is duplicated or split,
 * and every rank names the first one it holds differently. Without it,
 * ranks with different --tp hang in MPI_Comm_split and ranks with different
 * --quant commit a mix of schemes. */
#include <stdio.h>
#include <string.h>

#include "comm.h"
#include "options_agree.h"

/* The options as fixed-size bytes, the same layout on every rank. */
typedef struct {
    int32_t tp, backend, commit, transfer, moe, readers;
    uint64_t bucket_bytes;
    double timeout_s;
    char quant[32];
} wire_t;

static void to_wire(const refit_options *o, wire_t *w) {
    memset(w, 0, sizeof *w);
    w->tp = o->tp;
    w->backend = (int32_t)o->backend;
    w->commit = (int32_t)o->commit;
    w->transfer = (int32_t)o->transfer;
    w->moe = (int32_t)o->moe;
    w->readers = (int32_t)o->readers;
    w->bucket_bytes = o->bucket_bytes;
    w->timeout_s = o->timeout_s;
    snprintf(w->quant, sizeof w->quant, "%s", o->quant ? o->quant : "fp8-tensor");
}

static const char *name_of(int32_t v, const char *const *names, int n) {
    return v >= 0 && v < n ? names[v] : "?";
}

/* "--quant none, rank 0 has fp8-tensor" for the first field that differs;
 * false when none does. */
static bool first_difference(const wire_t *me, const wire_t *root, char *out, size_t cap) {
    static const char *const backends[] = {"auto", "host", "cuda"};
    static const char *const commits[] = {"shadow", "inplace"};
    static const char *const transfers[] = {"scatter", "bcast"};
    static const char *const moes[] = {"tp", "ep"};
    static const char *const readers[] = {"root", "all"};
    if (me->tp != root->tp)
        snprintf(out, cap, "--tp %d, rank 0 has %d (0: the world size)", me->tp, root->tp);
    else if (strcmp(me->quant, root->quant) != 0)
        snprintf(out, cap, "--quant %s, rank 0 has %s", me->quant, root->quant);
    else if (me->backend != root->backend)
        snprintf(out, cap, "--backend %s, rank 0 has %s", name_of(me->backend, backends, 3),
                 name_of(root->backend, backends, 3));
    else if (me->commit != root->commit)
        snprintf(out, cap, "--commit %s, rank 0 has %s", name_of(me->commit, commits, 2),
                 name_of(root->commit, commits, 2));
    else if (me->transfer != root->transfer)
        snprintf(out, cap, "--transfer %s, rank 0 has %s", name_of(me->transfer, transfers, 2),
                 name_of(root->transfer, transfers, 2));
    else if (me->moe != root->moe)
        snprintf(out, cap, "--moe %s, rank 0 has %s", name_of(me->moe, moes, 2), name_of(root->moe, moes, 2));
    else if (me->readers != root->readers)
        snprintf(out, cap, "--readers %s, rank 0 has %s", name_of(me->readers, readers, 2),
                 name_of(root->readers, readers, 2));
    else if (me->bucket_bytes != root->bucket_bytes)
        snprintf(out, cap, "bucket of %llu bytes, rank 0 has %llu", (unsigned long long)me->bucket_bytes,
                 (unsigned long long)root->bucket_bytes);
    else if (me->timeout_s != root->timeout_s)
        snprintf(out, cap, "--timeout %g, rank 0 has %g", me->timeout_s, root->timeout_s);
    else
        return false;
    return true;
}

refit_status rf_options_agree(const void *mpi_comm, const refit_options *opt, refit_status local) {
    int rank;
    RF_CHECK(rf_comm_raw_rank(mpi_comm, &rank));
    wire_t me, root;
    to_wire(opt, &me);
    root = me;
    RF_CHECK(rf_comm_raw_bcast(mpi_comm, &root, sizeof root));
    char diff[256];
    refit_status st = local; /* a bad option of this rank's own comes first */
    if (st == REFIT_OK && rank != 0 && first_difference(&me, &root, diff, sizeof diff))
        st = rf_error_replace(REFIT_ERR_INVALID_ARG, "rank %d has %s: every rank must be started with the same options",
                              rank, diff); /* verbatim: the message names its rank */
    return rf_comm_raw_agree(mpi_comm, st);
}
