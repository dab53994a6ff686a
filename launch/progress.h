/* The one-line progress of a load on a terminal: bytes, GB/s and ETA,
 * rewritten in place with \r (refit_set_progress feeds it). Only rank 0
 * draws, and by default only when the output ends on a terminal; piped or
 * redirected output stays quiet. */
#ifndef RF_PROGRESS_H
#define RF_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "refit.h"

typedef struct {
    FILE *out;
    int width; /* characters of the line drawn last (0: none on screen) */
} rf_progress_line_t;

/* Whether rank `rank` draws progress under --progress `mode` (auto|on|off). */
bool rf_progress_wanted(int rank, const char *mode);
/* A refit_progress_fn; user is an rf_progress_line_t. */
void rf_progress_draw(const refit_progress *p, void *user);
/* Wipes the line so the next message starts on a clean one. */
void rf_progress_clear(rf_progress_line_t *l);

#endif
