/* launch/bind.c without MPI: the binding modes, and the CPUs nearest a PCI
 * device as hwloc finds them (this machine's first PCI device stands in for
 * a GPU: the lookup is the same). Skips (77) where hwloc sees no PCI. */
#include <stdio.h>
#include <string.h>

#ifdef REFIT_HAVE_HWLOC
#include <hwloc.h>
#endif
#include "bind.h"

#include "check.h"


int main(void) {
    rf_bind_mode_t m = RF_BIND_NONE;
    CHECK(rf_bind_mode_parse("auto", &m) == REFIT_OK && m == RF_BIND_AUTO, "auto");
    CHECK(rf_bind_mode_parse("none", &m) == REFIT_OK && m == RF_BIND_NONE, "none");
    CHECK(rf_bind_mode_parse("numa", &m) == REFIT_ERR_INVALID_ARG && strstr(rf_err_msg(), "'numa'"), "bad mode: %s",
          rf_err_msg());
    rf_err_clear();
    char cpus[96];
    CHECK(rf_bind_pci_cpus("ffff:ff:1f.7", cpus, sizeof cpus) == REFIT_OK && cpus[0] == '\0',
          "an absent device has no CPUs, got '%s'", cpus);
#ifdef REFIT_HAVE_HWLOC
    hwloc_topology_t t;
    hwloc_topology_init(&t);
    hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    hwloc_topology_load(t);
    hwloc_obj_t dev = hwloc_get_next_pcidev(t, NULL);
    if (!dev) {
        hwloc_topology_destroy(t);
        printf("test_bind: hwloc sees no PCI device here; skipping the lookup (%d failures)\n", failures);
        return failures ? 1 : 77;
    }
    char busid[32], want[96];
    snprintf(busid, sizeof busid, "%04x:%02x:%02x.%x", dev->attr->pcidev.domain, dev->attr->pcidev.bus,
             dev->attr->pcidev.dev, dev->attr->pcidev.func);
    hwloc_bitmap_list_snprintf(want, sizeof want, hwloc_get_non_io_ancestor_obj(t, dev)->cpuset);
    hwloc_topology_destroy(t);
    CHECK(rf_bind_pci_cpus(busid, cpus, sizeof cpus) == REFIT_OK && !strcmp(cpus, want),
          "%s: cpus '%s', want '%s'", busid, cpus, want);
    printf("test_bind: PCI %s is nearest CPUs %s\n", busid, cpus);
#endif
    printf("test_bind: %d failures\n", failures);
    return failures ? 1 : 0;
}
