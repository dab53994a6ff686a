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

static const rf_cmd_def_t commands[] = {
    {RUN, "run", "mpirun -np W refit run [--checkpoint DIR]... [options]",
     "load and reload checkpoints across MPI ranks (under mpirun or srun)", 0},
    {SYN, "synth", "refit synth --out DIR [--preset NAME] [--seed N] [--files N] [--dtype bf16|fp16|fp32] [--force]",
     "write a synthetic checkpoint (config.json + safetensors + index; bf16 unless --dtype)", 0},
    {PLN, "plan", "refit plan --checkpoint DIR [--tp N] [--quant SCHEME] [--moe tp|ep]",
     "show every tp rank's params, shapes, sources and memory (no MPI)", 0},
    {RF_CMD_INSPECT, "inspect", "refit inspect FILE|DIR",
     "describe a safetensors file, a checkpoint directory, a saved snapshot or a --dump directory", 1},
    {RF_CMD_ENV, "env", "refit env", "list every REFIT_* setting with its value, default and meaning", 0},
    {RF_CMD_TOPO, "topo", "mpirun -np W refit topo [--bind auto|none]",
     "show each rank's host, local rank, GPU, bound CPUs and NUMA node (under mpirun)", 0},
    {RF_CMD_VERSION, "version", "refit version  (also: refit --version)", "print refit's version", 0},
};
#define N_CMDS ((int)(sizeof commands / sizeof commands[0]))

static const rf_opt_def_t table[] = {
    {"checkpoint", "DIR", NULL, RUN | PLN, true, NULL,
     "checkpoint directory; repeat: the first is generation 0, each next one a reload "
     "(run without any: the embedded default model)"},
    {"reloads", "K", "0", RUN, false, NULL, "reload the last checkpoint K more times"},
    {"tp", "N", NULL, RUN | PLN, false, NULL, "tensor-parallel size (default: world size; plan: 1)"},
    {"quant", "SCHEME", "fp8-tensor", RUN | PLN, false, "fp8-tensor|fp8-row|fp8-block|none",
     "quantization scheme"},
    {"moe", "MODE", "tp", RUN | PLN, false, "tp|ep",
     "MoE models: tp (every rank holds every expert, cut on the intermediate dim); ep (each rank "
     "holds whole experts; attention and dense layers stay tensor-parallel)"},
    {"backend", "NAME", "auto", RUN, false, "auto|host|cuda", "auto: cuda when every rank has a usable GPU"},
    {"commit", "MODE", "shadow", RUN, false, "shadow|inplace",
     "shadow: all-or-nothing; inplace: no shadow copy, a failure marks the model invalid"},
    {"transfer", "MODE", "scatter", RUN, false, "scatter|bcast",
     "cuda data plane: scatter (each rank receives only its slices) or bcast (every rank receives all)"},
    {"readers", "WHO", "root", RUN, false, "root|all",
     "who reads the checkpoint: root (rank 0 reads every byte and sends each rank its slices) or all (rank 0 "
     "checks the headers, then every rank reads only its own slices from the same path: a shared or replicated "
     "file system; nothing crosses the data plane). Tensors in memory (a trainer's state dict) are a C API "
     "source only (refit_stage_source in refit.h), not the command's"},
    {"bucket-mb", "MB", "32", RUN, false, NULL, "staging bucket size in MiB (the MIN over ranks is used)"},
    {"dump", "DIR", NULL, RUN, false, NULL,
     "after the run, each rank writes DIR/rank-RRRRR-of-NNNNN.safetensors (last committed generation); "
     "checked writable on every rank before the first load"},
    {"report", "FILE", NULL, RUN, false, NULL,
     "write per rank, generation and phase times, bytes and floors as JSON; checked writable before the first load"},
    {"verify", NULL, NULL, RUN, false, NULL,
     "check every reload: each rank's received slices against rank 0's digests, before the vote"},
    {"timeout", "SECONDS", "60", RUN, false, NULL,
     "a load still running after SECONDS (a rank hung or died) ends the job with exit 124, "
     "each rank's phase on stderr and --dump written by the surviving ranks"},
    {"progress", "MODE", "auto", RUN, false, "auto|on|off",
     "rank 0's one-line progress of each load (bytes, GB/s, ETA); auto: on when the launcher's output is a "
     "terminal"},
    {"bind", "MODE", "auto", RUN | RF_CMD_TOPO, false, "auto|none",
     "auto: each rank on the CPUs nearest its GPU (without one, a NUMA node); none: as launched"},
    {"out", "DIR", NULL, SYN, false, NULL, "directory to write the checkpoint into"},
    {"preset", "NAME", "tiny", SYN, false, NULL, "model shape to synthesize (see refit synth --help)"},
    {"seed", "N", "1", SYN, false, NULL, "random seed of the weights"},
    {"files", "N", NULL, SYN, false, NULL, "number of safetensors files (default: the preset's)"},
    {"dtype", "NAME", "bf16", SYN, false, "bf16|fp16|fp32",
     "stored dtype of the tensors (fp16/fp32: the same bf16 values widened, or rounded to fp16; refit converts "
     "them back as SPEC §1 says)"},
    {"force", NULL, NULL, SYN, false, NULL, "write into --out even when it holds files and no checkpoint"},
};
#define N_OPTS ((int)(sizeof table / sizeof table[0]))
_Static_assert(N_OPTS <= RF_OPT_MAX, "rf_opts_t holds RF_OPT_MAX values");

const rf_opt_def_t *rf_opt_table(int *count) {
    *count = N_OPTS;
    return table;
}

const rf_cmd_def_t *rf_cmd_table(int *count) {
    *count = N_CMDS;
    return commands;
}

const rf_cmd_def_t *rf_cmd_find(unsigned bit) {
    for (int i = 0; i < N_CMDS; i++)
        if (commands[i].bit == bit) return &commands[i];
    return &commands[0];
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

static const char *origin(const rf_opts_t *o, int i, char *buf, size_t cap) {
    if (o->from_env[i]) env_name(table[i].name, buf, cap);
    else snprintf(buf, cap, "--%s", table[i].name);
    return buf;
}

const char *rf_opt_origin(const rf_opts_t *o, const char *name, char *buf, size_t cap) {
    int i = find(name, strlen(name));
    if (i < 0) snprintf(buf, cap, "--%s", name);
    else origin(o, i, buf, cap);
    return buf;
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
            o->from_env[i] = true;
        }
    }
}

/* Levenshtein distance of two short words (options are < 32 characters). */
static int distance(const char *a, size_t na, const char *b) {
    size_t nb = strlen(b);
    if (na > 31 || nb > 31) return 99;
    int prev[32], cur[32];
    for (size_t j = 0; j <= nb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]), del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof prev);
    }
    return prev[nb];
}

/* The option of `cmd` nearest to name[0, len), or -1 when none is close
 * (at most 1 edit for short words, 2 for longer ones). */
static int nearest(unsigned cmd, const char *name, size_t len) {
    int best = -1, best_d = len <= 4 ? 2 : 3;
    for (int i = 0; i < N_OPTS; i++) {
        if (!(table[i].cmds & cmd)) continue;
        int d = distance(name, len, table[i].name);
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return best;
}

static refit_status unknown_option(rf_opts_t *o, const char *arg, size_t len) {
    const char *name = arg + 2;
    int i = find(name, len - 2), near = nearest(o->cmd, name, len - 2);
    if (i >= 0) { /* another command's option */
        for (int c = 0; c < N_CMDS; c++)
            if (table[i].cmds & commands[c].bit)
                return rf_error(REFIT_ERR_INVALID_ARG, "option '%.*s' is not taken by refit %s (it is refit %s's)",
                                (int)len, arg, rf_cmd_find(o->cmd)->name, commands[c].name);
    }
    if (near >= 0)
        return rf_error(REFIT_ERR_INVALID_ARG, "unknown option '%.*s' (did you mean --%s?)", (int)len, arg,
                        table[near].name);
    return rf_error(REFIT_ERR_INVALID_ARG, "unknown option '%.*s'", (int)len, arg);
}

/* A word that is not an option: the command's positional, or an error
 * with the likeliest intent ("-tp 2" -> --tp, "refit run g0" -> --checkpoint g0). */
static refit_status stray_word(rf_opts_t *o, const char *arg) {
    const rf_cmd_def_t *c = rf_cmd_find(o->cmd);
    if (arg[0] != '-' && o->n_positional < c->positional) {
        o->positional[o->n_positional++] = arg;
        return REFIT_OK;
    }
    if (arg[0] == '-' && arg[1]) {
        int near = find(arg + 1, strlen(arg + 1));
        if (near < 0 || !(table[near].cmds & o->cmd)) near = nearest(o->cmd, arg + 1, strlen(arg + 1));
        if (near >= 0)
            return rf_error(REFIT_ERR_INVALID_ARG, "unexpected argument '%s' (did you mean --%s?)", arg,
                            table[near].name);
    } else if (o->cmd & (RUN | PLN)) {
        return rf_error(REFIT_ERR_INVALID_ARG, "unexpected argument '%s' (did you mean --checkpoint %s?)", arg, arg);
    } else if (o->cmd & SYN) {
        return rf_error(REFIT_ERR_INVALID_ARG, "unexpected argument '%s' (did you mean --out %s?)", arg, arg);
    }
    return rf_error(REFIT_ERR_INVALID_ARG, "unexpected argument '%s'", arg);
}

/* "a|b|c" holds `v` as one of its words. */
static bool one_of(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

static refit_status check_choices(const rf_opts_t *o) {
    char who[64];
    for (int i = 0; i < N_OPTS; i++) {
        if (!o->val[i] || !table[i].choices || one_of(table[i].choices, o->val[i])) continue;
        char out[200]; /* "a|b" -> "a, b" */
        size_t k = 0;
        for (const char *p = table[i].choices; *p && k + 3 < sizeof out; p++) {
            if (*p == '|') {
                out[k++] = ',';
                out[k++] = ' ';
            } else {
                out[k++] = *p;
            }
        }
        out[k] = '\0';
        return rf_error(REFIT_ERR_INVALID_ARG, "%s: '%s' is not one of %s", origin(o, i, who, sizeof who),
                        o->val[i], out);
    }
    return REFIT_OK;
}

static refit_status take_value(rf_opts_t *o, int i, const char *val, bool *env_list) {
    if (!table[i].repeat) {
        o->val[i] = val;
        o->from_env[i] = false;
        return REFIT_OK;
    }
    if (*env_list) { /* flags replace a list from the environment */
        o->n_list = 0;
        *env_list = false;
        o->from_env[i] = false;
    }
    if (o->n_list >= RF_OPT_MAX_LIST)
        return rf_error(REFIT_ERR_INVALID_ARG, "--%s given more than %d times", table[i].name, RF_OPT_MAX_LIST);
    o->list[o->n_list++] = val;
    return REFIT_OK;
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
        if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
            RF_CHECK(stray_word(o, arg));
            continue;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        int i = find(name, len - 2);
        if (i < 0 || !(table[i].cmds & cmd)) return unknown_option(o, arg, len);
        const char *val = eq ? eq + 1 : NULL;
        if (table[i].metavar && !val) {
            if (a + 1 >= argc) return rf_error(REFIT_ERR_INVALID_ARG, "option --%s needs a value %s", table[i].name, table[i].metavar);
            val = argv[++a];
        }
        if (!table[i].metavar) {
            if (val) return rf_error(REFIT_ERR_INVALID_ARG, "option --%s takes no value", table[i].name);
            val = "1";
        }
        RF_CHECK(take_value(o, i, val, &env_list));
    }
    return *want_help ? REFIT_OK : check_choices(o);
}

static void usage(const rf_cmd_def_t *c, void (*extra_help)(FILE *), FILE *out) {
    fprintf(out, "usage: %s\n\n%s\n", c->usage, c->doc);
    if (extra_help) extra_help(out);
    fputc('\n', out);
    rf_opts_help(c->bit, out);
}

int rf_opts_front(unsigned cmd, int argc, char **argv, rf_opts_t *o, bool quiet, void (*extra_help)(FILE *)) {
    bool help;
    const rf_cmd_def_t *c = rf_cmd_find(cmd);
    refit_status st = rf_opts_parse(cmd, argc, argv, o, &help);
    if (st != REFIT_OK) {
        if (!quiet) {
            fprintf(stderr, "refit %s: %s\n", c->name, rf_err_msg());
            if (!strncmp(rf_err_msg(), "unknown option", 14)) fprintf(stderr, "see 'refit %s --help'\n", c->name);
        }
        return 2;
    }
    if (help) {
        if (!quiet) usage(c, extra_help, stdout);
        return 0;
    }
    return -1;
}

const char *rf_opt_str(const rf_opts_t *o, const char *name) {
    int i = find(name, strlen(name));
    if (i < 0) return NULL;
    return o->val[i] ? o->val[i] : table[i].def;
}

static refit_status bad_value(const rf_opts_t *o, const char *name, const char *s, const char *what, bool range,
                              const char *lo, const char *hi) {
    char who[64];
    rf_opt_origin(o, name, who, sizeof who);
    if (range) return rf_error(REFIT_ERR_INVALID_ARG, "%s: %s is outside [%s, %s]", who, s, lo, hi);
    return rf_error(REFIT_ERR_INVALID_ARG, "%s: '%s' is not %s", who, s, what);
}

refit_status rf_opt_int(const rf_opts_t *o, const char *name, long lo, long hi, long *out) {
    const char *s = rf_opt_str(o, name);
    if (!s) return rf_error(REFIT_ERR_INVALID_ARG, "option --%s is not set", name);
    char *end, l[24], h[24];
    errno = 0;
    long v = strtol(s, &end, 10);
    snprintf(l, sizeof l, "%ld", lo);
    snprintf(h, sizeof h, "%ld", hi);
    if (errno == ERANGE) return bad_value(o, name, s, NULL, true, l, h);
    if (end == s || *end) return bad_value(o, name, s, "an integer", false, NULL, NULL);
    if (v < lo || v > hi) return bad_value(o, name, s, NULL, true, l, h);
    *out = v;
    return REFIT_OK;
}

refit_status rf_opt_double(const rf_opts_t *o, const char *name, double lo, double hi, double *out) {
    const char *s = rf_opt_str(o, name);
    if (!s) return rf_error(REFIT_ERR_INVALID_ARG, "option --%s is not set", name);
    char *end, l[32], h[32];
    errno = 0;
    double v = strtod(s, &end);
    snprintf(l, sizeof l, "%g", lo);
    snprintf(h, sizeof h, "%g", hi);
    if (end == s || *end) return bad_value(o, name, s, "a number", false, NULL, NULL);
    if (errno || !(v >= lo && v <= hi)) return bad_value(o, name, s, NULL, true, l, h);
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
        if (table[i].choices) fprintf(out, " (%s)", table[i].choices);
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
