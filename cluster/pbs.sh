#!/bin/bash
# PBS/Torque batch template: one scaleout run over the whole allocation.
# Submit with: qsub -F "pi --samples 1e11" cluster/pbs.sh   (arguments: the job and its parameters)
#PBS -N scaleout
#PBS -l select=2:ncpus=32:mpiprocs=32
#PBS -l walltime=00:30:00
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"
# Open MPI reads the PBS node file itself when built with tm support; otherwise pass it.
ranks=$(wc -l < "${PBS_NODEFILE}")
exec mpirun -n "$ranks" --hostfile "${PBS_NODEFILE}" build/scaleout run "${@:-pi}" \
  --json "scaleout-${PBS_JOBID:-local}.json"
