// Every differentiable op, property by property, from the one op table (tests/support/op_table.cpp):
// one TEST_CASE per property, iterating the rows; a failure names the op and its case.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <xgrad.hpp>

#include "support/op_table.hpp"
#include "support/testing.hpp"

#ifndef XGRAD_SOURCE_DIR
#error "XGRAD_SOURCE_DIR must point at the repository (tests/CMakeLists.txt defines it)"
#endif

using namespace xgrad;
using testing::GradCase;
using testing::op_table;
using testing::OpRow;

namespace {

// The case's inputs: float64 from its domain, each from the same seed, constants without grad.
std::vector<Tensor> inputs_of(const GradCase& c) {
  manual_seed(42);
  std::vector<Tensor> inputs;
  for (const Shape& shape : c.shapes) inputs.push_back(testing::make_input(shape, c.domain));
  for (std::size_t i : c.constant) inputs.at(i).requires_grad_(false);
  return inputs;
}

using Check = std::function<autograd::GradcheckResult(const autograd::GradcheckFn&, const std::vector<Tensor>&,
                                                      autograd::GradcheckOptions)>;

// Runs `check` (gradcheck or gradgradcheck) on every case of every row.
void check_every_case(const Check& check) {
  for (const OpRow& row : op_table()) {
    CAPTURE(row.op);
    CHECK_MESSAGE(!row.grad.empty(), row.op, " has no gradcheck case");
    for (const GradCase& c : row.grad) {
      CAPTURE(c.name);
      try {
        const autograd::GradcheckResult result = check(c.fn, inputs_of(c), {});
        CHECK_MESSAGE(result.passed, row.op, " ", c.name, ": ", result.message);
      } catch (const std::exception& e) {
        FAIL_CHECK(row.op, " ", c.name, " threw: ", e.what());
      }
    }
  }
}

// Whether `path` is a public op header: its folder or file is named ops or functional.
bool is_op_header(const std::string& path) {
  for (const char* part : {"ops/", "ops.hpp", "ops_", "functional/", "functional.hpp"})
    if (path.find(part) != std::string::npos) return true;
  return false;
}

// The name `line` declares when it declares a free function returning tensors at column 0
// ("Tensor name(" or "std::tuple<Tensor, Tensor> name("), else "".
std::string declared_name(const std::string& line) {
  for (const std::string prefix : {"Tensor ", "std::tuple<Tensor, Tensor> "}) {
    if (line.rfind(prefix, 0) != 0) continue;
    const std::size_t open = line.find('(', prefix.size());
    if (open == std::string::npos) return "";
    const std::string name = line.substr(prefix.size(), open - prefix.size());
    const bool identifier = !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
    return identifier ? name : "";
  }
  return "";
}

// Names of the functions returning tensors declared in the public op headers: every header reached
// from <xgrad.hpp> through quoted includes whose path names ops or functional, outside `namespace detail`.
std::set<std::string> declared_ops() {
  const std::string root = XGRAD_SOURCE_DIR;
  const std::string include = "#include \"";
  std::set<std::string> names, seen;
  std::vector<std::string> pending = {"xgrad.hpp"};
  while (!pending.empty()) {
    const std::string path = pending.back();
    pending.pop_back();
    if (!seen.insert(path).second) continue;
    std::ifstream file(root + "/" + path);
    if (!file) continue;  // a system or generated header
    bool in_detail = false;
    for (std::string line; std::getline(file, line);) {
      if (line.rfind(include, 0) == 0) pending.push_back(line.substr(include.size(), line.find('"', include.size()) - include.size()));
      if (line.rfind("namespace detail", 0) == 0) in_detail = true;
      if (in_detail && line.rfind("}", 0) == 0) in_detail = false;
      const std::string name = declared_name(line);
      if (is_op_header(path) && !in_detail && !name.empty()) names.insert(name);
    }
  }
  return names;
}

}  // namespace

TEST_CASE("op table: gradcheck of every case") { check_every_case(autograd::gradcheck); }

TEST_CASE("op table: gradgradcheck of every case") { check_every_case(autograd::gradgradcheck); }

// gradgradcheck differentiates the recorded backward but cannot tell whether its value is the
// gradient: compare it with the fused first-order backward.
TEST_CASE("op table: the recorded backward (create_graph) gives the fused backward's gradients") {
  for (const OpRow& row : op_table()) {
    CAPTURE(row.op);
    for (const GradCase& c : row.grad) {
      CAPTURE(c.name);
      const std::vector<Tensor> inputs = inputs_of(c);
      const Tensor out = c.fn(inputs);
      // v requires grad, so every recorded gradient depends on it and must come out recorded.
      const Tensor v = randn(out.shape(), {.dtype = kFloat64, .requires_grad = true});
      std::vector<Tensor> wrt;
      for (const Tensor& t : inputs)
        if (t.requires_grad()) wrt.push_back(t);
      const std::vector<Tensor> fused = autograd::grad({out}, wrt, {v}, {.retain_graph = true});
      const std::vector<Tensor> recorded = autograd::grad({out}, wrt, {v}, {.retain_graph = true, .create_graph = true});
      REQUIRE(fused.size() == recorded.size());
      for (std::size_t i = 0; i < fused.size(); ++i) {
        CAPTURE(i);
        CHECK_FALSE(fused[i].requires_grad());
        CHECK(recorded[i].requires_grad());
        const testing::CloseResult close = testing::check_close(recorded[i].detach(), fused[i], 1e-10, 1e-12);
        CHECK_MESSAGE(close.ok, close.message);
      }
    }
  }
}

// NaN in, NaN out, forward and backward, without a crash; finite elements stay finite.
TEST_CASE("op table: NaN and Inf propagate through every op, forward and backward") {
  for (const OpRow& row : op_table()) {
    CAPTURE(row.op);
    CHECK_MESSAGE((!row.nan.empty() || row.nan_rule), row.op, " states no NaN behaviour (a probe or a rule)");
    if (row.nan_rule) row.nan_rule();
    for (const testing::NanProbe& probe : row.nan) {
      CAPTURE(probe.name);
      for (Dtype dtype : {kFloat32, kFloat64}) {
        CAPTURE(dtype);
        Tensor x = testing::special_values(dtype);
        Tensor y;
        REQUIRE_NOTHROW(y = probe.fn(x));
        const std::vector<double> out = testing::values(y);
        if (probe.expected.empty()) {
          REQUIRE(y.shape() == x.shape());
          CHECK(std::isnan(out[0]));     // never a silent number
          CHECK(std::isfinite(out[3]));  // finite elements stay finite
        } else {
          REQUIRE(out.size() == probe.expected.size());
          for (std::size_t i = 0; i < out.size(); ++i) {
            CAPTURE(i);
            const double expected = probe.expected[i];
            CHECK_MESSAGE((std::isnan(expected) ? std::isnan(out[i]) : out[i] == expected), "got ", out[i], ", expected ",
                          expected);
          }
        }
        REQUIRE_NOTHROW(y.sum().backward());
        REQUIRE(x.grad().defined());
        CHECK(x.grad().shape() == x.shape());
      }
    }
  }
}

TEST_CASE("op table: misusing an op throws xgrad::Error naming the op and the values") {
  for (const OpRow& row : op_table()) {
    CAPTURE(row.op);
    CHECK_MESSAGE(!row.misuses.empty(), row.op, " has no misuse case");
    testing::check_misuses(row.misuses);
  }
}

// Ops that return no gradient (comparisons, logic, indices): the only declared ops without a row.
TEST_CASE("op table: every op declared in the public op headers has a row") {
  const std::set<std::string> not_differentiable = {"eq", "ne", "lt", "le", "gt", "ge", "logical_not",
                                                    "logical_and", "logical_or", "argmax", "argmin"};
  const std::set<std::string> declared = declared_ops();
  REQUIRE_MESSAGE(declared.size() > 40, "found only ", declared.size(), " declarations: the header walk is broken");
  std::set<std::string> rows;
  for (const OpRow& row : op_table()) {
    CHECK_MESSAGE(rows.insert(row.op).second, row.op, " has two rows");
  }
  for (const std::string& name : declared) {
    CAPTURE(name);
    CHECK_MESSAGE((rows.count(name) == 1 || not_differentiable.count(name) == 1), name, " is declared but has no row");
  }
  for (const std::string& name : not_differentiable) {
    CAPTURE(name);
    CHECK_MESSAGE(declared.count(name) == 1, name, " is listed as not differentiable but no longer declared");
    CHECK_MESSAGE(rows.count(name) == 0, name, " has a row but is listed as not differentiable");
  }
}
