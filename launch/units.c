/* Human units for sizes. */
#include <stdio.h>

#include "units.h"

const char *rf_human_bytes(uint64_t bytes, char *buf, size_t cap) {
    static const char *const unit[] = {"KB", "MB", "GB", "TB", "PB"};
    if (bytes < 1000) {
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1e3;
    int u = 0;
    while (v >= 999.95 && u < 4) {
        v /= 1e3;
        u++;
    }
    snprintf(buf, cap, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, unit[u]);
    return buf;
}
