/* `refit topo`: under mpirun/srun, every rank's host, local rank, GPU (PCI
 * id) or none, bound CPUs and NUMA nodes, after the binding `refit run`
 * would make (--bind); warns where a rank is unbound or spans NUMA nodes. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "commands.h"
#include "options.h"

/* MPI calls on MPI_COMM_WORLD here keep MPI's default error handler,
 * MPI_ERRORS_ARE_FATAL: a failure ends the job with MPI's own message, so
 * their return codes are not checked again. (The library duplicates its
 * communicators with MPI_ERRORS_RETURN and checks every call, MPI_CHECK.) */
static void topo_help(FILE *out) {
    fprintf(out, "\nPrints where every rank runs: host, local rank, GPU (PCI bus id) or none, the CPUs it is\n"
                 "bound to and their NUMA nodes, after the binding refit run makes at start; warns when a\n"
                 "rank is not bound or its CPUs span several NUMA nodes.\n");
}

static int count_hosts(const rf_place_t *all, int world) {
    int n = 0;
    for (int r = 0; r < world; r++) {
        bool seen = false;
        for (int q = 0; q < r && !seen; q++) seen = !strcmp(all[q].host, all[r].host);
        n += !seen;
    }
    return n;
}

static void print_table(const rf_place_t *all, int world, FILE *out) {
    fprintf(out, "refit topo: %d rank%s on %d host%s\n", world, world > 1 ? "s" : "", count_hosts(all, world),
            count_hosts(all, world) > 1 ? "s" : "");
    fprintf(out, "%5s  %-16s %-6s %-20s %-16s %-6s %s\n", "rank", "host", "local", "gpu", "cpus", "numa", "bound by");
    for (int r = 0; r < world; r++) {
        const rf_place_t *p = &all[r];
        char local[24], gpu[40];
        snprintf(local, sizeof local, "%d/%d", p->local_rank, p->local_size);
        if (p->gpu < 0) snprintf(gpu, sizeof gpu, "none");
        else snprintf(gpu, sizeof gpu, "%d %s", p->gpu, p->gpu_pci[0] ? p->gpu_pci : "(no pci id)");
        fprintf(out, "%5d  %-16s %-6s %-20s %-16s %-6s %s\n", r, p->host, local, gpu, p->cpus, p->numa, p->by);
    }
    int warned = 0;
    for (int r = 0; r < world; r++)
        if (all[r].warning[0]) {
            fprintf(out, "refit topo: warning: rank %d on %s: %s\n", r, all[r].host, all[r].warning);
            warned++;
        }
    if (!warned) fprintf(out, "refit topo: every rank bound inside one NUMA node\n");
}

int rf_cmd_topo(int argc, char **argv) {
    int rank = 0, world = 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    rf_opts_t o;
    rf_bind_mode_t mode = RF_BIND_AUTO;
    int rc = rf_opts_front(RF_CMD_TOPO, argc, argv, &o, rank != 0, topo_help);
    rf_log_set_rank(rank, world);
    if (rc >= 0) {
        MPI_Finalize();
        return rc;
    }
    refit_status st = rf_bind_mode_parse(rf_opt_str(&o, "bind"), &mode);
    rf_place_t mine;
    st = rf_bind_setup(&(MPI_Comm){MPI_COMM_WORLD}, mode, &mine);
    if (st != REFIT_OK) fprintf(stderr, "refit topo: %s\n", rf_err_msg()); /* still joins the gather */
    rf_place_t *all = rank == 0 ? calloc((size_t)world, sizeof *all) : NULL;
    if (rank == 0 && !all) {
        fprintf(stderr, "refit topo: no memory for %d ranks' places\n", world);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    rc = MPI_Gather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank == 0 && all && rc == MPI_SUCCESS) print_table(all, world, stdout);
    free(all);
    int bad = st != REFIT_OK || rc != MPI_SUCCESS;
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return bad ? 1 : 0;
}
