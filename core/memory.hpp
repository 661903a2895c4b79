// The cache of freed tensor buffers (core/storage.cpp), and how to empty it.
//
// Freed buffers of 256 KiB to 32 MiB wait, up to 256 MiB in all, for the next request of the same
// size: a training step asks for the same sizes every step, and a recycled buffer saves the
// system's page faults and zero-fill. Larger buffers go back to the system as soon as their last
// tensor is gone, and a request of a size the cache does not hold first returns everything it holds.
//
//   { Tensor big = zeros({1 << 24}); }   // 64 MiB: returned to the system at once
//   xgrad::empty_cache();                // and the waiting smaller buffers too (cached_bytes() == 0)
#pragma once

#include <cstdint>

namespace xgrad {

// Returns every buffer the cache holds to the system, and asks malloc to give back its free pages
// (torch.cuda.empty_cache()'s role). Tensors in use are untouched; thread-safe.
void empty_cache();

// Bytes of freed buffers the cache holds for reuse.
std::int64_t cached_bytes();

}  // namespace xgrad
