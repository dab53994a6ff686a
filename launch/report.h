/* Run figures: every rank's refit_load_stats of every load, gathered on
 * rank 0, printed as the closing table and written as the JSON report. */
#ifndef RF_REPORT_H
#define RF_REPORT_H

#include <stdio.h>

#include "floor.h"
#include "refit.h"

#define RF_REPORT_SCHEMA "refit-report"
#define RF_REPORT_SCHEMA_VERSION 2

typedef struct {
    int world, tp;
    const char *scheme, *backend;
    int n_loads, cap;
    const char **checkpoint;  /* [n_loads] */
    refit_load_stats *stats;  /* [n_loads * world] (rank 0 only) */
    rf_floor_t floor;         /* what each phase is held against (floor.h) */
} rf_report_t;

void rf_report_init(rf_report_t *r, int world, int tp, const char *scheme, const char *backend);
/* Collective: gathers this rank's stats of the load just made. */
refit_status rf_report_add(rf_report_t *r, const char *checkpoint, const refit_load_stats *mine);
void rf_report_free(rf_report_t *r);
/* Rank 0: the slowest rank's total seconds of load `load` (the one total printed). */
double rf_report_total(const rf_report_t *r, int load);
/* Rank 0: per generation each phase's time and the total; then per phase of
 * the first and last load: time, bytes, GB/s, floor and achieved/floor. */
void rf_report_print_table(const rf_report_t *r, FILE *out);
refit_status rf_report_write_json(const rf_report_t *r, const char *path);

/* Every field of the JSON report and its meaning (docs/cli.md). */
typedef struct {
    const char *field, *meaning;
} rf_report_field_t;
const rf_report_field_t *rf_report_fields(int *count);

#endif
