#!/usr/bin/env bash
# Plain Open MPI over the emulated cluster soemu (fixture emu): mpirun on the first node with the
# cluster's hostfile starts one rank per node with --map-by node, each on its own host name, and
# the ranks of an MPI program talk across the nodes (a ring of 1 MB messages over TCP, and an
# allgather of host names) and on one node (two ranks on soemu-n1).
#
# Usage: emu_mpirun.sh       (ctest runs it as cluster.emu_mpirun.np3)
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=emu_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/emu_env.sh"

hostfile=$SO_EMU_DIR/hostfile
run hostname 120 "$emu/exec" "$cluster-n1" mpirun -np 3 --map-by node --hostfile "$hostfile" hostname
expect "mpirun -np 3 --map-by node hostname: exit status" "$rc" 0
expect "host names, one rank per node" "$(sort "$tmp/hostname.out" | paste -sd' ')" \
  "$cluster-n1 $cluster-n2 $cluster-n3"

# An MPI program: every rank sends 1 MB around a ring and checks what it got, then rank 0 prints
# the host names of all ranks.
cat >"$tmp/ring.c" <<'C'
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  enum { n = 1 << 20 };
  int rank, size, bad = 0;
  char host[64] = {0}, *all, *out = malloc(n), *in = malloc(n);
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  gethostname(host, sizeof host - 1);
  memset(out, 'a' + rank, n);
  MPI_Sendrecv(out, n, MPI_CHAR, (rank + 1) % size, 0, in, n, MPI_CHAR, (rank + size - 1) % size,
               0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  for (int i = 0; i < n; i++)
    bad += in[i] != 'a' + (rank + size - 1) % size;
  MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  all = malloc(64 * (size_t)size);
  MPI_Gather(host, 64, MPI_CHAR, all, 64, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    printf("bad bytes %d\n", bad);
    for (int r = 0; r < size; r++)
      printf("rank %d %s\n", r, all + 64 * r);
  }
  MPI_Finalize();
  return bad != 0;
}
C
run mpicc 120 mpicc -o "$tmp/ring" "$tmp/ring.c"
expect "mpicc ring.c" "$rc" 0
run ring 120 "$emu/exec" "$cluster-n1" mpirun -np 4 --map-by node --hostfile "$hostfile" "$tmp/ring"
expect "ring over 4 ranks on 3 nodes: exit status" "$rc" 0
expect "ring: bytes received wrong" "$(sed -n 's/^bad bytes //p' "$tmp/ring.out")" 0
expect "ring: ranks' host names" "$(grep '^rank' "$tmp/ring.out" | cut -d' ' -f3 | paste -sd' ')" \
  "$cluster-n1 $cluster-n2 $cluster-n3 $cluster-n1"

finish
