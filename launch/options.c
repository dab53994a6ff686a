/* The settings table and its parser. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "rf_settings.h"

#define RUN RF_CMD_RUN
#define SYN RF_CMD_SYNTH
#define PLN RF_CMD_PLAN

static const rf_opt_def_t table[] = {
    {"checkpoint", "DIR", NULL, RUN | PLN, true,
     "checkpoint directory; repeat: the first is generation 0, each next one a reload "
     "(run without any: the embedded default model)"},
    {"reloads", "K", "0", RUN, false, "reload the last checkpoint K more times"},
    {"tp", "N", NULL, RUN | PLN, false, "tensor-parallel size (default: world size; plan: 1)"},
    {"quant", "SCHEME", "fp8-tensor", RUN | PLN, false, "fp8-tensor | fp8-row | fp8-block | none"},
    {"moe", "MODE", "tp", RUN | PLN, false,
     "MoE models: tp (every rank holds every expert, cut on the intermediate dim) | ep (each rank "
     "holds whole experts; attention and dense layers stay tensor-parallel)"},
    {"backend", "NAME", "auto", RUN, false, "auto | host | cuda (auto: cuda when a GPU is usable)"},
    {"commit", "MODE", "shadow", RUN, false,
     "shadow (all-or-nothing) | inplace (no shadow copy; a failure marks the model invalid)"},
    {"transfer", "MODE", "scatter", RUN, false,
     "cuda data plane: scatter (each rank receives only its slices) | bcast (every rank receives all)"},
    {"bucket-mb", "MB", "32", RUN, false, "staging bucket size in MiB (the MIN over ranks is used)"},
    {"dump", "DIR", NULL, RUN, false,
     "after the run, each rank writes DIR/rank-RRRRR-of-NNNNN.safetensors (last committed generation)"},
    {"report", "FILE", NULL, RUN, false, "write per rank, generation and phase times and bytes as JSON"},
    {"timeout", "SECONDS", "60", RUN, false,
     "a load still running after SECONDS (a rank hung or died) ends the job with exit 124, "
     "each rank's phase on stderr and --dump written by the surviving ranks"},
    {"bind", "MODE", "auto", RUN | RF_CMD_TOPO, false,
     "auto (each rank on the CPUs nearest its GPU; without one, a NUMA node) | none (as launched)"},
    {"out", "DIR", NULL, SYN, false, "directory to write the checkpoint into"},
    {"preset", "NAME", "tiny", SYN, false, "model shape to synthesize (see refit synth --help)"},
    {"seed", "N", "1", SYN, false, "random seed of the weights"},
    {"files", "N", NULL, SYN, false, "number of safetensors files (default: the preset's)"},
};
#define N_OPTS ((int)(sizeof table / sizeof table[0]))

const rf_opt_def_t *rf_opt_table(int *count) {
    *count = N_OPTS;
    return table;
}

static int find(const char *name, size_t len) {
    for (int i = 0; i < N_OPTS; i++)
        if (strlen(table[i].name) == len && !strncmp(table[i].name, name, len)) return i;
    return -1;
}

static void env_name(const char *name, char *out, size_t cap) {
    size_t o = (size_t)snprintf(out, cap, "REFIT_");
    for (const char *p = name; *p && o + 1 < cap; p++) out[o++] = *p == '-' ? '_' : (char)(*p - ('a' <= *p && *p <= 'z' ? 32 : 0));
    out[o] = '\0';
}

static void apply_env(rf_opts_t *o) {
    char var[64];
    for (int i = 0; i < N_OPTS; i++) {
        if (!(table[i].cmds & o->cmd)) continue;
        env_name(table[i].name, var, sizeof var);
        const char *v = getenv(var);
        if (v && *v) {
            if (table[i].repeat && o->n_list < RF_OPT_MAX_LIST) o->list[o->n_list++] = v;
            else o->val[i] = v;
        }
    }
}

refit_status rf_opts_parse(unsigned cmd, int argc, char **argv, rf_opts_t *o, bool *want_help) {
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    *want_help = false;
    apply_env(o);
    bool env_list = o->n_list > 0;
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            *want_help = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (o->n_positional >= 8) return rf_error(REFIT_ERR_INVALID_ARG, "too many arguments at '%s'", arg);
            o->positional[o->n_positional++] = arg;
            continue;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        int i = find(name, eq ? (size_t)(eq - name) : strlen(name));
        if (i < 0 || !(table[i].cmds & cmd))
            return rf_error(REFIT_ERR_INVALID_ARG, "unknown option '%s' (see --help)", arg);
        const char *val = eq ? eq + 1 : NULL;
        if (table[i].metavar && !val) {
            if (a + 1 >= argc) return rf_error(REFIT_ERR_INVALID_ARG, "option --%s needs a value %s", table[i].name, table[i].metavar);
            val = argv[++a];
        }
        if (!table[i].metavar) val = "1";
        if (table[i].repeat) {
            if (env_list) { /* flags replace a list from the environment */
                o->n_list = 0;
                env_list = false;
            }
            if (o->n_list >= RF_OPT_MAX_LIST)
                return rf_error(REFIT_ERR_INVALID_ARG, "--%s given more than %d times", table[i].name, RF_OPT_MAX_LIST);
            o->list[o->n_list++] = val;
        } else {
            o->val[i] = val;
        }
    }
    return REFIT_OK;
}

const char *rf_opt_str(const rf_opts_t *o, const char *name) {
    int i = find(name, strlen(name));
    if (i < 0) return NULL;
    return o->val[i] ? o->val[i] : table[i].def;
}

refit_status rf_opt_int(const rf_opts_t *o, const char *name, long lo, long hi, long *out) {
    const char *s = rf_opt_str(o, name);
    if (!s) return rf_error(REFIT_ERR_INVALID_ARG, "option --%s is not set", name);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return rf_error(REFIT_ERR_INVALID_ARG, "option --%s: '%s' is not an integer in [%ld, %ld]", name, s, lo, hi);
    *out = v;
    return REFIT_OK;
}

refit_status rf_opt_double(const rf_opts_t *o, const char *name, double lo, double hi, double *out) {
    const char *s = rf_opt_str(o, name);
    if (!s) return rf_error(REFIT_ERR_INVALID_ARG, "option --%s is not set", name);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return rf_error(REFIT_ERR_INVALID_ARG, "option --%s: '%s' is not a number in [%g, %g]", name, s, lo, hi);
    *out = v;
    return REFIT_OK;
}

bool rf_opt_flag(const rf_opts_t *o, const char *name) {
    const char *s = rf_opt_str(o, name);
    return s && strcmp(s, "0") != 0;
}

void rf_opts_help(unsigned cmd, FILE *out) {
    char var[64], left[64];
    fprintf(out, "options (each also read from its REFIT_* variable; flags win):\n");
    for (int i = 0; i < N_OPTS; i++) {
        if (!(table[i].cmds & cmd)) continue;
        env_name(table[i].name, var, sizeof var);
        snprintf(left, sizeof left, "--%s%s%s", table[i].name, table[i].metavar ? " " : "",
                 table[i].metavar ? table[i].metavar : "");
        fprintf(out, "  %-22s %s", left, table[i].doc);
        if (table[i].def) fprintf(out, " [default: %s]", table[i].def);
        fprintf(out, " (%s)\n", var);
    }
    fprintf(out, "  %-22s %s\n", "--help", "show this help");
}

void rf_opts_print_env(FILE *out) {
    char var[64];
    fprintf(out, "%-20s %-12s %-12s %s\n", "variable", "value", "default", "meaning");
    for (int i = 0; i < N_OPTS; i++) {
        env_name(table[i].name, var, sizeof var);
        const char *v = getenv(var);
        fprintf(out, "%-20s %-12s %-12s %s\n", var, v ? v : "-", table[i].def ? table[i].def : "-", table[i].doc);
    }
    rf_settings_print(out); /* the library's own (include/base/rf_settings.h) */
}
