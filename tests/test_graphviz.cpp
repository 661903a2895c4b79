// autograd::to_dot: the recorded graph as Graphviz DOT text. The DOT is parsed
// back here (node ids, labels, edges) so each test checks the exact graph; when
// Graphviz's `dot` is installed, it must also render every graph.
#include <xgrad.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/testing.hpp"
#include "test_reliability.hpp"

using namespace xgrad;
namespace fs = std::filesystem;

namespace {

// The graph in a DOT text written by to_dot: labels by node id (unescaped) and
// edges as (from, to) ids. `valid` is false when a line is neither a node, an
// edge, nor the fixed header and footer.
struct Graph {
  std::map<std::string, std::string> labels;
  std::vector<std::pair<std::string, std::string>> edges;
  bool valid = true;

  // The label's first line: the op name, parameter name, "leaf" or "output".
  std::string title(const std::string& id) const {
    const std::string& label = labels.at(id);
    return label.substr(0, label.find('\n'));
  }
  // Edges as (from title, to title), sorted, for comparing with an expected list.
  std::vector<std::pair<std::string, std::string>> titled_edges() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [from, to] : edges) out.emplace_back(title(from), title(to));
    std::sort(out.begin(), out.end());
    return out;
  }
  int count_titled(const std::string& title_text) const {
    int n = 0;
    for (const auto& [id, label] : labels) n += title(id) == title_text;
    return n;
  }
};

// Reads a DOT double-quoted string starting just after its opening quote; returns the
// unescaped text and moves `pos` past the closing quote.
std::string read_quoted(const std::string& line, std::size_t& pos) {
  std::string out;
  while (pos < line.size() && line[pos] != '"') {
    if (line[pos] == '\\' && pos + 1 < line.size()) {
      ++pos;
      out += line[pos] == 'n' ? '\n' : line[pos];
    } else {
      out += line[pos];
    }
    ++pos;
  }
  ++pos;
  return out;
}

Graph parse(const std::string& dot) {
  Graph graph;
  std::size_t start = 0;
  std::vector<std::string> lines;
  while (start < dot.size()) {
    std::size_t end = dot.find('\n', start);
    if (end == std::string::npos) end = dot.size();
    lines.push_back(dot.substr(start, end - start));
    start = end + 1;
  }
  graph.valid = lines.size() >= 3 && lines.front() == "digraph xgrad {" && lines.back() == "}" &&
                lines[1].rfind("  node [", 0) == 0;
  for (std::size_t i = 2; graph.valid && i + 1 < lines.size(); ++i) {
    const std::string& line = lines[i];
    const std::size_t arrow = line.find(" -> ");
    const std::size_t attributes = line.find(" [label=\"");
    if (attributes != std::string::npos && (arrow == std::string::npos || attributes < arrow)) {
      const std::string id = line.substr(2, attributes - 2);
      std::size_t pos = attributes + 9;
      std::string label = read_quoted(line, pos);
      graph.valid = graph.valid && line.compare(pos, 12, ", fillcolor=") == 0 && line.back() == ';' &&
                    graph.labels.emplace(id, std::move(label)).second;
    } else if (arrow != std::string::npos && line.back() == ';') {
      graph.edges.emplace_back(line.substr(2, arrow - 2), line.substr(arrow + 4, line.size() - arrow - 5));
    } else {
      graph.valid = false;
    }
  }
  for (const auto& [from, to] : graph.edges) {
    graph.valid = graph.valid && graph.labels.count(from) == 1 && graph.labels.count(to) == 1;
  }
  return graph;
}

bool dot_installed() { return std::system("command -v dot > /dev/null 2>&1") == 0; }

// Renders `text` with `dot -Tsvg` and returns its exit status (0: dot accepted it).
int render_with_dot(const std::string& text) {
  static std::atomic<int> counter{0};
  const fs::path dir = fs::temp_directory_path() / fmt::format("xgrad_graphviz_{}_{}", ::getpid(), counter++);
  fs::create_directories(dir);
  std::ofstream(dir / "graph.dot") << text;
  const std::string command = fmt::format("dot -Tsvg '{}' -o '{}' 2> '{}'", (dir / "graph.dot").string(),
                                          (dir / "graph.svg").string(), (dir / "errors.txt").string());
  const int status = std::system(command.c_str());
  std::error_code ignored;
  const bool svg_written = fs::exists(dir / "graph.svg") && fs::file_size(dir / "graph.svg", ignored) > 0;
  std::ifstream errors(dir / "errors.txt");
  const std::string messages((std::istreambuf_iterator<char>(errors)), {});
  fs::remove_all(dir, ignored);
  INFO("dot said: ", messages);
  CHECK(svg_written);
  CHECK(messages.empty());
  return status;
}

using Edges = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("to_dot: a small expression gives exactly its ops, its grad-requiring leaves and the output") {
  manual_seed(0);
  const Tensor a = randn({2, 3}, {.requires_grad = true});
  const Tensor b = randn({3}, {.requires_grad = true});
  const Tensor c = randn({2, 3});  // needs no grad: not in the graph
  const Tensor y = (a * b + c).sum();
  const Graph graph = parse(autograd::to_dot(y, {{"a", a}, {"b", b}}));
  REQUIRE(graph.valid);
  CHECK(graph.labels.size() == 6);  // MulBackward, AddBackward, SumBackward, a, b, output
  CHECK(graph.edges.size() == 5);
  CHECK(graph.titled_edges() == Edges{{"AddBackward", "SumBackward"},
                                      {"MulBackward", "AddBackward"},
                                      {"SumBackward", "output"},
                                      {"a", "MulBackward"},
                                      {"b", "MulBackward"}});
  // Each op is described by the tensor it produced; leaves by themselves.
  std::map<std::string, std::string> by_title;
  for (const auto& [id, label] : graph.labels) by_title[graph.title(id)] = label;
  CHECK(by_title["MulBackward"] == "MulBackward\n[2, 3] float32");
  CHECK(by_title["AddBackward"] == "AddBackward\n[2, 3] float32");
  CHECK(by_title["SumBackward"] == "SumBackward\n[] float32");
  CHECK(by_title["output"] == "output\n[] float32");
  CHECK(by_title["a"] == "a\n[2, 3] float32");
  CHECK(by_title["b"] == "b\n[3] float32");
}

TEST_CASE("to_dot: shared subexpressions appear once, a tensor used twice by one op gets two edges") {
  const Tensor x = testing::from_values({0.5, -0.25});  // float64
  const Tensor s = x.tanh();
  const Tensor y = s * s + s;
  const Graph graph = parse(autograd::to_dot(y));
  REQUIRE(graph.valid);
  CHECK(graph.labels.size() == 5);  // leaf, TanhBackward, MulBackward, AddBackward, output
  CHECK(graph.count_titled("TanhBackward") == 1);
  CHECK(graph.count_titled("leaf") == 1);
  CHECK(graph.titled_edges() == Edges{{"AddBackward", "output"},
                                      {"MulBackward", "AddBackward"},
                                      {"TanhBackward", "AddBackward"},
                                      {"TanhBackward", "MulBackward"},
                                      {"TanhBackward", "MulBackward"},
                                      {"leaf", "TanhBackward"}});
  CHECK(graph.labels.at("output") == "output\n[2] float64");

  // 20 diamonds y <- (y + y) * 0.5 have 2^20 paths from the root to x; each node is drawn once.
  // (Few enough that a walk that revisits nodes fails these counts instead of hanging.)
  Tensor z = x;
  for (int i = 0; i < 20; ++i) z = (z + z) * 0.5;
  const Graph diamonds = parse(autograd::to_dot(z));
  REQUIRE(diamonds.valid);
  CHECK(diamonds.count_titled("AddBackward") == 20);
  CHECK(diamonds.count_titled("MulBackward") == 20);
  CHECK(diamonds.labels.size() == 42);
  CHECK(diamonds.edges.size() == 20 * 3 + 1);  // each add: two edges in (the first from x), each mul: one; -> output
}

TEST_CASE("to_dot: leaves are named after named_parameters, by identity, the first name of a tied tensor") {
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(),
                                                std::make_shared<nn::Linear>(3, 2, nn::LinearOptions{.bias = false}));
  const Tensor x = randn({5, 4}, {.requires_grad = true});  // an input that requires grad, not a parameter
  const Tensor loss = (*model)(x).sum();

  const Graph named = parse(autograd::to_dot(loss, model->named_parameters()));
  REQUIRE(named.valid);
  for (const char* name : {"0.weight", "0.bias", "2.weight", "leaf"}) {
    CHECK_MESSAGE(named.count_titled(name) == 1, name);
  }
  std::map<std::string, std::string> by_title;
  for (const auto& [id, label] : named.labels) by_title[named.title(id)] = label;
  CHECK(by_title["0.weight"] == "0.weight\n[3, 4] float32");
  CHECK(by_title["leaf"] == "leaf\n[5, 4] float32");

  const Graph unnamed = parse(autograd::to_dot(loss));
  REQUIRE(unnamed.valid);
  CHECK(unnamed.count_titled("leaf") == 4);
  CHECK(unnamed.labels.size() == named.labels.size());
  CHECK(unnamed.edges.size() == named.edges.size());

  // A copy of a parameter's values is not that parameter.
  const Tensor w = ones({2}, {.requires_grad = true});
  const Tensor look_alike = ones({2}, {.requires_grad = true});
  const Graph by_identity = parse(autograd::to_dot((w * 2.0).sum(), {{"look_alike", look_alike}, {"w", w}, {"tied", w}}));
  REQUIRE(by_identity.valid);
  CHECK(by_identity.count_titled("w") == 1);
  CHECK(by_identity.count_titled("look_alike") == 0);
  CHECK(by_identity.count_titled("tied") == 0);
}

TEST_CASE("to_dot: a tensor with no graph is a single node, an undefined one is an error") {
  const Tensor w = ones({3}, {.dtype = kFloat64, .requires_grad = true});
  const Graph leaf = parse(autograd::to_dot(w));
  REQUIRE(leaf.valid);
  CHECK(leaf.labels.size() == 1);
  CHECK(leaf.edges.empty());
  CHECK(leaf.labels.begin()->second == "leaf\n[3] float64");
  const Graph named = parse(autograd::to_dot(w, {{"weight", w}}));
  REQUIRE(named.valid);
  CHECK(named.labels.begin()->second == "weight\n[3] float64");
  // Computed without grad: no graph either.
  Tensor constant;
  {
    NoGradGuard no_grad;
    constant = w * 2.0;
  }
  CHECK(parse(autograd::to_dot(constant)).labels.size() == 1);
  CHECK_THROWS_WITH_AS(autograd::to_dot(Tensor()), "to_dot: the root tensor is undefined", Error);
}

TEST_CASE("to_dot: labels are escaped, and every graph is valid DOT (rendered by Graphviz when installed)") {
  manual_seed(0);
  const Tensor w = randn({2}, {.requires_grad = true});
  const Tensor v = randn({2}, {.requires_grad = true});
  const std::string odd_name = "say \"hi\"\\ {}[];->\nsecond line\t\\";
  const Tensor y = (w * v).tanh().sum();
  const std::string text = autograd::to_dot(y, {{odd_name, w}, {"v", v}});
  const Graph graph = parse(text);
  REQUIRE(graph.valid);
  // The name survives the round trip, except the tab (a control character), which becomes a space.
  std::string expected_name = odd_name;
  std::replace(expected_name.begin(), expected_name.end(), '\t', ' ');
  bool found = false;
  for (const auto& [id, label] : graph.labels) found = found || label == expected_name + "\n[2] float32";
  CHECK(found);
  CHECK(graph.labels.size() == 6);
  CHECK(graph.edges.size() == 5);

  auto conv = std::make_shared<nn::Conv1d>(1, 4, 3);
  nn::Sequential model(conv, std::make_shared<nn::BatchNorm1d>(4), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::MaxPool1d>(2), std::make_shared<nn::Flatten>(),
                       std::make_shared<nn::Linear>(4 * 7, 2));
  const Tensor model_loss = nn::functional::cross_entropy(model(randn({3, 1, 16})), zeros({3}, {.dtype = kInt64}));
  const std::string model_text = autograd::to_dot(model_loss, model.named_parameters());
  REQUIRE(parse(model_text).valid);

  if (!dot_installed()) {
    MESSAGE("Graphviz's `dot` is not installed (apt-get install graphviz): checked the DOT structure only");
    return;
  }
  CHECK(render_with_dot(text) == 0);
  CHECK(render_with_dot(model_text) == 0);
  CHECK(render_with_dot(autograd::to_dot(w)) == 0);
}

TEST_CASE("to_dot: a chain of 1,000,000 ops is drawn without recursion") {
  // A recursive walk would overflow the stack long before this depth.
  const std::int64_t steps = 1'000'000 / testing::kSanitizerScale;
  const Tensor x = ones({1}, {.requires_grad = true});
  Tensor y = x;
  for (std::int64_t i = 0; i < steps; ++i) y = -y;
  const std::string text = autograd::to_dot(y);
  const Graph graph = parse(text);
  REQUIRE(graph.valid);
  CHECK(graph.labels.size() == static_cast<std::size_t>(steps) + 2);
  CHECK(graph.edges.size() == static_cast<std::size_t>(steps) + 1);
  CHECK(graph.count_titled("NegBackward") == steps);
}
