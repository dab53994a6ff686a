/* refit_version(): the library's version, from CMake's project(VERSION)
 * through the generated refit_version.h (lib, issue 9). */
#include "refit.h"

const char *refit_version(void) { return REFIT_VERSION; }
