# Cluster tests: refit across hosts and under a scheduler, on this machine.
#  - cluster_fake_nodes: two-level slice groups via REFIT_NODE_ID (always runs);
#  - cluster_multihost: 2-3 network-namespace hosts, Open MPI over TCP
#    (skips with 77 and the reason where namespaces cannot be made);
#  - cluster_slurm: a one-node Slurm (munge, slurmctld, slurmd) started from
#    Debian's packages, the sbatch template submitted (skips likewise).
set(RF_CLUSTER_ENV "${RF_MPI_ENV};RF_MPIEXEC=${RF_MPIEXEC};PYTHON=${Python3_EXECUTABLE}")
foreach(t fake_nodes multihost slurm topo scaling)
  add_test(NAME cluster_${t} COMMAND bash ${RF_TEST_DIR}/cluster/check_${t}.sh ${RF_REFIT_EXE})
  set_tests_properties(cluster_${t} PROPERTIES LABELS "mpi;cluster" TIMEOUT 600 SKIP_RETURN_CODE 77
                       ENVIRONMENT "${RF_CLUSTER_ENV}")
endforeach()
