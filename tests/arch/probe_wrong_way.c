/* Compiled by tests/arch/arch.cmake with exactly the include path of one
 * layer (the target it links), including a header of a layer above it:
 * the build must fail to find that header. RF_PROBE_HEADER names it. */
#include RF_PROBE_HEADER

int rf_arch_probe(void);
int rf_arch_probe(void) { return 0; }
