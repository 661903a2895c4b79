// Placeholder until the npz reader/writer lands: refuses with a clear error.
#include "core/error.hpp"
#include "core/serialization/formats.hpp"

namespace xgrad::detail {

StateDict read_npz(const std::string& path, const std::string& op) {
  fail("{}: '{}': this format is not supported yet", op, path);
}
void write_npz(const std::string& path, const StateDict&, const std::string& op) {
  fail("{}: '{}': this format is not supported yet", op, path);
}

}  // namespace xgrad::detail
