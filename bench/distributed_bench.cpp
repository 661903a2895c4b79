// Data-parallel benchmarks; run under mpirun (every rank runs the same program):
//   mpirun -np 2 build-bench/bench/xgrad_distributed_bench [seconds per measurement, default 2] [--flagship]
// scripts/bench_distributed.sh runs it at 1 and 2 processes beside PyTorch DDP and prints the table.
// --flagship: only the flagship step, as one line "flagship_samples_per_s <value>" (for the script).
// XGRAD_NUM_THREADS sets the threads per process (default 1).
//
// Part "all_reduce": one 25 MiB float32 bucket (DistributedDataParallel's default bucket_cap_mb),
// summed over the ranks by xgrad::distributed::all_reduce (its shape/dtype check, then
// MPI_Allreduce), by all_reduce_async + wait (MPI_Iallreduce), and by a bare MPI_Allreduce of the
// same buffer; the three alternate call by call, each cell is the median.
//
// Part "overlap": the flagship M5 net and a wide MLP (8 x Linear(1024, 1024), 32 MiB of gradients:
// two 25 MiB buckets), batch 64 split over the ranks, per training step: with
// DistributedDataParallel, the same step without communication (under no_sync), and an all-reduce
// of as many values as the gradients hold, alone. Hidden share of the all-reduce:
// 1 - (ddp - local) / all-reduce alone.
#include <mpi.h>

#include <xgrad.hpp>
#include <xgrad_distributed.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

using namespace xgrad;
namespace dist = xgrad::distributed;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times each of `cases` in turn until `seconds` passed (at least 7 rounds); all ranks take the same
// number of rounds (rank 0 decides), since every case is collective.
std::vector<double> alternate(const std::vector<std::function<void()>>& cases, double seconds) {
  std::vector<std::vector<double>> times(cases.size());
  const double start = now();
  for (int round = 0;; ++round) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = now();
      cases[i]();
      times[i].push_back(now() - t0);
    }
    int more = round < 7 || now() - start < seconds;
    MPI_Bcast(&more, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!more) break;
  }
  std::vector<double> medians;
  for (auto& t : times) medians.push_back(median(t));
  return medians;
}

std::shared_ptr<nn::Sequential> m5() {
  auto net = std::make_shared<nn::Sequential>();
  auto block = [&](int64_t in, int64_t out, int64_t kernel, int64_t stride) {
    net->push_back(std::make_shared<nn::Conv1d>(in, out, kernel, nn::Conv1dOptions{.stride = stride}));
    net->push_back(std::make_shared<nn::BatchNorm1d>(out));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::MaxPool1d>(4));
  };
  block(1, 32, 80, 4);
  block(32, 32, 3, 1);
  block(32, 64, 3, 1);
  block(64, 64, 3, 1);
  net->push_back(std::make_shared<nn::AdaptiveAvgPool1d>(1));
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(64, 10));
  return net;
}

// One SGD step (momentum 0.9) of `net` wrapped in DistributedDataParallel, on fixed data.
struct Step {
  std::shared_ptr<dist::DistributedDataParallel> model;
  optim::SGD optimizer;
  Tensor input, labels, gradients;  // gradients: as many values as the parameters, for the all-reduce alone
  Step(std::shared_ptr<nn::Module> net, Tensor x, int64_t batch)
      : model(std::make_shared<dist::DistributedDataParallel>(std::move(net))),
        optimizer(model->parameters(), {.lr = 0.01, .momentum = 0.9}),
        input(std::move(x)),
        labels(empty({batch}, {.dtype = kInt64})) {  // class indices
    for (int64_t i = 0; i < batch; ++i) labels.data_ptr<int64_t>()[i] = i % 10;
    int64_t n = 0;
    for (const Tensor& p : model->parameters()) n += p.numel();
    gradients = zeros({n});
    for (int i = 0; i < 3; ++i) run();  // warm up
  }
  void run() {
    optimizer.zero_grad();
    nn::functional::cross_entropy((*model)(input), labels).backward();
    optimizer.step();
  }
};

}  // namespace

int main(int argc, char** argv) {
  dist::init(argc, argv);
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const bool flagship_only = argc > 2 && std::string(argv[2]) == "--flagship";
  const int rank = dist::rank(), world = dist::world_size();
  if (const char* threads = std::getenv("XGRAD_NUM_THREADS")) {
    set_num_threads(std::atoi(threads));
  } else {
    set_num_threads(1);
  }
  auto report = [&](auto... args) {
    if (rank == 0) std::printf(args...);
  };
  if (!flagship_only) report("%d processes x %d threads\n\n", world, get_num_threads());

  // --- all_reduce of a 25 MiB bucket ---
  std::vector<double> t;
  if (!flagship_only) {
    const int64_t elements = 25 * 1024 * 1024 / 4;
    Tensor bucket = full({elements}, 1.0);
    t = alternate({[&] { dist::all_reduce(bucket); }, [&] { dist::all_reduce_async(bucket).wait(); },
                   [&] {
                     MPI_Allreduce(MPI_IN_PLACE, bucket.data_ptr<float>(), int(elements), MPI_FLOAT, MPI_SUM,
                                   MPI_COMM_WORLD);
                   }},
                  seconds);
    report("all_reduce of a 25 MiB float32 bucket (median ms)\n");
    report("  xgrad all_reduce            %8.2f  (%+.1f%% vs bare)\n", 1e3 * t[0], 100 * (t[0] / t[2] - 1));
    report("  xgrad all_reduce_async+wait %8.2f  (%+.1f%% vs bare)\n", 1e3 * t[1], 100 * (t[1] / t[2] - 1));
    report("  bare MPI_Allreduce          %8.2f\n\n", 1e3 * t[2]);
  }

  // --- the flagship step, and a wide MLP whose gradients fill two buckets ---
  const int64_t batch = std::max<int64_t>(1, 64 / world);
  manual_seed(0);
  Step flagship(m5(), randn({batch, 1, 8000}), batch);
  if (flagship_only) {
    t = alternate({[&] { flagship.run(); }}, seconds);
    report("flagship_samples_per_s %.1f\n", double(batch * world) / t[0]);
    return 0;
  }
  auto wide = std::make_shared<nn::Sequential>();
  for (int i = 0; i < 8; ++i) {
    wide->push_back(std::make_shared<nn::Linear>(1024, 1024));
    wide->push_back(std::make_shared<nn::ReLU>());
  }
  wide->push_back(std::make_shared<nn::Linear>(1024, 10));
  Step mlp(wide, randn({batch, 1024}), batch);
  for (Step* s : {&flagship, &mlp}) {
    t = alternate({[&] { s->run(); },
                   [&] {
                     auto local = s->model->no_sync();
                     s->run();
                   },
                   [&] { dist::all_reduce_async(s->gradients).wait(); }},
                  seconds);
    const double hidden = t[2] > 0 ? 1 - (t[0] - t[1]) / t[2] : 0;
    report("%s step, batch %lld per rank (%lld global), %.1f MiB of gradients\n",
           s == &flagship ? "flagship M5" : "8 x Linear(1024, 1024)", (long long)batch, (long long)(batch * world),
           double(s->gradients.numel()) * 4 / (1 << 20));
    report("  DistributedDataParallel     %8.2f ms  %7.1f samples/s\n", 1e3 * t[0], double(batch * world) / t[0]);
    report("  local (no_sync)             %8.2f ms\n", 1e3 * t[1]);
    report("  gradient all-reduce alone   %8.2f ms\n", 1e3 * t[2]);
    report("  all-reduce hidden behind backward: %.0f%%\n\n", 100 * std::clamp(hidden, 0.0, 1.0));
  }
  return 0;
}
