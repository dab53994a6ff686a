/* refit command entry point: dispatches subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *doc;
} commands[] = {
    {"run", rf_cmd_run, "load and reload checkpoints across MPI ranks (under mpirun)"},
    {"synth", rf_cmd_synth, "write a synthetic bf16 checkpoint (config.json + safetensors + index)"},
    {"plan", rf_cmd_plan, "show every tp rank's params, shapes, sources and memory (no MPI)"},
    {"inspect", rf_cmd_inspect, "describe a safetensors file, a checkpoint directory or a saved snapshot"},
    {"env", rf_cmd_env, "list every REFIT_* setting with its value, default and meaning"},
    {"topo", rf_cmd_topo, "show each rank's host, local rank, GPU, bound CPUs and NUMA node (under mpirun)"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fprintf(out, "refit: reload bf16 checkpoints into tensor-parallel fp8 shards, all ranks or none\n\n"
                 "usage: refit <command> [options]   (refit <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].doc);
    fprintf(out, "\nexample: mpirun -np 4 refit run --checkpoint A --checkpoint B --tp 2 --dump out/\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "refit: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
