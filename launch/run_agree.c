/* Every rank of `refit run` must run the same loads (run_agree.h). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_agree.h"

/* The list as one '\n'-joined string; "" for the embedded default, whose
 * directories only rank 0 knows. */
static char *join(int n, const char *const *dirs, bool explicit_list) {
    size_t len = 1;
    for (int i = 0; explicit_list && i < n; i++) len += strlen(dirs[i]) + 1;
    char *s = calloc(len, 1);
    if (!s) return NULL;
    for (int i = 0; explicit_list && i < n; i++) {
        strcat(s, dirs[i]);
        strcat(s, "\n");
    }
    return s;
}

/* The first load whose directory differs, as "load K from A, rank 0's from B". */
static void first_dir_difference(const char *mine, const char *root, char *out, size_t cap) {
    for (int k = 0;; k++) {
        size_t a = strcspn(mine, "\n"), b = strcspn(root, "\n");
        if (a != b || strncmp(mine, root, a) != 0) {
            snprintf(out, cap, "load %d from %.*s, rank 0 has %.*s", k, (int)a, mine, (int)b, root);
            return;
        }
        if (!mine[a] || !root[b]) break;
        mine += a + 1;
        root += b + 1;
    }
    snprintf(out, cap, "a different checkpoint list");
}

refit_status rf_run_agree_loads(int rank, int n, const char *const *dirs, bool explicit_list) {
    char *mine = join(n, dirs, explicit_list);
    if (!mine) return rf_error(REFIT_ERR_NOMEM, "checkpoint list");
    long long head[3] = {n, explicit_list, (long long)strlen(mine) + 1}; /* rank 0's, after the broadcast */
    long long own[3] = {head[0], head[1], head[2]};
    MPI_Bcast(head, 3, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    char *root = rank == 0 ? mine : calloc((size_t)head[2], 1);
    if (!root) abort(); /* a rank that cannot join the broadcast would hang the others */
    MPI_Bcast(root, (int)head[2], MPI_CHAR, 0, MPI_COMM_WORLD);
    char diff[700] = "";
    if (own[0] != head[0])
        snprintf(diff, sizeof diff, "%lld loads, rank 0 has %lld", own[0], head[0]);
    else if (own[1] != head[1])
        snprintf(diff, sizeof diff, "%s, rank 0 has %s", own[1] ? "--checkpoint directories" : "no --checkpoint",
                 head[1] ? "--checkpoint directories" : "none (the embedded default)");
    else if (strcmp(mine, root) != 0)
        first_dir_difference(mine, root, diff, sizeof diff);
    if (root != mine) free(root);
    free(mine);
    int ok = diff[0] == '\0', all = ok;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!ok) { /* every rank that differs says how: it alone knows its own list */
        rf_error_replace(REFIT_ERR_INVALID_ARG, "rank %d has %s: every rank must be given the same loads", rank, diff);
        if (rank != 0) fprintf(stderr, "refit run: %s\n", rf_err_msg()); /* rank 0 prints its own */
        return REFIT_ERR_INVALID_ARG;
    }
    if (!all) return rf_error_replace(REFIT_ERR_REMOTE, "another rank was given different loads (its message says how)");
    return REFIT_OK;
}
