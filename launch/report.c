/* Gathering, printing and saving run figures. */
#include <errno.h>
#include <jansson.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "rf_common.h"
#include "units.h"

static const rf_report_field_t fields[] = {
    {"schema", "\"" RF_REPORT_SCHEMA "\": what this file is"},
    {"schema_version", "version of this layout (2); readers check it"},
    {"refit_version", "refit's version (MAJOR.MINOR.PATCH) that wrote the report"},
    {"world_size, tp, scheme, backend", "the run: ranks, tensor-parallel size, quantization scheme, backend"},
    {"floor", "floors measured at start: measured, probe_bytes, group_size, bcast_gbps, memcpy_gbps (host), "
              "h2d_gbps, nccl_gbps, d2d_gbps (cuda), method; null where not measured"},
    {"loads[]", "one per load: generation, checkpoint, status, ranks[]"},
    {"loads[].ranks[]", "one per rank: rank, status, total_ms, peak_model_bytes, phases"},
    {"phases.PHASE", "PHASE = open, snapshot, restore, transfer, quantize, commit (SPEC §2 R0-R4, B)"},
    {"phases.PHASE.ms, .bytes", "this rank's time and bytes in the phase"},
    {"phases.PHASE.gbps", "bytes / ms in GB/s (1e9); null when the phase moved no bytes"},
    {"phases.PHASE.floor_kind", "what the phase is held against: mpi_bcast, memcpy, pinned_h2d, nccl_bcast, "
                                "device_copy, none (no link), unmeasured"},
    {"phases.PHASE.floor_gbps, .floor_ms", "the floor's bandwidth and bytes / floor_gbps; null when none or unmeasured"},
    {"phases.PHASE.achieved_over_floor", "floor_ms / ms (1 = at the floor); null when there is no floor"},
};

const rf_report_field_t *rf_report_fields(int *count) {
    *count = (int)(sizeof fields / sizeof fields[0]);
    return fields;
}

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

/* The slowest rank's seconds and the busiest rank's bytes of one phase
 * (phase < 0: the total, the stage or the pause), as nccl-tests takes the
 * slowest rank's time. */
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

double rf_report_total(const rf_report_t *r, int load) {
    uint64_t b;
    return slowest(r, load, -1, &b);
}

static void print_loads(const rf_report_t *r, FILE *out) {
    fprintf(out, "\n%5s %-7s", "gen", "status");
    for (int p = 0; p < REFIT_PHASE_COUNT; p++) fprintf(out, " %9s", refit_phase_name((refit_phase)p));
    fprintf(out, " %9s %9s %9s\n", "total", "stage", "pause");
    for (int l = 0; l < r->n_loads; l++) {
        const refit_load_stats *s0 = &r->stats[(size_t)l * (size_t)r->world];
        uint64_t b;
        fprintf(out, "%5lld %-7s", (long long)s0->generation, s0->status == REFIT_OK ? "ok" : "FAILED");
        for (int p = 0; p < REFIT_PHASE_COUNT; p++) fprintf(out, " %9.1f", 1e3 * slowest(r, l, p, &b));
        fprintf(out, " %9.1f %9.1f %9.2f\n", 1e3 * rf_report_total(r, l), 1e3 * slowest(r, l, RF_REPORT_STAGE, &b),
                1e3 * slowest(r, l, RF_REPORT_PAUSE, &b));
    }
    fprintf(out, "(ms, the slowest rank's per phase and in total)\n");
}

/* One load's phases in nccl-tests columns. */
static void print_phases(const rf_report_t *r, int l, FILE *out) {
    const rf_floor_t *f = &r->floor;
    for (int p = 0; p < REFIT_PHASE_COUNT; p++) {
        uint64_t bytes;
        double sec = slowest(r, l, p, &bytes), gbps = sec > 0 && bytes ? (double)bytes / sec / 1e9 : 0;
        char hb[24], g[16] = "-", fl[16] = "-", ratio[16] = "-";
        if (gbps > 0) snprintf(g, sizeof g, "%.2f", gbps);
        if (f->gbps[p] > 0) snprintf(fl, sizeof fl, "%.2f", f->gbps[p]);
        if (f->gbps[p] > 0 && gbps > 0) snprintf(ratio, sizeof ratio, "%.2f", gbps / f->gbps[p]);
        fprintf(out, "%5lld %-9s %10.2f %10s %9s %9s  %-11s %8s\n",
                (long long)r->stats[(size_t)l * (size_t)r->world].generation, refit_phase_name((refit_phase)p),
                1e3 * sec, rf_human_bytes(bytes, hb, sizeof hb), g, fl, f->kind[p] ? f->kind[p] : "unmeasured",
                ratio);
    }
}

void rf_report_print_table(const rf_report_t *r, FILE *out) {
    if (r->n_loads == 0) return;
    print_loads(r, out);
    fprintf(out, "\n%5s %-9s %10s %10s %9s %9s  %-11s %8s\n", "gen", "phase", "time(ms)", "bytes", "GB/s",
            "floor", "floor kind", "ach/floor");
    print_phases(r, 0, out);
    if (r->n_loads > 1) print_phases(r, r->n_loads - 1, out);
    fprintf(out, "(time: slowest rank; bytes: busiest rank; GB/s = bytes / time; floor GB/s measured at start "
                 "with --report (docs/cli.md); ach/floor = GB/s / floor)\n");
}

/* A bandwidth or ratio, or null where nothing was measured. */
static json_t *num_or_null(double v, bool have) { return have ? json_real(v) : json_null(); }

/* One phase: time, bytes, achieved GB/s and the floor it is held against. */
static json_t *phase_json(const rf_floor_t *f, int p, double sec, uint64_t bytes) {
    double fl = f->gbps[p], floor_ms = fl > 0 ? (double)bytes / (fl * 1e9) * 1e3 : 0;
    bool moved = sec > 0 && bytes > 0;
    return json_pack("{s:f, s:I, s:o, s:s, s:o, s:o, s:o}", "ms", sec * 1e3, "bytes", (json_int_t)bytes, "gbps",
                     num_or_null(moved ? (double)bytes / sec / 1e9 : 0, moved), "floor_kind",
                     f->kind[p] ? f->kind[p] : "unmeasured", "floor_gbps", num_or_null(fl, fl > 0), "floor_ms",
                     num_or_null(floor_ms, fl > 0), "achieved_over_floor",
                     num_or_null(moved ? floor_ms / (sec * 1e3) : 0, fl > 0 && moved));
}

static json_t *rank_json(const rf_floor_t *f, const refit_load_stats *s, int rank) {
    json_t *phases = json_object();
    for (int p = 0; p < REFIT_PHASE_COUNT; p++)
        json_object_set_new(phases, refit_phase_name((refit_phase)p), phase_json(f, p, s->seconds[p], s->bytes[p]));
    return json_pack("{s:i, s:s, s:o, s:f, s:f, s:f, s:I}", "rank", rank, "status", refit_status_str(s->status),
                     "phases", phases, "total_ms", s->total_seconds * 1e3, "stage_ms", s->stage_seconds * 1e3,
                     "pause_ms", s->pause_seconds * 1e3, "peak_model_bytes", (json_int_t)s->peak_model_bytes);
}

static json_t *floor_json(const rf_floor_t *f, bool cuda) {
    return json_pack("{s:b, s:I, s:i, s:o, s:o, s:o, s:o, s:o, s:s}", "measured", f->measured, "probe_bytes",
                     (json_int_t)f->probe_bytes, "group_size", f->group_size, "bcast_gbps",
                     num_or_null(f->bcast_gbps, f->bcast_gbps > 0), "memcpy_gbps",
                     num_or_null(f->memcpy_gbps, f->memcpy_gbps > 0), "h2d_gbps",
                     num_or_null(f->h2d_gbps, f->h2d_gbps > 0), "nccl_gbps", num_or_null(f->nccl_gbps, f->nccl_gbps > 0),
                     "d2d_gbps", num_or_null(f->d2d_gbps, f->d2d_gbps > 0), "method",
                     cuda ? "median of 5 on the device the run uses: pinned host->device of probe_bytes on rank 0 "
                            "alone, ncclBroadcast of probe_bytes from rank 0 (algbw, world > 1), device copy "
                            "(read + write); transfer held against the slower of h2d and nccl, quantize and "
                            "commit against d2d; floor_ms = bytes / floor_gbps; achieved_over_floor = floor_ms / ms"
                          : "bcast: best of 5 MPI_Bcast of probe_bytes from rank 0 over one slice group "
                            "(rank 0 + the ranks of tp rank 1, or of 0 when tp is 1), its slowest member's time; "
                            "memcpy: best of 5 single-thread memcpy of probe_bytes; floor_ms = bytes / floor_gbps "
                            "(bandwidth only: latency is not in the floor); achieved_over_floor = floor_ms / ms");
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
    json_t *root = json_pack("{s:s, s:i, s:s, s:i, s:i, s:s, s:s, s:o, s:o}", "schema", RF_REPORT_SCHEMA,
                             "schema_version", RF_REPORT_SCHEMA_VERSION, "refit_version", refit_version(),
                             "world_size", r->world, "tp", r->tp, "scheme", r->scheme, "backend", r->backend, "floor",
                             floor_json(&r->floor, !strcmp(r->backend, "cuda")), "loads", loads);
    int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc != 0) return rf_error(REFIT_ERR_IO, "%s: cannot write report: %s", path, strerror(errno));
    return REFIT_OK;
}
