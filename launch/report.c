/* Gathering, printing and saving run figures. */
#include <errno.h>
#include <jansson.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "rf_common.h"

void rf_report_init(rf_report_t *r, int world, int tp, const char *scheme, const char *backend) {
    *r = (rf_report_t){.world = world, .tp = tp, .scheme = scheme, .backend = backend};
}

refit_status rf_report_add(rf_report_t *r, const char *checkpoint, const refit_load_stats *mine) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (r->n_loads == r->cap) {
        int cap = r->cap ? 2 * r->cap : 8;
        refit_load_stats *s = realloc(r->stats, sizeof *s * (size_t)cap * (size_t)r->world);
        const char **c = s ? realloc(r->checkpoint, sizeof *c * (size_t)cap) : NULL;
        if (s) r->stats = s;
        if (!c) return rf_error(REFIT_ERR_NOMEM, "report table");
        r->checkpoint = c;
        r->cap = cap;
    }
    refit_load_stats *slot = r->stats + (size_t)r->n_loads * (size_t)r->world;
    int rc = MPI_Gather(mine, (int)sizeof *mine, MPI_BYTE, slot, (int)sizeof *mine, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return rf_error(REFIT_ERR_COMM, "gathering run figures failed");
    if (rank != 0) memcpy(slot, mine, sizeof *mine); /* others keep their own */
    r->checkpoint[r->n_loads++] = checkpoint;
    return REFIT_OK;
}

void rf_report_free(rf_report_t *r) {
    free(r->stats);
    free(r->checkpoint);
}

/* slowest()'s pseudo-phases besides -1 (total): refit_stage's part and the commit's pause */
enum { RF_REPORT_STAGE = -2, RF_REPORT_PAUSE = -3 };

static double slowest(const rf_report_t *r, int load, int phase, uint64_t *bytes) {
    double t = 0;
    *bytes = 0;
    for (int k = 0; k < r->world; k++) {
        const refit_load_stats *s = &r->stats[(size_t)load * (size_t)r->world + (size_t)k];
        double v = phase == RF_REPORT_STAGE ? s->stage_seconds
                   : phase == RF_REPORT_PAUSE ? s->pause_seconds
                   : phase < 0               ? s->total_seconds
                                             : s->seconds[phase];
        if (v > t) t = v;
        uint64_t b = phase < 0 ? 0 : s->bytes[phase];
        if (b > *bytes) *bytes = b;
    }
    return t;
}

void rf_report_print_table(const rf_report_t *r, FILE *out) {
    fprintf(out, "\n%-4s %-7s", "gen", "status");
    for (int p = 0; p < REFIT_PHASE_COUNT; p++) fprintf(out, " %10s", refit_phase_name((refit_phase)p));
    fprintf(out, " %10s %10s %10s %10s\n", "total", "stage", "pause", "xfer GB/s");
    for (int l = 0; l < r->n_loads; l++) {
        const refit_load_stats *s0 = &r->stats[(size_t)l * (size_t)r->world];
        fprintf(out, "%-4lld %-7s", (long long)s0->generation, s0->status == REFIT_OK ? "ok" : "FAILED");
        uint64_t b, xb = 0;
        for (int p = 0; p < REFIT_PHASE_COUNT; p++) fprintf(out, " %8.1fms", 1e3 * slowest(r, l, p, &b));
        double xt = slowest(r, l, REFIT_PHASE_TRANSFER, &xb);
        double tot = slowest(r, l, -1, &b);
        fprintf(out, " %8.1fms %8.1fms %8.2fms %10.2f\n", 1e3 * tot, 1e3 * slowest(r, l, RF_REPORT_STAGE, &b),
                1e3 * slowest(r, l, RF_REPORT_PAUSE, &b), xt > 0 ? (double)xb / xt / 1e9 : 0.0);
    }
    fprintf(out, "(slowest rank per phase; xfer GB/s = the busiest rank's bytes / its transfer time)\n");
    if (r->floor.measured)
        fprintf(out, "(floor: MPI_Bcast of one %.1f MiB bucket over a slice group of %d ranks %.2f GB/s; "
                     "memcpy %.2f GB/s)\n",
                (double)r->floor.probe_bytes / (1 << 20), r->floor.group_size, r->floor.bcast_gbps,
                r->floor.memcpy_gbps);
}

/* One phase: time, bytes, achieved GB/s and the floor it is held against. */
static json_t *phase_json(const rf_floor_t *f, int p, double sec, uint64_t bytes) {
    double gbps = sec > 0 ? (double)bytes / sec / 1e9 : 0.0, fl = f->gbps[p];
    double floor_ms = fl > 0 ? (double)bytes / (fl * 1e9) * 1e3 : 0.0;
    return json_pack("{s:f, s:I, s:f, s:s, s:f, s:f, s:f}", "ms", sec * 1e3, "bytes", (json_int_t)bytes, "gbps", gbps,
                     "floor_kind", f->kind[p] ? f->kind[p] : "unmeasured", "floor_gbps", fl, "floor_ms", floor_ms,
                     "achieved_over_floor", fl > 0 && sec > 0 ? floor_ms / (sec * 1e3) : 0.0);
}

static json_t *rank_json(const rf_floor_t *f, const refit_load_stats *s, int rank) {
    json_t *phases = json_object();
    for (int p = 0; p < REFIT_PHASE_COUNT; p++)
        json_object_set_new(phases, refit_phase_name((refit_phase)p), phase_json(f, p, s->seconds[p], s->bytes[p]));
    return json_pack("{s:i, s:s, s:o, s:f, s:f, s:f, s:I}", "rank", rank, "status", refit_status_str(s->status),
                     "phases", phases, "total_ms", s->total_seconds * 1e3, "stage_ms", s->stage_seconds * 1e3,
                     "pause_ms", s->pause_seconds * 1e3, "peak_model_bytes", (json_int_t)s->peak_model_bytes);
}

refit_status rf_report_write_json(const rf_report_t *r, const char *path) {
    json_t *loads = json_array();
    for (int l = 0; l < r->n_loads; l++) {
        const refit_load_stats *row = &r->stats[(size_t)l * (size_t)r->world];
        json_t *ranks = json_array();
        for (int k = 0; k < r->world; k++) json_array_append_new(ranks, rank_json(&r->floor, &row[k], k));
        json_array_append_new(loads, json_pack("{s:I, s:s, s:s, s:o}", "generation", (json_int_t)row[0].generation,
                                               "checkpoint", r->checkpoint[l], "status",
                                               refit_status_str(row[0].status), "ranks", ranks));
    }
    json_t *floor = json_pack("{s:b, s:I, s:i, s:f, s:f, s:s}", "measured", r->floor.measured, "probe_bytes",
                              (json_int_t)r->floor.probe_bytes, "group_size", r->floor.group_size, "bcast_gbps",
                              r->floor.bcast_gbps, "memcpy_gbps", r->floor.memcpy_gbps, "method",
                              "bcast: best of 5 MPI_Bcast of probe_bytes from rank 0 over one slice group "
                              "(rank 0 + the ranks of tp rank 1, or of 0 when tp is 1), its slowest member's time; "
                              "memcpy: best of 5 single-thread memcpy of probe_bytes; floor_ms = bytes / floor_gbps "
                              "(bandwidth only: latency is not in the floor); achieved_over_floor = floor_ms / ms");
    json_t *root = json_pack("{s:i, s:i, s:s, s:s, s:o, s:o}", "world_size", r->world, "tp", r->tp, "scheme",
                             r->scheme, "backend", r->backend, "floor", floor, "loads", loads);
    int rc = json_dump_file(root, path, JSON_INDENT(1));
    json_decref(root);
    if (rc != 0) return rf_error(REFIT_ERR_IO, "%s: cannot write report: %s", path, strerror(errno));
    return REFIT_OK;
}
