// Step graphs: the seam's graph_begin / graph_end (backend.h) on the CUDA
// backend. A decode step is ~450 small launches (13 kernels and 3 metadata
// copies per layer), each costing the host a few microseconds (cuBLASLt's
// the most), so a batch-1 step was launch-bound at ~3 ms for ~0.7 ms of
// memory traffic. Recorded once as a CUDA graph, the step is one launch.
//
// How a bracket runs is cuda_graph_plan.h's table: warm up eagerly, then
// capture (relaxed mode, on the backend's stream), then replay. Replaying,
// the ops still run their host side: each writes its metadata into the
// pinned ring at the offset it had when captured (graph_begin starts the
// ring at 0 every time, after a stream sync, so the offsets repeat) and
// adds its arguments and device addresses to the signature, but launches
// nothing; the graph's copy nodes move the new metadata when it runs. A
// signature that differs from the captured one (a workspace regrown, a
// scratch buffer moved, another kernel choice) drops the graph and the
// caller runs the step eagerly. Host outputs (argmax_rows' ids) are copied
// out of their pinned staging after the launch.
#include <stdio.h>
#include <stdlib.h>

#include "model/cuda/cuda_internal.h"


static void destroy_exec(void *exec) {
    if (exec) LR_CUDA_CHECK(cudaGraphExecDestroy((cudaGraphExec_t)exec));
}

// The backend whose stream is capturing now (one capture at a time: each
// bracket captures between its own begin and end, on the calling thread).
static thread_local lr_cuda_ctx *capturing;

static int capture_error(cudaError_t e) {
    switch (e) {
    case cudaErrorStreamCaptureUnsupported:
    case cudaErrorStreamCaptureInvalidated:
    case cudaErrorStreamCaptureMerge:
    case cudaErrorStreamCaptureUnmatched:
    case cudaErrorStreamCaptureUnjoined:
    case cudaErrorStreamCaptureIsolation:
    case cudaErrorStreamCaptureImplicit:
    case cudaErrorStreamCaptureWrongThread:
    case cudaErrorCapturedEvent: return 1;
    default: return 0;
    }
}

// Said once per process: a capture failed, so its steps run without graphs.
static void say_capture_failed(const char *what, const char *file, int line) {
    static int said;
    if (!said++)
        fprintf(stderr,
                "lightreasoner: warning: a CUDA graph capture failed (%s at %s:%d); such steps run without graphs\n",
                what, file, line);
}

static int swallow(const char *what, const char *file, int line) {
    lr_cuda_graphs *g = &capturing->graph;
    g->broken = g->unsupported = 1; // this bracket launches nothing, and its key is never captured again
    say_capture_failed(what, file, line);
    return 1;
}

int lr_cuda_capture_swallow(cudaError_t e, const char *file, int line) {
    if (!capturing || !capture_error(e)) return 0;
    (void)cudaGetLastError(); // not sticky: cleared, so the eager rerun's first check does not see it
    return swallow(cudaGetErrorString(e), file, line);
}

int lr_cuda_capture_swallow_cublas(cublasStatus_t s, const char *file, int line) {
    // cuBLASLt reports a refused capture in its own words; a genuine error recurs in the eager rerun
    return capturing ? swallow(cublasLtGetStatusString(s), file, line) : 0;
}

int lr_cuda_graph_op(lr_cuda_ctx *cx, const uint64_t *v, int n) {
    lr_cuda_graphs *g = &cx->graph;
    for (int i = 0; i < n; i++) g->sig = lr_graph_mix(g->sig, v[i]);
    return g->mode == LR_GRAPH_REPLAY;
}

int lr_cuda_graph_unsupported(lr_cuda_ctx *cx) {
    lr_cuda_graphs *g = &cx->graph;
    if (g->mode == LR_GRAPH_OFF) return 0;
    g->unsupported = 1;
    return g->mode != LR_GRAPH_EAGER;
}

void lr_cuda_graph_break(lr_cuda_ctx *cx) {
    if (cx->graph.mode != LR_GRAPH_OFF) cx->graph.broken = 1;
}

void lr_cuda_graph_host_copy(lr_cuda_ctx *cx, void *dst, const void *src, size_t bytes) {
    lr_cuda_graphs *g = &cx->graph;
    const int cap = (int)(sizeof g->copies / sizeof g->copies[0]);
    if (g->n_copies == cap) lr_die_internal(__FILE__, __LINE__, "more than %d host outputs in one graph step", cap);
    g->copies[g->n_copies].dst = dst;
    g->copies[g->n_copies].src = src;
    g->copies[g->n_copies].bytes = bytes;
    g->n_copies++;
}

void lr_cuda_graph_begin(lr_backend *be, uint64_t key) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    lr_cuda_graphs *g = &cx->graph;
    if (g->mode != LR_GRAPH_OFF) lr_die_internal(__FILE__, __LINE__, "graph_begin inside a graph bracket");
    lr_graph_entry *e = lr_graph_take(&g->table, key, destroy_exec);
    const lr_graph_mode mode = lr_graph_mode_for(e);
    if (mode == LR_GRAPH_CAPTURE) lr_cuda_meta_reserve(cx, e->meta_bytes, e->meta_largest);
    // the ring restarts at 0 so that a replay's ops find the recorded
    // offsets; nothing queued may still read it
    LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    lr_cuda_meta_restart(cx);
    g->cur = e;
    g->sig = lr_graph_mix(0, key);
    g->broken = g->unsupported = 0;
    g->meta_bytes = g->meta_largest = 0;
    g->n_copies = 0;
    g->mode = mode;
    if (mode == LR_GRAPH_CAPTURE) {
        LR_CUDA_CHECK(cudaStreamBeginCapture(cx->stream, cudaStreamCaptureModeRelaxed));
        capturing = cx;
        // test hook (the GPU check): a call no capture allows, as a regression in an op would make one
        if (lr_cuda_env_is("LR_TEST_GRAPH_FAULT", "1")) LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
    }
}

int lr_cuda_graph_end(lr_backend *be) {
    lr_cuda_ctx *cx = lr_cuda_of(be);
    lr_cuda_graphs *g = &cx->graph;
    const lr_graph_mode mode = g->mode;
    lr_graph_entry *e = g->cur;
    if (mode == LR_GRAPH_OFF || !e) lr_die_internal(__FILE__, __LINE__, "graph_end without graph_begin");
    g->mode = LR_GRAPH_OFF;
    g->cur = NULL;
    cudaGraphExec_t launch = NULL;
    int rc = 0;
    if (mode == LR_GRAPH_EAGER) { // the ops ran (argmax_rows copied its ids itself)
        lr_graph_after_eager(e, g->sig, g->meta_bytes, g->meta_largest, g->unsupported);
        g->eager++;
    } else if (mode == LR_GRAPH_CAPTURE) {
        capturing = NULL;
        cudaGraph_t graph = NULL;
        const cudaError_t ce = cudaStreamEndCapture(cx->stream, &graph);
        cudaGraphExec_t exec = NULL;
        if (ce == cudaSuccess && graph && !g->broken && !g->unsupported) {
            LR_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        } else if (ce != cudaSuccess) {
            (void)cudaGetLastError(); // an invalidated capture: the step runs eagerly instead
            say_capture_failed(cudaGetErrorString(ce), __FILE__, __LINE__);
        }
        if (graph) LR_CUDA_CHECK(cudaGraphDestroy(graph));
        lr_graph_after_capture(e, exec, g->sig, g->unsupported || ce != cudaSuccess); // an invalid capture: never again
        if (exec) {
            launch = exec;
            g->captures++;
        } else {
            g->misses++;
            rc = -1;
        }
    } else { // replay
        cudaGraphExec_t exec = (cudaGraphExec_t)e->exec;
        if (lr_graph_replay_ok(e, g->sig, g->broken, g->unsupported)) {
            launch = exec;
            g->replays++;
        } else {
            destroy_exec(exec);
            g->misses++;
            rc = -1;
        }
    }
    if (launch) {
        LR_CUDA_CHECK(cudaGraphLaunch(launch, cx->stream));
        LR_CUDA_CHECK(cudaStreamSynchronize(cx->stream));
        for (int i = 0; i < g->n_copies; i++) memcpy(g->copies[i].dst, g->copies[i].src, g->copies[i].bytes);
    }
    g->n_copies = 0;
    // A bracket that launched nothing left its metadata in the host ring only
    // (a replay stages, a failed capture never ran): the eager rerun must not
    // reuse those offsets as uploads already on the device (the dedup in
    // lr_cuda_meta_upload). Nothing is queued (graph_begin synchronised, the
    // bracket enqueued nothing), so the ring restarts.
    if (rc != 0) lr_cuda_meta_restart(cx);
    return rc;
}

void lr_cuda_graph_free(lr_cuda_ctx *cx) { lr_graph_table_clear(&cx->graph.table, destroy_exec); }

extern "C" int lr_cuda_set_gemv(lr_backend *be, int on) {
    lr_cuda_ctx *cx = (lr_cuda_ctx *)be->ctx;
    const int was = cx->gemv;
    cx->gemv = on != 0;
    return was;
}

extern "C" void lr_cuda_graph_stats(lr_backend *be, long out[4]) {
    const lr_cuda_ctx *cx = (const lr_cuda_ctx *)be->ctx;
    out[0] = cx->graph.eager, out[1] = cx->graph.captures, out[2] = cx->graph.replays, out[3] = cx->graph.misses;
}
