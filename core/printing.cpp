// Printing, following PyTorch's repr: `tensor([[1.5000, 2.0000]], requires_grad=True)`.
// All elements share one format (integers "1.", fixed "1.5000", or scientific
// "1.0000e-05", chosen as PyTorch chooses; int64 "12" and bool "True" as Python
// prints them), padded to one width. Tensors of more
// than 1000 elements show the first and last three entries of each dim.
#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "core/tensor.hpp"

namespace xgrad {

namespace {

constexpr std::int64_t kSummarizeAbove = 1000;
constexpr std::int64_t kEdgeItems = 3;
constexpr std::size_t kLineWidth = 80;

enum class Style { Integer, Fixed, Scientific };

struct Formatter {
  Style style = Style::Fixed;
  std::size_t width = 0;

  std::string raw(double v) const {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    switch (style) {
      case Style::Integer: return fmt::format("{:.0f}.", v);
      case Style::Scientific: return fmt::format("{:.4e}", v);
      default: return fmt::format("{:.4f}", v);
    }
  }
  std::string operator()(double v) const {
    std::string s = raw(v);
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  }
};

// PyTorch's _Formatter: the style and the width come from the nonzero finite
// values only (zeros, nan and inf are padded to that width, never widen it).
Formatter choose_format(const std::vector<double>& values) {
  Formatter f;
  f.style = Style::Integer;
  f.width = 1;
  std::vector<double> nonzero_finite;
  for (double v : values)
    if (std::isfinite(v) && v != 0) nonzero_finite.push_back(v);
  if (nonzero_finite.empty()) return f;
  double max_abs = 0, min_abs = INFINITY;
  for (double v : nonzero_finite) {
    min_abs = std::min(min_abs, std::abs(v));
    max_abs = std::max(max_abs, std::abs(v));
  }
  const bool integral =
      std::all_of(nonzero_finite.begin(), nonzero_finite.end(), [](double v) { return std::ceil(v) == v; });
  const bool wide_range = max_abs / min_abs > 1000.0 || max_abs > 1e8;
  if (integral) {
    f.style = wide_range ? Style::Scientific : Style::Integer;
  } else {
    f.style = wide_range || min_abs < 1e-4 ? Style::Scientific : Style::Fixed;
  }
  for (double v : nonzero_finite) f.width = std::max(f.width, f.raw(v).size());
  return f;
}

struct Printer {
  const Shape& shape;
  Shape strides;
  bool summarize;
  std::vector<double> values;  // all elements, as double (floating-point tensors)
  Formatter format;
  std::vector<std::string> texts;  // all elements, as text (int64 and bool tensors)

  std::string cell(std::int64_t i) const {
    if (texts.empty()) return format(values[i]);
    const std::string& s = texts[i];
    return std::string(format.width > s.size() ? format.width - s.size() : 0, ' ') + s;
  }

  // Indices shown along a dim of size n (with -1 marking the "..." gap).
  std::vector<std::int64_t> shown(std::int64_t n) const {
    std::vector<std::int64_t> idx;
    if (summarize && n > 2 * kEdgeItems) {
      for (std::int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
      idx.push_back(-1);
      for (std::int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
    } else {
      for (std::int64_t i = 0; i < n; ++i) idx.push_back(i);
    }
    return idx;
  }

  // Writes the sub-tensor at `offset` starting at `dim`; `indent` is the column
  // where this bracket opens.
  void write(std::string& out, std::int64_t dim, std::int64_t offset, std::size_t indent) const {
    const auto rank = static_cast<std::int64_t>(shape.size());
    out += '[';
    const std::vector<std::int64_t> idx = shown(shape[dim]);
    if (dim == rank - 1) {
      // As PyTorch: floor((linewidth - indent) / (width + 2)) entries per line.
      const std::size_t per_line = std::max<std::size_t>(1, (kLineWidth - std::min(indent, kLineWidth)) / (format.width + 2));
      std::size_t on_line = 0;
      for (std::size_t i = 0; i < idx.size(); ++i) {
        if (i > 0) {
          out += ',';
          if (on_line == per_line) {
            out += '\n' + std::string(indent + 1, ' ');
            on_line = 0;
          } else {
            out += ' ';
          }
        }
        out += idx[i] < 0 ? std::string(" ...") : cell(offset + idx[i]);  // PyTorch's ' ...' entry
        ++on_line;
      }
    } else {
      const std::string gap = std::string(static_cast<std::size_t>(rank - dim - 1), '\n') + std::string(indent + 1, ' ');
      for (std::size_t i = 0; i < idx.size(); ++i) {
        if (i > 0) out += ',' + gap;
        if (idx[i] < 0) {
          out += "...";
        } else {
          write(out, dim + 1, offset + idx[i] * strides[dim], indent + 1);
        }
      }
    }
    out += ']';
  }
};

}  // namespace

std::string to_string(const Tensor& tensor) {
  if (!tensor.defined()) return "[ undefined Tensor ]";
  const Shape& shape = tensor.shape();
  const std::int64_t n = tensor.numel();
  std::vector<double> values(static_cast<std::size_t>(n));
  // int64 and bool elements print as Python prints them ("12", "True"), right-aligned to the widest shown.
  std::vector<std::string> texts;
  dispatch_all(tensor.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* data = tensor.data_ptr<T>();
    if constexpr (std::is_floating_point_v<T>) {
      for (std::int64_t i = 0; i < n; ++i) values[i] = data[i];
    } else {
      texts.resize(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, bool>) {
          texts[i] = data[i] ? "True" : "False";
        } else {
          texts[i] = fmt::format("{}", data[i]);
        }
      }
    }
  });
  auto text_format = [&](const std::vector<std::int64_t>& shown) {
    Formatter f;
    for (std::int64_t i : shown) f.width = std::max(f.width, texts[i].size());
    return f;
  };
  const bool summarize = n > kSummarizeAbove;
  std::string out = "tensor(";
  std::vector<std::string> suffixes;
  if (shape.empty()) {
    out += texts.empty() ? choose_format(values).raw(values[0]) : texts[0];  // a 0-dim tensor: the bare value
  } else if (n == 0) {
    out += "[]";
    // PyTorch shows the shape of an empty tensor unless it is (0,), as NumPy.
    if (shape.size() != 1) suffixes.push_back(fmt::format("size=({})", fmt::join(shape, ", ")));
  } else {
    Printer printer{shape, contiguous_strides(shape), summarize, {}, {}, {}};
    // Choose the format from the elements that will be shown.
    if (summarize) {
      std::vector<double> visible;
      std::vector<std::int64_t> visible_index;
      std::vector<std::int64_t> index(shape.size(), 0);
      for (std::int64_t i = 0; i < n; ++i) {
        bool edge = true;
        std::int64_t rest = i;
        for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
          const std::int64_t k = rest % shape[d];
          rest /= shape[d];
          if (shape[d] > 2 * kEdgeItems && k >= kEdgeItems && k < shape[d] - kEdgeItems) edge = false;
        }
        if (edge) {
          visible.push_back(values[i]);
          visible_index.push_back(i);
        }
      }
      printer.format = texts.empty() ? choose_format(visible) : text_format(visible_index);
    } else {
      std::vector<std::int64_t> all(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) all[i] = i;
      printer.format = texts.empty() ? choose_format(values) : text_format(all);
    }
    printer.values = std::move(values);
    printer.texts = std::move(texts);
    printer.write(out, 0, 0, 7);
  }
  // As PyTorch: the dtype shows unless it is the default float32, or int64 and
  // bool (which a literal would infer) for a tensor that has elements.
  const bool inferred_dtype = tensor.dtype() == kFloat32 || (n > 0 && !is_floating_point(tensor.dtype()));
  if (!inferred_dtype) suffixes.push_back(fmt::format("dtype={}", tensor.dtype()));
  if (tensor.grad_fn()) {
    suffixes.push_back(fmt::format("grad_fn=<{}>", tensor.grad_fn_name()));
  } else if (tensor.requires_grad()) {
    suffixes.push_back("requires_grad=True");
  }
  for (const std::string& s : suffixes) out += ", " + s;
  return out + ")";
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) { return out << to_string(tensor); }

}  // namespace xgrad
