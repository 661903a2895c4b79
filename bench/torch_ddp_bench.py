"""PyTorch DDP (gloo) beside bench/distributed_bench.cpp's flagship step: the same M5 net, global
batch 64 split over the processes, 8000-sample random clips, SGD momentum 0.9, one thread per
process. Prints training samples/s (median step time).

    /usr/bin/python3 bench/torch_ddp_bench.py --processes 2 --seconds 10
"""
import argparse
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn


def m5():
    layers = []
    for cin, cout, kernel, stride in [(1, 32, 80, 4), (32, 32, 3, 1), (32, 64, 3, 1), (64, 64, 3, 1)]:
        layers += [nn.Conv1d(cin, cout, kernel, stride=stride), nn.BatchNorm1d(cout), nn.ReLU(), nn.MaxPool1d(4)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 10))


def run(rank, world, seconds, result):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29517")
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(m5())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batch = 64 // world
    x, y = torch.randn(batch, 1, 8000), torch.arange(batch) % 10

    def step():
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    for _ in range(3):
        step()
    times, start = [], time.perf_counter()
    while True:
        dist.barrier()
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        more = torch.tensor([int(len(times) < 7 or time.perf_counter() - start < seconds)])
        dist.broadcast(more, 0)
        if not more.item():
            break
    if rank == 0:
        result.put(statistics.median(times))
    dist.destroy_process_group()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(run, args=(args.processes, args.seconds, queue), nprocs=args.processes)
    median = queue.get()
    print(f"PyTorch DDP (gloo), {args.processes} processes x 1 thread, batch {64 // args.processes} per process: "
          f"{median * 1e3:.2f} ms/step, {64 // args.processes * args.processes / median:.1f} samples/s")
