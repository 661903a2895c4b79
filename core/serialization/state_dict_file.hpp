// Weight files by extension: a whole state dict in or out in one call.
//
//   StateDict sd = load_state_dict_file("net.pt");     // torch.save(model.state_dict(), "net.pt")
//   save_state_dict_file("net.safetensors", model.state_dict());
//
//   .pt / .pth     PyTorch's torch.save zip format; read weights-only, like
//                  torch.load(weights_only=True): nothing in the file can run code.
//   .npz           NumPy's np.savez archive of .npy files.
//   .safetensors   Hugging Face's safetensors (JSON header + raw little-endian data).
//   anything else  xgrad's own tensor file (core/serialization/tensor_file.hpp).
//
// nn::Module::save / load use these. Every failure is an xgrad::Error naming the
// operation, the file and the problem; a failed save leaves the previous file.
#pragma once

#include <string>

#include "core/state_dict.hpp"

namespace xgrad {

enum class WeightFormat { Xgrad, Torch, Npz, Safetensors };

// The format `path`'s extension selects (case-insensitive).
WeightFormat weight_format_of(const std::string& path);

StateDict load_state_dict_file(const std::string& path);
void save_state_dict_file(const std::string& path, const StateDict& state_dict);

}  // namespace xgrad
