// CRC-32C (Castagnoli) of a byte range, for checking saved arrays when they are opened.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pyrerank {

// The CRC-32C of n bytes (continuing from `crc`, 0 to start): SSE4.2's crc32 instruction where
// the CPU has it (~8 GB/s), a table elsewhere.
std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0);

}  // namespace pyrerank
