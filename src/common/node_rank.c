/* The node-local rank (node_rank.h). */
#include "common/node_rank.h"

static int g_node_rank = -1;

void lr_node_rank_set(int rank) { g_node_rank = rank; }
int lr_node_rank(void) { return g_node_rank; }
