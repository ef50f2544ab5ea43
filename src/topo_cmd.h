/* The `scaleout topo` subcommand: show the machine as hwloc sees it and a binding plan for it. */
#ifndef SO_TOPO_CMD_H
#define SO_TOPO_CMD_H

#include <stdio.h>

/*
 * Runs `scaleout topo [-n|--workers N] [--bind POLICY] [--synthetic DESC] [--cpuset LIST] [--help]`.
 * argv holds only the arguments after "topo": argv[0] is the first of them, not a program name
 * (argc may be 0). The report goes to out; errors go to stderr as one "scaleout: error: " line.
 * Not collective (no MPI is used). Returns the process exit status: 0 on success and for --help,
 * 2 for bad input, 1 when the topology cannot be loaded or the output cannot be written.
 */
int so__topo_main(int argc, char **argv, FILE *out);

#endif
