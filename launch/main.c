/* refit command entry point: dispatches subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} commands[] = {
    {"run", rf_cmd_run},         {"synth", rf_cmd_synth}, {"plan", rf_cmd_plan},     {"inspect", rf_cmd_inspect},
    {"env", rf_cmd_env},         {"topo", rf_cmd_topo},   {"version", rf_cmd_version},
    {"help-md", rf_cmd_help_md}, /* not listed: prints docs/cli.md's generated tables */
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    int n;
    const rf_cmd_def_t *c = rf_cmd_table(&n);
    fprintf(out, "refit: reload bf16 checkpoints into tensor-parallel fp8 shards, all ranks or none\n\n"
                 "usage: refit <command> [options]   (refit <command> --help for its options)\n\ncommands:\n");
    for (int i = 0; i < n; i++) fprintf(out, "  %-8s %s\n", c[i].name, c[i].doc);
    fprintf(out, "\nexample: mpirun -np 4 refit run --checkpoint A --checkpoint B --tp 2 --dump out/\n"
                 "reference: docs/cli.md\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) return rf_cmd_version(argc - 2, argv + 2);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "refit: unknown command '%s'\nsee 'refit --help'\n", argv[1]);
    return 2;
}
