/* REFIT_FAULT parsing and the fault point (see fault.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "rf_settings.h"

#define SYNTAX "expected RANK:PHASE:KIND[:GEN] with PHASE open|snapshot|restore|transfer|quantize|commit, " \
               "KIND error|crash|hang|pause (or nomem with restore, corrupt with transfer), GEN >= 0 (default 1)"

const char *rf_fault_kind_name(rf_fault_kind_t k) {
    static const char *const names[] = {"none", "error", "crash", "hang", "nomem", "pause", "corrupt"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

static bool parse_i64(const char *s, size_t len, int64_t lo, int64_t *out) {
    char buf[24];
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || buf[0] == '+' || buf[0] == ' ' || v < lo) return false;
    *out = v;
    return true;
}

static int find_name(const char *s, size_t len, const char *(*name)(int), int n) {
    for (int i = 0; i < n; i++)
        if (strlen(name(i)) == len && !strncmp(name(i), s, len)) return i;
    return -1;
}

static const char *phase_name(int i) { return refit_phase_name((refit_phase)i); }
static const char *kind_name(int i) { return rf_fault_kind_name((rf_fault_kind_t)(i + 1)); }

refit_status rf_fault_parse(const char *spec, rf_fault_t *out) {
    rf_fault_t f = {.kind = RF_FAULT_NONE, .generation = 1};
    if (!spec || !*spec) {
        *out = f;
        return REFIT_OK;
    }
    const char *field[5];
    size_t len[5];
    int n = 0;
    for (const char *p = spec; n < 5; n++) {
        const char *colon = strchr(p, ':');
        field[n] = p;
        len[n] = colon ? (size_t)(colon - p) : strlen(p);
        if (!colon) {
            n++;
            break;
        }
        p = colon + 1;
    }
    int64_t rank = -1;
    int ph = -1, kind = -1;
    bool ok = (n == 3 || n == 4) && strlen(spec) < sizeof f.spec && parse_i64(field[0], len[0], 0, &rank) &&
              rank <= (1 << 24);
    if (ok) ph = find_name(field[1], len[1], phase_name, REFIT_PHASE_COUNT);
    if (ok) kind = find_name(field[2], len[2], kind_name, RF_FAULT_CORRUPT);
    ok = ok && ph >= 0 && kind >= 0 && (n == 3 || parse_i64(field[3], len[3], 0, &f.generation));
    ok = ok && (kind + 1 != RF_FAULT_NOMEM || ph == REFIT_PHASE_RESTORE); /* R2 is where refit allocates */
    ok = ok && (kind + 1 != RF_FAULT_CORRUPT || ph == REFIT_PHASE_TRANSFER); /* R3 is where slices land */
    if (!ok) return rf_error(REFIT_ERR_INVALID_ARG, "REFIT_FAULT='%s': %s", spec, SYNTAX);
    f.rank = (int)rank;
    f.phase = (refit_phase)ph;
    f.kind = (rf_fault_kind_t)(kind + 1);
    snprintf(f.spec, sizeof f.spec, "%s", spec);
    *out = f;
    return REFIT_OK;
}

refit_status rf_fault_from_env(int world, rf_fault_t *out) {
    rf_fault_t f;
    const char *spec = "";
    RF_CHECK(rf_setting_str(RF_SET_FAULT, &spec));
    RF_CHECK(rf_fault_parse(spec, &f));
    if (f.kind != RF_FAULT_NONE && f.rank >= world)
        return rf_error(REFIT_ERR_INVALID_ARG, "REFIT_FAULT='%s': rank %d out of range (world size %d)", f.spec,
                        f.rank, world);
    if (f.kind == RF_FAULT_PAUSE) {
        const char *resume = "";
        RF_CHECK(rf_setting_str(RF_SET_FAULT_RESUME, &resume));
        if (!*resume || strlen(resume) >= sizeof f.resume)
            return rf_error(REFIT_ERR_INVALID_ARG, "REFIT_FAULT='%s': pause needs REFIT_FAULT_RESUME=FILE "
                            "(the rank goes on once FILE exists)", f.spec);
        snprintf(f.resume, sizeof f.resume, "%s", resume);
    }
    if (f.kind != RF_FAULT_NONE)
        RF_WARN("fault", "fault injection armed: REFIT_FAULT=%s", f.spec);
    *out = f;
    return REFIT_OK;
}

/* One line on stderr before the process stops, with a wall-clock stamp so a
 * test can measure the time from the fault to the job's exit. */
static void announce(const rf_fault_t *f, const char *what) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(stderr, "refit: rank %d: injected fault: %s in phase %s of generation %lld%s%s (REFIT_FAULT=%s) at %.3f\n",
            f->rank, rf_fault_kind_name(f->kind), refit_phase_name(f->phase), (long long)f->generation,
            what ? " at " : "", what ? what : "", f->spec, (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
    fflush(stderr);
}

refit_status rf_fault_point(rf_fault_t *f, int rank, refit_phase ph, int64_t gen, const char *what) {
    if (f->kind == RF_FAULT_NONE || f->kind == RF_FAULT_NOMEM || f->kind == RF_FAULT_CORRUPT || f->fired ||
        f->rank != rank || f->phase != ph ||
        f->generation != gen)
        return REFIT_OK;
    f->fired = true;
    announce(f, what);
    switch (f->kind) {
    case RF_FAULT_CRASH:
        abort();
    case RF_FAULT_HANG:
        for (;;) pause(); /* the watchdog thread still runs: it ends the job */
    case RF_FAULT_PAUSE: /* a test changes something while this rank waits, then lets it go on */
        while (access(f->resume, F_OK) != 0) nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        return REFIT_OK;
    default:
        return rf_error(REFIT_ERR_INTERNAL, "injected fault: error in phase %s of generation %lld%s%s (REFIT_FAULT=%s)",
                        refit_phase_name(ph), (long long)gen, what ? " at " : "", what ? what : "", f->spec);
    }
}

refit_status rf_fault_alloc_point(rf_fault_t *f, int rank, int64_t gen, const char *what) {
    if (f->kind != RF_FAULT_NOMEM || f->fired || f->rank != rank || f->generation != gen) return REFIT_OK;
    f->fired = true;
    announce(f, what);
    return rf_error(REFIT_ERR_NOMEM, "injected fault: nomem in phase restore of generation %lld%s%s (REFIT_FAULT=%s)",
                    (long long)gen, what ? " at " : "", what ? what : "", f->spec);
}

bool rf_fault_corrupt_point(rf_fault_t *f, int rank, int64_t gen, const char *what) {
    if (f->kind != RF_FAULT_CORRUPT || f->fired || f->rank != rank || f->generation != gen) return false;
    f->fired = true;
    announce(f, what);
    return true;
}
