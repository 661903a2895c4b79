// Sizes: empty batches and zero-size dimensions work where they make sense and are clear errors
// where they cannot; sizes from user integers (kernel, stride, padding, dilation, output_size, pad
// widths, shapes) never overflow and never drive a loop they do not bound: every absurd value is an
// xgrad::Error or, when the arithmetic is representable, the exact answer, computed in time. The
// calls that once hung or crashed run in a child process with a time limit: max_pool1d with a 2^62
// kernel used to hang, with dilation INT64_MAX to return junk, and pad1d "replicate" by 2^40 to
// throw std::bad_alloc.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/creation.hpp"
#include "ops/ops.hpp"
#include "nn/conv1d.hpp"
#include "nn/functional.hpp"
#include "nn/pooling.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/sgd.hpp"
#include "support/isolated_process.hpp"
#include "support/testing.hpp"

#if defined(__SANITIZE_ADDRESS__)
// An allocation that cannot be satisfied must reach xgrad's bad_alloc handling
// (an xgrad::Error) instead of aborting inside ASan's allocator.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
#endif

using namespace xgrad;
using testing::check_misuses;
using testing::contains;
namespace F = nn::functional;

namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t k2to40 = std::int64_t{1} << 40;
constexpr std::int64_t k2to62 = std::int64_t{1} << 62;
constexpr std::int64_t kHuge = k2to62;
constexpr auto kLimit = std::chrono::seconds(20);  // far more than any row needs, even under ASan

struct Refused {
  std::string name;
  std::function<void()> call;
  std::string error;  // the xgrad::Error's message contains this
};

void check_refused(const std::vector<Refused>& rows) {
  for (const Refused& row : rows) {
    INFO("call: ", row.name);
    const std::string message = testing::isolated::child_error(row.call, kLimit);
    CHECK_MESSAGE(contains(message, row.error), message);
  }
}

// Runs `check` in a child: it must return within the limit (it fails with an xgrad::Error
// describing the difference when a result is wrong).
void check_in_child(const std::string& name, const std::function<void()>& check) {
  INFO("call: ", name);
  const testing::isolated::ChildOutcome outcome = testing::isolated::run_in_child(check, kLimit);
  CHECK_MESSAGE(outcome.returned(), outcome.describe());
}

// x: (1, 1, 10) float64, values 0.25 * ((3 i) mod 10) - 1 (distinct; largest at i = 3).
Tensor ramp() {
  Tensor x = empty({1, 1, 10}, {.dtype = kFloat64});
  for (int i = 0; i < 10; ++i) x.data_ptr<double>()[i] = 0.25 * ((3 * i) % 10) - 1;
  return x.requires_grad_();
}

void expect_all(const Tensor& out, std::int64_t length, double value, const char* what) {
  if (out.shape() != Shape{1, 1, length}) fail("{}: shape {}, expected [1, 1, {}]", what, out.shape(), length);
  for (std::int64_t i = 0; i < length; ++i) {
    const double got = out.data_ptr<double>()[i];
    if (std::abs(got - value) > 1e-12 * std::abs(value) + 1e-300) fail("{}: element {} is {}, expected {}", what, i, got, value);
  }
}

}  // namespace

TEST_CASE("pooling with absurd kernel, padding, stride and dilation: an error or the exact answer, in time") {
  const std::string overflow = "does not fit in a 64-bit size";
  check_refused({
      {"max_pool1d(x, INT64_MAX, padding INT64_MAX / 2)", [] { F::max_pool1d(ramp(), kMax, {.padding = kMax / 2}); }, overflow},
      {"avg_pool1d(x, INT64_MAX, padding INT64_MAX / 2)", [] { F::avg_pool1d(ramp(), kMax, {.padding = kMax / 2}); }, overflow},
      {"MaxPool1d(INT64_MAX, padding INT64_MAX / 2)", [] { nn::MaxPool1d(kMax, {.padding = kMax / 2})(ramp()); }, overflow},
      // A dilated window longer than any input (its extent need not even fit in 64 bits): too
      // short, as PyTorch's formula says (PyTorch 1.13 returns 4 or 6 windows of junk here).
      {"max_pool1d(x, 3, dilation INT64_MAX)", [] { F::max_pool1d(ramp(), 3, {.dilation = kMax}); },
       "max_pool1d: input of shape [1, 1, 10] is too short"},
      {"max_pool1d(x, 2^62 + 1, dilation 2)", [] { F::max_pool1d(ramp(), k2to62 + 1, {.dilation = 2}); }, "too short"},
      {"max_pool1d(x, 2, dilation INT64_MAX)", [] { F::max_pool1d(ramp(), 2, {.dilation = kMax}); },
       "max_pool1d: input of shape [1, 1, 10] is too short"},
      {"max_pool1d(x, 2^62, dilation 1)", [] { F::max_pool1d(ramp(), k2to62); }, "too short"},
      {"avg_pool1d(x, 2^62)", [] { F::avg_pool1d(ramp(), k2to62); }, "too short"},
      {"adaptive_avg_pool1d(x, INT64_MAX)", [] { F::adaptive_avg_pool1d(ramp(), kMax); }, "adaptive_avg_pool1d"},
      {"adaptive_avg_pool1d(x, 2^62)", [] { F::adaptive_avg_pool1d(ramp(), k2to62); }, "adaptive_avg_pool1d"},
      {"adaptive_avg_pool1d(x, 2^40 + 1)", [] { F::adaptive_avg_pool1d(ramp(), k2to40 + 1); }, "adaptive_avg_pool1d"},
      {"AdaptiveAvgPool1d(INT64_MAX)", [] { (void)nn::AdaptiveAvgPool1d(kMax)(ramp()); }, "adaptive_avg_pool1d"},
  });

  // A window of 2^40 (half of it padding) covers the whole row at every one of the 11 positions:
  // PyTorch's formula gives L_out = (10 + 2^40 - 2^40) / 1 + 1 = 11. Computed without walking the
  // kernel (PyTorch 1.13 walks it and never returns).
  check_in_child("max_pool1d(x, 2^40, stride 1, padding 2^39)", [] {
    const Tensor x = ramp();
    const Tensor out = F::max_pool1d(x, k2to40, {.stride = 1, .padding = k2to40 / 2});
    expect_all(out, 11, 1.25, "max_pool1d");
    out.sum().backward();  // every window took element 3
    for (int i = 0; i < 10; ++i)
      if (x.grad().data_ptr<double>()[i] != (i == 3 ? 11.0 : 0.0)) fail("max_pool1d: grad[{}] = {}", i, x.grad().data_ptr<double>()[i]);
  });
  check_in_child("max_pool1d(x, 2^40, padding 2^39, dilation 3, stride INT64_MAX, ceil_mode)", [] {
    // extent 3 (2^40 - 1) + 1; span 10 + 2^40 - extent < 0: too short, an error.
    bool refused = false;
    try {
      F::max_pool1d(ramp(), k2to40, {.stride = kMax, .padding = k2to40 / 2, .dilation = 3, .ceil_mode = true});
    } catch (const Error&) {
      refused = true;
    }
    if (!refused) fail("accepted a dilated window longer than the padded input");
  });
  check_in_child("max_pool1d(x, 4, stride INT64_MAX, ceil_mode)", [] {
    // One window (the second would start past the input): max of x[0..3] = 1.25.
    expect_all(F::max_pool1d(ramp(), 4, {.stride = kMax, .ceil_mode = true}), 1, 1.25, "max_pool1d");
  });
  check_in_child("max_pool1d(x, 3, padding 1, dilation 2^61)", [] {
    // extent 2^62 + 1 > 12: too short, an error rather than taps at wrapped positions.
    bool refused = false;
    try {
      F::max_pool1d(ramp(), 3, {.padding = 1, .dilation = k2to62 / 2});
    } catch (const Error&) {
      refused = true;
    }
    if (!refused) fail("accepted a dilated window longer than the padded input");
  });
  check_in_child("max_pool1d(x, 2^40, padding 2^39): the default stride 2^40 leaves one window", [] {
    expect_all(F::max_pool1d(ramp(), k2to40, {.padding = k2to40 / 2}), 1, 1.25, "max_pool1d");
  });
  check_in_child("avg_pool1d(x, 2^40, stride 1, padding 2^39)", [] {
    // Sum of the row = 0.25 * 45 - 10 = 1.25; with the padding counted the divisor is the whole
    // window (2^40, since it ends at L + padding exactly at o = 10 and inside before), without it 10.
    const Tensor x = ramp();
    const Tensor counted = F::avg_pool1d(x, k2to40, {.stride = 1, .padding = k2to40 / 2});
    if (counted.shape() != Shape{1, 1, 11}) fail("avg_pool1d: shape {}", counted.shape());
    for (int o = 0; o < 11; ++o) {
      const double divisor = static_cast<double>(std::min<std::int64_t>(k2to40, 10 + k2to40 / 2 - (o - k2to40 / 2)));
      const double expected = 1.25 / divisor, got = counted.data_ptr<double>()[o];
      if (std::abs(got - expected) > 1e-12 * expected) fail("avg_pool1d: out[{}] = {}, expected {}", o, got, expected);
    }
    expect_all(F::avg_pool1d(x, k2to40, {.stride = 1, .padding = k2to40 / 2, .count_include_pad = false}), 11, 0.125,
               "avg_pool1d");
    counted.sum().backward();
  });
  check_in_child("avg_pool1d(x, 2, stride INT64_MAX, ceil_mode)", [] {
    expect_all(F::avg_pool1d(ramp(), 2, {.stride = kMax, .ceil_mode = true}), 1, (-1.0 + -0.25) / 2, "avg_pool1d");
  });
}

TEST_CASE("pad1d, pad and Conv1d's padding modes with absurd widths: xgrad::Error, never bad_alloc") {
  std::vector<Refused> rows;
  for (const char* mode : {"zeros", "constant", "reflect", "replicate", "circular"}) {
    const std::string m = mode;
    rows.push_back({"pad1d(x, 2^40, 0, " + m + ")", [m] { F::pad1d(ramp(), k2to40, 0, m); }, "pad"});
    rows.push_back({"pad1d(x, 0, 2^40, " + m + ")", [m] { F::pad1d(ramp(), 0, k2to40, m); }, "pad"});
    rows.push_back({"pad1d(x, INT64_MAX, INT64_MAX, " + m + ")", [m] { F::pad1d(ramp(), kMax, kMax, m); }, "pad"});
    if (m != "constant") {
      // Zero padding is the convolution's own; the other modes pad explicitly first (as PyTorch).
      const std::string op = m == "zeros" ? "conv1d" : "pad1d";
      rows.push_back({"Conv1d(padding 2^40, " + m + ")",
                      [m] { nn::Conv1d(1, 1, 3, {.padding = k2to40, .padding_mode = m, .dtype = kFloat64})(ramp()); },
                      op});
      rows.push_back({"Conv1d(padding 2^40, " + m + ") unbatched",
                      [m] { nn::Conv1d(1, 1, 3, {.padding = k2to40, .padding_mode = m, .dtype = kFloat64})(ramp().squeeze(0)); },
                      op});
      rows.push_back({"Conv1d(padding INT64_MAX, " + m + ")",
                      [m] { nn::Conv1d(1, 1, 3, {.padding = kMax, .padding_mode = m, .dtype = kFloat64})(ramp()); },
                      "onv1d"});
      rows.push_back({"Conv1d('same', dilation 2^62, " + m + ")",
                      [m] { nn::Conv1d(1, 1, 3, {.padding = "same", .dilation = k2to62, .padding_mode = m}); },
                      "padding='same' needs dilation * (kernel_size - 1)"});
    }
  }
  // The replicate rows above threw std::bad_alloc from the table of source positions.
  rows.push_back({"pad1d(x, 2^39, 2^39, replicate)",
                  [] { F::pad1d(ramp(), k2to40 / 2, k2to40 / 2, "replicate"); }, "pad1d"});
  rows.push_back({"pad(x, {INT64_MAX, 1})", [] { pad(ramp(), {kMax, 1}); }, "does not fit in a 64-bit size"});
  rows.push_back({"pad(x, {-INT64_MAX, -INT64_MAX})", [] { pad(ramp(), {-kMax, -kMax}); }, "does not fit in a 64-bit size"});
  rows.push_back({"conv1d 'same' with dilation INT64_MAX",
                  [] { F::conv1d(ramp(), ones({1, 1, 3}, {.dtype = kFloat64}), Tensor(), {.padding = "same", .dilation = kMax}); },
                  "conv1d: padding='same' needs"});
  check_refused(rows);

  // Empty rows need no table: an absurd but representable width on an empty batch is an empty result.
  check_in_child("pad1d of (0, 10) by 2^39 replicate", [] {
    const Tensor out = F::pad1d(zeros({0, 10}), k2to40 / 2, k2to40 / 2, "replicate");
    if (out.shape() != Shape{0, 10 + k2to40}) fail("pad1d: shape {}", out.shape());
  });
}

TEST_CASE("conv1d of an empty batch with an absurd length or padding: empty results, in time, no workspace") {
  // An empty batch holds nothing whatever its length; the fast kernels sized their workspace by the
  // length and asked for a terabyte in backward (found by fuzz_conv1d_padding_modes).
  for (const char* mode : {"zeros", "replicate", "reflect", "circular"}) {
    check_in_child(std::string("Conv1d(2, 3, 5, padding 2^44, ") + mode + ") on a (0, 2, 2) input", [mode] {
      nn::Conv1d conv(2, 3, 5, {.padding = std::int64_t{1} << 44, .dilation = 3, .padding_mode = mode});
      const Tensor x = zeros({0, 2, std::string(mode) == "zeros" ? 2 : 40}, {.requires_grad = true});
      try {
        const Tensor out = conv(x);
        out.sum().backward();
        if (out.numel() != 0) fail("output {}", out.shape());
        for (const Tensor& g : {conv.weight.grad(), conv.bias.grad()})
          for (std::int64_t i = 0; i < g.numel(); ++i)
            if (g.data_ptr<float>()[i] != 0.0f) fail("a gradient of an empty batch is not zero");
      } catch (const Error& e) {
        // reflect and circular refuse a padding longer than the input, as PyTorch.
        if (std::string(mode) == "zeros" || std::string(mode) == "replicate") throw;
      }
    });
  }
  // 2^45, and 2^61 where the kernel choice computed 16 * length in 64 bits (UBSan: signed overflow).
  for (const std::int64_t length : {std::int64_t{1} << 45, std::int64_t{1} << 61}) {
    check_in_child(fmt::format("conv1d of a (0, 2, {}) input, backward", length), [length] {
      const Tensor x = zeros({0, 2, length}, {.requires_grad = true});
      const Tensor w = ones({3, 2, 3}, {.requires_grad = true});
      const Tensor out = F::conv1d(x, w);
      if (out.shape() != Shape{0, 3, length - 2}) fail("output {}", out.shape());
      out.sum().backward();
      if (w.grad().sum().item<double>() != 0.0) fail("weight gradient of an empty batch is not zero");
    });
  }
}

TEST_CASE("shape arithmetic over existing tensors cannot overflow either: cat, reshape, creation") {
  check_refused({
      // [0, 2^62] holds nothing, but two of them side by side would be 2^63 long.
      {"cat of two [0, 2^62] along dim 1", [] { cat({zeros({0, k2to62}), zeros({0, k2to62})}, 1); },
       "cat: the concatenated size = 4611686018427387904 + 4611686018427387904 does not fit"},
      {"reshape to [2^62, -1, 4]", [] { zeros({0}).reshape({k2to62, -1, 4}); }, "reshape"},
      {"reshape to [INT64_MAX, 2]", [] { zeros({4}).reshape({kMax, 2}); }, "reshape"},
      {"zeros([INT64_MAX, INT64_MAX])", [] { zeros({kMax, kMax}); }, "zeros"},
      {"empty([0, INT64_MAX, 2])", [] { empty({0, kMax, 2}); }, "empty"},
      {"full([2^40 + 1])", [] { full({k2to40 + 1}, 1.0); }, "full"},
      {"rand([2^20, 2^21])", [] { rand({1 << 20, 1 << 21}); }, "rand"},
      {"arange(0, 2^62)", [] { arange(0.0, static_cast<double>(k2to62)); }, "arange"},
      {"broadcast_to [2^62, 4]", [] { broadcast_to(zeros({1, 4}), {k2to62, 4}); }, "broadcast_to"},
  });
}

TEST_CASE("CosineAnnealingLR with T_max near INT64_MAX: exact periods, no overflow") {
  check_in_child("CosineAnnealingLR(T_max = INT64_MAX)", [] {
    Tensor w = zeros({1}, {.requires_grad = true});
    optim::SGD optimizer({w}, {.lr = 0.5});
    optim::CosineAnnealingLR scheduler(optimizer, kMax);
    // cos(pi t / T) is 1 to double precision for t << T: the lr stays at its base.
    for (int step = 0; step < 3; ++step) {
      scheduler.step();
      if (std::abs(optimizer.lr() - 0.5) > 1e-15) fail("lr after {} steps is {}, expected 0.5", step + 1, optimizer.lr());
    }
  });
}

TEST_CASE("an empty batch is a clear error at the loss, not a NaN") {
  nn::Conv1d conv(3, 4, 3);
  Tensor empty_batch = zeros({0, 3, 10});
  Tensor y = conv(empty_batch);  // an empty output, as PyTorch
  CHECK(y.shape() == Shape{0, 4, 8});
  const std::string message = testing::error_message([&] { (void)(y - zeros({0, 4, 8})).pow(2.0).mean(); });
  CHECK(message.find("mean: cannot average over zero elements") != std::string::npos);
  CHECK(message.find("[0, 4, 8]") != std::string::npos);
  // Reducing an empty dim to a non-empty output is an error too; empty to empty is fine.
  CHECK(testing::error_message([] { (void)zeros({3, 0}).mean({1}); }).find("mean") != std::string::npos);
  CHECK(zeros({0, 3}).mean({1}).shape() == Shape{0});
  CHECK(zeros({0, 3}).sum().item<double>() == 0.0);
}

TEST_CASE("zero-size dimensions work where they make sense and are errors where they cannot") {
  CHECK(matmul(zeros({2, 0}), zeros({0, 3})).sum().item<double>() == 0.0);  // an empty inner dimension sums to 0
  CHECK(cat({zeros({0, 2}), ones({1, 2})}).shape() == Shape{1, 2});
  Tensor x = zeros({0, 2}, {.requires_grad = true});
  (x * 2.0).sum().backward();
  CHECK(x.grad().shape() == Shape{0, 2});
  check_misuses({
      {"conv1d of an empty length", [] { (void)F::conv1d(zeros({1, 2, 0}), ones({3, 2, 1})); }, "conv1d"},
      {"conv1d of no channels", [] { (void)F::conv1d(zeros({1, 0, 5}), ones({3, 0, 1})); }, "conv1d"},
      {"Conv1d with zero in_channels", [] { nn::Conv1d(0, 2, 3); }, "Conv1d"},
      {"Conv1d with zero out_channels", [] { nn::Conv1d(2, 0, 3); }, "Conv1d"},
      {"Conv1d with kernel_size 0", [] { nn::Conv1d(2, 2, 0); }, "Conv1d"},
      {"input shorter than the kernel", [] { (void)nn::Conv1d(2, 2, 5)(zeros({1, 2, 4})); }, "conv1d"},
      {"input shorter than the dilated kernel", [] { (void)nn::Conv1d(2, 2, 3, {.dilation = 4})(zeros({1, 2, 8})); }, "conv1d"},
  });
}

TEST_CASE("absurd sizes are clear errors, never overflow or a crash") {
  check_misuses({
      {"element count overflowing 64 bits", [] { (void)zeros({kHuge, 4}); }, "zeros"},
      {"element count overflowing through many dims", [] { (void)empty({1 << 20, 1 << 20, 1 << 20, 1 << 20}); }, "empty"},
      {"more elements than the build allows", [] { (void)randn({std::int64_t{1} << 41}); }, "randn"},
      {"reshape to an overflowing shape", [] { (void)zeros({4}).reshape({kHuge, 4}); }, "reshape"},
      {"pad by an absurd amount", [] { (void)pad(zeros({4}), {kHuge, kHuge}); }, "pad"},
      {"pad1d by an absurd amount", [] { (void)F::pad1d(zeros({1, 4}), kHuge, kHuge, "zeros"); }, "pad"},
      {"pad1d reflect by an absurd amount", [] { (void)F::pad1d(zeros({1, 4}), kHuge, kHuge, "reflect"); }, "pad1d"},
      {"pad1d circular by an absurd amount", [] { (void)F::pad1d(zeros({1, 4}), kHuge, kHuge, "circular"); }, "pad1d"},
      {"pad1d replicate by an absurd amount", [] { (void)F::pad1d(zeros({1, 4}), kHuge, kHuge, "replicate"); }, "pad"},
      {"Conv1d kernel_size 2^62", [] { nn::Conv1d(1, 1, kHuge); },
       "Conv1d(1, 1, kernel_size=4611686018427387904): cannot allocate its weight of shape [1, 1, 4611686018427387904]"},
      {"Conv1d kernel_size 2^40 (representable, too big for memory)", [] { nn::Conv1d(1, 1, std::int64_t{1} << 40); },
       "Conv1d(1, 1, kernel_size=1099511627776): cannot allocate its weight"},
      {"Conv1d padding 2^62", [] { (void)nn::Conv1d(1, 1, 3, {.padding = kHuge})(zeros({1, 1, 4})); }, "onv1d"},
      {"conv1d padding 2^62", [] { (void)F::conv1d(zeros({1, 1, 4}), ones({1, 1, 3}), Tensor(), {.padding = kHuge}); }, "conv1d"},
      {"conv1d dilation 2^62", [] { (void)F::conv1d(zeros({1, 1, 4}), ones({1, 1, 3}), Tensor(), {.dilation = kHuge}); }, "conv1d"},
      {"conv1d stride 2^62 with padding 2^62",
       [] { (void)F::conv1d(zeros({1, 1, 4}), ones({1, 1, 3}), Tensor(), {.stride = kHuge, .padding = kHuge}); }, "conv1d"},
      {"conv1d groups 2^62", [] { (void)F::conv1d(zeros({1, 2, 4}), ones({2, 1, 3}), Tensor(), {.groups = kHuge}); }, "conv1d"},
      {"conv1d negative stride", [] { (void)F::conv1d(zeros({1, 1, 4}), ones({1, 1, 3}), Tensor(), {.stride = -kHuge}); }, "conv1d"},
      {"arange with too many elements", [] { (void)arange(0.0, 1e300, 1e-300); }, "arange"},
  });
  // A representable but impossible allocation (4 TiB) is an xgrad::Error, not
  // std::bad_alloc; with memory overcommit it may succeed untouched, which is fine too.
  try {
    Tensor huge = empty({(std::int64_t{1} << 40)});
  } catch (const Error& error) {
    CHECK(std::string(error.what()).find("empty: out of memory") != std::string::npos);
  }
}
