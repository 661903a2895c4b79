#include "core/serialization/state_dict_file.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/serialization/formats.hpp"
#include "core/serialization/tensor_file.hpp"

namespace xgrad {

WeightFormat weight_format_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".pt" || ext == ".pth") return WeightFormat::Torch;
  if (ext == ".npz") return WeightFormat::Npz;
  if (ext == ".safetensors") return WeightFormat::Safetensors;
  return WeightFormat::Xgrad;
}

StateDict detail::read_weight_file(const std::string& path, const std::string& op) {
  switch (weight_format_of(path)) {
    case WeightFormat::Torch: return detail::read_torch_file(path, op);
    case WeightFormat::Npz: return detail::read_npz(path, op);
    case WeightFormat::Safetensors: return detail::read_safetensors(path, op);
    case WeightFormat::Xgrad: break;
  }
  return load_tensors(path, op);
}

void detail::write_weight_file(const std::string& path, const StateDict& state_dict, const std::string& op) {
  switch (weight_format_of(path)) {
    case WeightFormat::Torch: return detail::write_torch_file(path, state_dict, op);
    case WeightFormat::Npz: return detail::write_npz(path, state_dict, op);
    case WeightFormat::Safetensors: return detail::write_safetensors(path, state_dict, op);
    case WeightFormat::Xgrad: break;
  }
  save_tensors(path, state_dict, op);
}

StateDict load_state_dict_file(const std::string& path) { return detail::read_weight_file(path, "load_state_dict_file"); }

void save_state_dict_file(const std::string& path, const StateDict& state_dict) {
  detail::write_weight_file(path, state_dict, "save_state_dict_file");
}

}  // namespace xgrad
