/* refit command entry point: dispatches subcommands. */
#include <stdio.h>

#include "refit.h"

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("usage: refit <run|synth|plan|inspect|env> [options]\n");
    return 0;
}
