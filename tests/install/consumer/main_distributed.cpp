// The smallest xgrad::distributed program: init, a collective, a wrapped model.
// Run without mpirun it is a job of one process. Exits non-zero when a result is wrong.
#include <xgrad.hpp>
#include <xgrad_distributed.hpp>

using namespace xgrad;
namespace dist = xgrad::distributed;

int main(int argc, char** argv) {
  dist::init(argc, argv);
  Tensor t = ones({3});
  dist::all_reduce(t);
  auto model = std::make_shared<dist::DistributedDataParallel>(std::make_shared<nn::Linear>(3, 1));
  (*model)(t.reshape({1, 3})).sum().backward();
  const bool ok = t.data_ptr<float>()[0] == static_cast<float>(dist::world_size()) &&
                  model->parameters().front().grad().defined() && dist::DistributedSampler(5).size() == 5;
  fmt::print("distributed consumer: {} process(es), {}\n", dist::world_size(), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
