// graph_picture: what the recorded graph looks like. Every op on a tensor that requires grad
// records a node; backward walks these nodes from the loss back to the leaves. autograd::to_dot
// draws them as Graphviz DOT, first for a one-line expression, then for a small Conv1d model.
//
//   graph_picture [--out-dir out/graph_picture]
//
// Writes expression.dot and model.dot, and expression.png and model.png when Graphviz's `dot` is
// installed (Debian: apt-get install graphviz). In the pictures, inputs are at the top and the
// output at the bottom: blue boxes are parameters (leaves that require grad), grey boxes are ops,
// named by their backward function and labelled with the shape and dtype they produced, and the
// green box is the output. Tensors that don't require grad (the data, the targets, BatchNorm's
// running statistics) are not in the graph: backward has nothing to send them.
#include <xgrad.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

using namespace xgrad;

namespace {

// The keyword-spotting example's M5 network in miniature (its make_m5 lives in that program, not
// in a header): two Conv1d-BatchNorm-ReLU-MaxPool blocks instead of four, then global average
// pooling and a Linear classifier. (N, 1, 1000) -> (N, 10) logits.
std::shared_ptr<nn::Sequential> make_small_m5() {
  auto model = std::make_shared<nn::Sequential>();
  auto block = [&](int64_t in, int64_t out, int64_t kernel, int64_t stride) {
    model->push_back(std::make_shared<nn::Conv1d>(in, out, kernel, nn::Conv1dOptions{.stride = stride}));
    model->push_back(std::make_shared<nn::BatchNorm1d>(out));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::MaxPool1d>(4));
  };
  block(1, 8, 20, 4);  // (N, 8, 246) -> pool (N, 8, 61)
  block(8, 16, 3, 1);  // (N, 16, 59) -> pool (N, 16, 14)
  model->push_back(std::make_shared<nn::AdaptiveAvgPool1d>(1));  // (N, 16, 1)
  model->push_back(std::make_shared<nn::Flatten>());             // (N, 16)
  model->push_back(std::make_shared<nn::Linear>(16, 10));        // (N, 10)
  return model;
}

bool write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) fmt::print(stderr, "could not write {}\n", path.string());
  return bool(out);
}

bool dot_on_path() { return std::system("command -v dot > /dev/null 2>&1") == 0; }

// A path as one single-quoted shell word (a ' inside becomes '\'').
std::string shell_quoted(const std::filesystem::path& path) {
  std::string out = "'";
  for (char c : path.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path out_dir = "out/graph_picture";
  if (argc == 3 && std::string(argv[1]) == "--out-dir") {
    out_dir = argv[2];
  } else if (argc != 1) {
    fmt::print(stderr, "usage: {} [--out-dir DIR]\n", argv[0]);
    return 2;
  }
  std::filesystem::create_directories(out_dir);
  manual_seed(0);

  // 1. An expression: one neuron, y = tanh(w * x + b), and its squared error. x and target are
  // data (no grad), w and b are parameters; to_dot names them from the list it is given.
  Tensor x = randn({4, 3});
  Tensor target = randn({4, 3});
  Tensor w = randn({3}, {.requires_grad = true});
  Tensor b = zeros({3}, {.requires_grad = true});
  Tensor loss = ((w * x + b).tanh() - target).pow(2.0).mean();
  const std::string expression = autograd::to_dot(loss, {{"w", w}, {"b", b}});
  if (!write_file(out_dir / "expression.dot", expression)) return 1;
  fmt::print("loss = ((w * x + b).tanh() - target).pow(2).mean(), recorded as:\n{}\n", expression);

  // 2. A model: each module's ops appear in order, its parameters named as in named_parameters().
  auto model = make_small_m5();
  Tensor clips = randn({2, 1, 1000});
  Tensor labels = zeros({2});  // class indices, as a float tensor
  Tensor model_loss = nn::functional::cross_entropy((*model)(clips), labels);
  const std::string model_dot = autograd::to_dot(model_loss, model->named_parameters());
  if (!write_file(out_dir / "model.dot", model_dot)) return 1;
  fmt::print("{}\n", *model);

  fmt::print("wrote {} and {}\n", (out_dir / "expression.dot").string(), (out_dir / "model.dot").string());

  const bool have_dot = dot_on_path();
  if (!have_dot) {
    fmt::print("Graphviz's `dot` is not installed, so no PNGs. Install it (Debian: apt-get install graphviz, or "
               "scripts/setup.sh examples) and render with:\n");
  }
  for (const std::string name : {"expression", "model"}) {
    const std::string command = fmt::format("dot -Tpng {} -o {}", shell_quoted(out_dir / (name + ".dot")),
                                            shell_quoted(out_dir / (name + ".png")));
    std::fflush(stdout);  // our lines before anything dot prints
    if (!have_dot) {
      fmt::print("  {}\n", command);
    } else if (std::system(command.c_str()) != 0) {
      fmt::print(stderr, "failed: {}\n", command);
      return 1;
    } else {
      fmt::print("rendered {}\n", (out_dir / (name + ".png")).string());
    }
  }
}
