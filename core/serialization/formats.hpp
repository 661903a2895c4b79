// The readers and writers behind load_state_dict_file / save_state_dict_file.
// Each validates the whole file before returning and throws xgrad::Error naming
// `op`, the file and the problem; each writer goes through the atomic writer
// (core/file_io.hpp).
#pragma once

#include <string>

#include "core/state_dict.hpp"

namespace xgrad::detail {

// load_state_dict_file / save_state_dict_file with the caller's name in errors
// ("Module::load").
StateDict read_weight_file(const std::string& path, const std::string& op);
void write_weight_file(const std::string& path, const StateDict& state_dict, const std::string& op);

// .pt / .pth: torch.save(state_dict) zip files (core/serialization/torch_file.cpp).
StateDict read_torch_file(const std::string& path, const std::string& op);
void write_torch_file(const std::string& path, const StateDict& state_dict, const std::string& op);

// .npz: np.savez archives (core/serialization/npz.cpp).
StateDict read_npz(const std::string& path, const std::string& op);
void write_npz(const std::string& path, const StateDict& state_dict, const std::string& op);

// .safetensors (core/serialization/safetensors.cpp).
StateDict read_safetensors(const std::string& path, const std::string& op);
void write_safetensors(const std::string& path, const StateDict& state_dict, const std::string& op);

}  // namespace xgrad::detail
