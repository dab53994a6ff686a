/* Where a rank runs: its host and place on the node (local rank), the GPU it
 * drives, the CPUs it is bound to and their NUMA nodes; and the binding
 * itself. `refit topo` prints it for every rank; `refit run` applies it at
 * start (DESIGN: bind each rank to the cores nearest its GPU, never silently).
 *
 * GPU: on CUDA builds the GPU of local rank l is l % (visible GPUs); a
 * process that sees one GPU (per-task cgroups, CUDA_VISIBLE_DEVICES) uses
 * device 0. Without CUDA or without a GPU: none.
 *
 * --bind auto (REFIT_BIND): a rank with a GPU binds to the CPUs of the GPU's
 * nearest non-I/O ancestor in hwloc's tree (its NUMA node or package);
 * without a GPU it keeps a launcher's binding, else on a machine with
 * several NUMA nodes it binds to NUMA node (local rank % nodes).
 * --bind none: the binding is left as the launcher made it. */
#ifndef RF_BIND_H
#define RF_BIND_H

#include <stdbool.h>

#include "rf_common.h"

typedef enum { RF_BIND_AUTO = 0, RF_BIND_NONE } rf_bind_mode_t;

/* "auto" | "none"; REFIT_ERR_INVALID_ARG naming the value otherwise. */
refit_status rf_bind_mode_parse(const char *s, rf_bind_mode_t *out);

/* Plain bytes (no pointers): ranks send it to rank 0 as is. */
typedef struct {
    char host[64];
    int local_rank, local_size; /* comm/node_place.h */
    int gpu;                    /* CUDA device this rank drives; -1 none */
    int gpu_count;              /* CUDA devices visible to this rank */
    char gpu_pci[16];           /* "0000:3b:00.0"; "" without a GPU */
    char cpus[96];              /* bound logical CPUs (OS numbering, as taskset), "0-3,8" */
    char numa[48];              /* NUMA nodes of those CPUs, "0" or "0-1"; "?" without hwloc */
    int n_numa;                 /* how many NUMA nodes the binding spans (0 unknown) */
    int machine_numa;           /* NUMA nodes of the machine (0 unknown) */
    bool unbound;               /* the binding covers every CPU the process may use */
    char by[16];                /* who set the binding: "refit", "launcher" or "nobody" */
    char warning[400];          /* why this placement is poor; "" when it is fine */
    bool serious;               /* the warning costs speed here (a GPU, or >1 NUMA node) */
} rf_place_t;

/* Collective over `mpi_comm` (an MPI_Comm*): finds this rank's place, binds
 * per `mode` and describes the result. A failed binding is not an error: it
 * becomes the warning. */
refit_status rf_bind_setup(const void *mpi_comm, rf_bind_mode_t mode, rf_place_t *out);

/* `refit run` at start, on MPI_COMM_WORLD: parses `mode` (--bind), binds,
 * makes the rank's GPU current (CUDA builds: the backend then finds it with
 * cudaGetDevice), and says where the rank runs: at info level, or as a
 * warning when the placement costs speed here (rf_place_t.serious). */
refit_status rf_bind_for_run(const char *mode);

/* Logical CPUs nearest PCI device `busid` ("0000:3b:00.0") as a list,
 * "" when hwloc does not know the device. For tests and topo. */
refit_status rf_bind_pci_cpus(const char *busid, char *cpus, size_t len);

#endif
