"""What does the readable GCN layer cost against PyG's GCNConv, in time and memory?

    python bench/graph_layer.py [--seconds 1.5] [--repeats 3] [--threads 1]

One training step of a single graph convolution, forward and backward,
``H' = D̂^{-1/2} Â D̂^{-1/2} H W + b`` with the loss ``mean(H'²)``, for zoo.gnn.GCNLayer
(plain torch: index_add_ over the edge list) and torch_geometric's GCNConv (its
MessagePassing machinery), on the same weights, on two graphs:

* sbm: the default ``data=sbm`` graph (400 nodes, 16 features -> 64), the size the
  zoo trains on;
* random: 10,000 nodes and 100,000 directed edges (50,000 random pairs, both
  directions), 64 -> 64 features.

Prints steps/s for each (the best of ``--repeats`` alternating runs of ``--seconds``
each, as timeit does: noise only ever adds time), ``ref/pyg``, how many times longer
the reference step takes, and the peak memory of one step. Peak memory on the CPU:
the PyTorch profiler (``profile_memory=True``) records every allocation and free of
torch's CPU allocator with the running total of bytes allocated since profiling
began; the peak is the highest running total during the step (activations kept for
backward, gradients and temporaries; not Python objects). One torch thread by
default, as in bench/optimizers.py.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile

# PyG's import calls torch.jit.script, which torch 2.14 marks deprecated: not ours to fix.
warnings.filterwarnings("ignore", message=".*torch.jit.script", category=FutureWarning)
from torch_geometric.nn import GCNConv  # noqa: E402
from torch_geometric.utils import to_undirected  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.data.graphs import sbm  # noqa: E402
from zoo.gnn import GCNLayer  # noqa: E402


def random_graph(n: int, pairs: int, features: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, n, (2, pairs), generator=gen)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    return torch.randn(n, features, generator=gen), torch.cat([edge_index, edge_index.flip(0)], 1)


def step_fn(layer: nn.Module, x: torch.Tensor, edge_index: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        layer.zero_grad(set_to_none=True)  # as an optimizer loop does: fresh .grad each step
        layer(x, edge_index).square().mean().backward()

    return step


def steps_per_second(step: Callable[[], None], seconds: float) -> float:
    for _ in range(3):  # warm up kernels and the allocator
        step()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        count += 1
    return count / elapsed


def peak_bytes(step: Callable[[], None], layer: nn.Module) -> int:
    """Highest total of bytes torch's allocator held during ``step``, above the start."""
    step()  # warm up outside the profile
    layer.zero_grad(set_to_none=True)  # free the gradients now: the profile sees only the step's
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    peak, stack = 0, list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:  # every event of the tree; allocations are leaves under the ops
        event = stack.pop()
        if event.tag == _EventType.Allocation:
            peak = max(peak, event.extra_fields.total_allocated)
        stack.extend(event.children)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs; best of")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={torch.get_num_threads()} torch={torch.__version__}")

    graph = sbm().graph
    graphs = {
        "sbm": (graph.x, graph.edge_index, 64),
        "random": (*random_graph(10_000, 50_000, 64), 64),
    }
    rows = []
    for name, (x, edge_index, out) in graphs.items():
        edge_index = to_undirected(edge_index, num_nodes=x.shape[0])  # sorted, no duplicates
        torch.manual_seed(0)
        ref = GCNLayer(x.shape[1], out)
        pyg = GCNConv(x.shape[1], out)
        pyg.load_state_dict(ref.state_dict())
        diff = (ref(x, edge_index) - pyg(x, edge_index)).abs().max().item()
        layers = {"ref": ref, "pyg": pyg}
        steps = {impl: step_fn(layer, x, edge_index) for impl, layer in layers.items()}
        rates: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(args.repeats):
            for impl, step in steps.items():
                rates[impl].append(steps_per_second(step, args.seconds))
        best = {impl: max(r) for impl, r in rates.items()}
        peak = {impl: peak_bytes(steps[impl], layers[impl]) / 2**20 for impl in steps}
        rows.append(
            f"| {name:<7}| {x.shape[0]:6,} | {edge_index.shape[1]:7,} | {best['ref']:11,.1f} "
            f"| {best['pyg']:11,.1f} | {best['pyg'] / best['ref']:7.2f} | {peak['ref']:12.2f} "
            f"| {peak['pyg']:12.2f} | {diff:8.1e} |"
        )
    # The table last, in one piece: the profiler logs its start and stop on stderr.
    header = (
        "| graph  |  nodes |   edges | ref steps/s | pyg steps/s | ref/pyg "
        "| ref peak MiB | pyg peak MiB | max diff |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
