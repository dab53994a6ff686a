/* Rank placement: local rank, GPU, CPU binding (hwloc) and its judgement. */
#include <errno.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef REFIT_HAVE_HWLOC
#include <hwloc.h>
#endif
#ifdef REFIT_HAVE_CUDA
#include "cuda_device.h"
#endif
#include "bind.h"
#include "node_place.h"

refit_status rf_bind_mode_parse(const char *s, rf_bind_mode_t *out) {
    if (s && !strcmp(s, "auto")) *out = RF_BIND_AUTO;
    else if (s && !strcmp(s, "none")) *out = RF_BIND_NONE;
    else return rf_error(REFIT_ERR_INVALID_ARG, "--bind '%s': expected auto or none", s ? s : "");
    return REFIT_OK;
}


static void choose_gpu(rf_place_t *p) {
    p->gpu = -1;
#ifdef REFIT_HAVE_CUDA
    p->gpu_count = rf_dev_count();
    if (p->gpu_count <= 0) return;
    /* One visible GPU: the launcher gave this task its own (cgroups or
     * CUDA_VISIBLE_DEVICES); several: share them out by local rank. */
    p->gpu = p->gpu_count == 1 ? 0 : p->local_rank % p->gpu_count;
    if (rf_dev_pci_bus_id(p->gpu, p->gpu_pci, sizeof p->gpu_pci) != REFIT_OK) {
        snprintf(p->warning, sizeof p->warning, "gpu %d: no PCI bus id: %s", p->gpu, rf_err_msg());
        rf_err_clear();
        p->gpu_pci[0] = '\0';
    }
#endif
}

#ifdef REFIT_HAVE_HWLOC
static refit_status topo_open(hwloc_topology_t *t) {
    if (hwloc_topology_init(t) != 0) return rf_error(REFIT_ERR_NOMEM, "hwloc topology");
    /* PCI devices are filtered out by default; a GPU's locality needs them. */
    hwloc_topology_set_io_types_filter(*t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(*t) != 0) {
        hwloc_topology_destroy(*t);
        return rf_error(REFIT_ERR_IO, "hwloc: cannot load this machine's topology: %s", strerror(errno));
    }
    return REFIT_OK;
}

/* CPUs of the nearest non-I/O object above PCI device `busid`; NULL if unknown. */
static hwloc_const_cpuset_t pci_cpuset(hwloc_topology_t t, const char *busid) {
    hwloc_obj_t dev = busid && *busid ? hwloc_get_pcidev_by_busidstring(t, busid) : NULL;
    hwloc_obj_t anc = dev ? hwloc_get_non_io_ancestor_obj(t, dev) : NULL;
    return anc ? anc->cpuset : NULL;
}

static void describe(hwloc_topology_t t, hwloc_const_cpuset_t set, rf_place_t *p) {
    hwloc_nodeset_t nodes = hwloc_bitmap_alloc();
    hwloc_bitmap_list_snprintf(p->cpus, sizeof p->cpus, set);
    hwloc_cpuset_to_nodeset(t, set, nodes);
    hwloc_bitmap_list_snprintf(p->numa, sizeof p->numa, nodes);
    p->n_numa = hwloc_bitmap_weight(nodes);
    p->machine_numa = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
    p->unbound = hwloc_bitmap_isincluded(hwloc_topology_get_allowed_cpuset(t), set);
    hwloc_bitmap_free(nodes);
}

/* The CPUs `auto` binds to, or NULL to keep the current binding. */
static hwloc_const_cpuset_t auto_target(hwloc_topology_t t, const rf_place_t *p, bool unbound) {
    hwloc_const_cpuset_t near = pci_cpuset(t, p->gpu_pci);
    if (near) return near;
    int n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
    if (p->gpu >= 0 || !unbound || n <= 1) return NULL;
    return hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, (unsigned)(p->local_rank % n))->cpuset;
}

static void bind_hwloc(rf_bind_mode_t mode, rf_place_t *p) {
    hwloc_topology_t t;
    if (topo_open(&t) != REFIT_OK) {
        snprintf(p->warning, sizeof p->warning, "binding unknown: %s", rf_err_msg());
        rf_err_clear();
        snprintf(p->numa, sizeof p->numa, "?");
        return;
    }
    hwloc_cpuset_t cur = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(t, cur, HWLOC_CPUBIND_PROCESS) != 0) hwloc_get_cpubind(t, cur, HWLOC_CPUBIND_THREAD);
    describe(t, cur, p);
    snprintf(p->by, sizeof p->by, "%s", p->unbound ? "nobody" : "launcher");
    hwloc_const_cpuset_t want = mode == RF_BIND_AUTO ? auto_target(t, p, p->unbound) : NULL;
    if (want && !hwloc_bitmap_isequal(want, cur)) {
        char list[96];
        hwloc_bitmap_list_snprintf(list, sizeof list, want);
        if (hwloc_set_cpubind(t, want, HWLOC_CPUBIND_PROCESS) != 0) {
            snprintf(p->warning, sizeof p->warning, "binding to CPUs %s failed: %s", list, strerror(errno));
        } else {
            snprintf(p->by, sizeof p->by, "refit");
            hwloc_get_cpubind(t, cur, HWLOC_CPUBIND_PROCESS);
            describe(t, cur, p);
        }
    }
    hwloc_const_cpuset_t near = pci_cpuset(t, p->gpu_pci);
    if (!p->warning[0] && near && !p->unbound && !hwloc_bitmap_isincluded(cur, near)) {
        char list[64];
        hwloc_bitmap_list_snprintf(list, sizeof list, near);
        snprintf(p->warning, sizeof p->warning, "bound to CPUs %s, not the CPUs %s nearest its GPU", p->cpus, list);
    }
    hwloc_bitmap_free(cur);
    hwloc_topology_destroy(t);
}
#else
/* Without hwloc: the affinity mask as the kernel has it, NUMA unknown. */
static void bind_fallback(rf_place_t *p) {
    cpu_set_t set;
    snprintf(p->numa, sizeof p->numa, "?");
    snprintf(p->by, sizeof p->by, "?");
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    size_t o = 0;
    for (int c = 0; c < CPU_SETSIZE && o + 8 < sizeof p->cpus; c++)
        if (CPU_ISSET(c, &set)) o += (size_t)snprintf(p->cpus + o, sizeof p->cpus - o, "%s%d", o ? "," : "", c);
    p->unbound = CPU_COUNT(&set) >= sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(p->by, sizeof p->by, "%s", p->unbound ? "nobody" : "launcher");
    snprintf(p->warning, sizeof p->warning, "built without hwloc: NUMA nodes unknown, nothing bound");
}
#endif

/* Why the placement is poor, if it is. */
static void judge(rf_place_t *p) {
    p->serious = p->gpu >= 0 || p->machine_numa > 1;
    if (p->warning[0]) return;
    if (p->unbound)
        snprintf(p->warning, sizeof p->warning,
                 "not bound: the OS may move it over all CPUs %s%s (--bind auto, mpirun --bind-to numa, "
                 "srun --cpu-bind=...)",
                 p->cpus, p->machine_numa > 1 ? " and their NUMA nodes" : "");
    else if (p->n_numa > 1)
        snprintf(p->warning, sizeof p->warning,
                 "bound to CPUs %s, which span NUMA nodes %s: its memory traffic crosses between them", p->cpus,
                 p->numa);
    if (p->n_numa > 1) p->serious = true;
}

refit_status rf_bind_setup(const void *mpi_comm, rf_bind_mode_t mode, rf_place_t *out) {
    rf_place_t p;
    memset(&p, 0, sizeof p);
    if (gethostname(p.host, sizeof p.host - 1) != 0) snprintf(p.host, sizeof p.host, "?");
    rf_node_place_t np; /* the library's local rank: the same GPU the cuda backend picks */
    RF_CHECK(rf_node_place(mpi_comm, &np));
    p.local_rank = np.local_rank;
    p.local_size = np.local_size;
    choose_gpu(&p);
#ifdef REFIT_HAVE_HWLOC
    bind_hwloc(mode, &p);
#else
    (void)mode;
    bind_fallback(&p);
#endif
    judge(&p);
    *out = p;
    return REFIT_OK;
}

refit_status rf_bind_for_run(const char *mode_str) {
    rf_bind_mode_t mode = RF_BIND_NONE;
    rf_place_t p;
    RF_CHECK(rf_bind_mode_parse(mode_str, &mode));
    RF_CHECK(rf_bind_setup(&(MPI_Comm){MPI_COMM_WORLD}, mode, &p));
#ifdef REFIT_HAVE_CUDA
    if (p.gpu >= 0) RF_CHECK(rf_dev_set(p.gpu)); /* the rank drives this GPU from here on */
#endif
    char gpu[32] = "none";
    if (p.gpu >= 0) snprintf(gpu, sizeof gpu, "%d (%s)", p.gpu, p.gpu_pci);
    RF_INFO("launch", "local rank %d of %d, gpu %s, cpus %s, numa %s, bound by %s", p.local_rank, p.local_size, gpu,
            p.cpus, p.numa, p.by);
    if (p.warning[0]) rf_log(p.serious ? RF_LOG_WARN : RF_LOG_INFO, "launch", "%s", p.warning);
    return REFIT_OK;
}

refit_status rf_bind_pci_cpus(const char *busid, char *cpus, size_t len) {
    if (len) cpus[0] = '\0';
#ifdef REFIT_HAVE_HWLOC
    hwloc_topology_t t;
    RF_CHECK(topo_open(&t));
    hwloc_const_cpuset_t set = pci_cpuset(t, busid);
    if (set) hwloc_bitmap_list_snprintf(cpus, len, set);
    hwloc_topology_destroy(t);
#else
    (void)busid;
#endif
    return REFIT_OK;
}
