/* This process's rank among the processes of its node, when MPI knows it
 * (mpi_env_init sets it from MPI_COMM_TYPE_SHARED): the one-GPU-per-rank
 * choice (model/device.c) uses it before the launchers' variables. No MPI
 * here, so code built without MPI (the stand-alone GPU check) links it. */
#ifndef LR_NODE_RANK_H
#define LR_NODE_RANK_H

void lr_node_rank_set(int rank);
/* The rank set by lr_node_rank_set, or -1 when none was. */
int lr_node_rank(void);

#endif
