// graph_picture: what the recorded graph looks like. Every op on a tensor that requires grad
// records a node; backward walks these nodes from the loss back to the leaves. autograd::to_dot
// draws them as Graphviz DOT, first for a one-line expression, then for the flagship M5 model.
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
#include <memory>
#include <string>
#include <string_view>

#include "keyword_spotting/m5.hpp"

using namespace xgrad;

namespace {

// A path as one single-quoted shell word (a ' inside becomes '\'').
std::string shell_quoted(const std::filesystem::path& path) {
  std::string out = "'";
  for (char c : path.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Every output goes through xgrad's atomic writer: a crash leaves the old file or the new one.
bool write_file(const std::filesystem::path& path, std::string_view bytes) {
  try {
    write_file_atomically(path.string(), bytes, "graph_picture");
    return true;
  } catch (const Error& e) {
    fmt::print(stderr, "{}\n", e.what());
    return false;
  }
}

// `dot -Tpng` of a DOT file, read from dot's standard output (so the PNG, too, is written
// atomically by write_file); empty when dot fails.
std::string render_png(const std::filesystem::path& dot_file) {
  const std::string command = "dot -Tpng " + shell_quoted(dot_file);
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string png;
  char buffer[1 << 16];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) png.append(buffer, got);
  return pclose(pipe) == 0 ? png : "";
}

bool dot_on_path() { return std::system("command -v dot > /dev/null 2>&1") == 0; }


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

  // 2. The flagship's model (keyword_spotting's M5, width 32): each module's ops appear in order,
  // its parameters named as in named_parameters().
  auto model = kws::make_m5(32);
  Tensor clips = randn({2, 1, 8000});  // two one-second clips at 8 kHz
  Tensor labels = zeros({2}, {.dtype = kInt64});  // class indices
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
    const std::filesystem::path dot_file = out_dir / (name + ".dot"), png_file = out_dir / (name + ".png");
    if (!have_dot) {
      fmt::print("  dot -Tpng {} -o {}\n", shell_quoted(dot_file), shell_quoted(png_file));
      continue;
    }
    const std::string png = render_png(dot_file);
    if (png.empty() || !write_file(png_file, png)) {
      fmt::print(stderr, "failed to render {}\n", dot_file.string());
      return 1;
    }
    fmt::print("rendered {}\n", png_file.string());
  }
}
