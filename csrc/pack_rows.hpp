// int8 packing of float32 rows (a cold user's interest state): each row as steps of
// max|row| / 127, the step and its reciprocal taken in double so that no tiny row underflows.
#pragma once
#include <cstdint>

namespace pyrerank {

// peaks[i] = max |rows[i, :]|; steps[i, j] = round(rows[i, j] * 127 / peaks[i]) (0 for a zero row).
void pack_rows(const float* rows, std::int64_t m, std::int64_t d, float* peaks, std::int8_t* steps);

// out[i, j] = steps[i, j] * peaks[i] / 127: within half a step of the row that was packed.
void unpack_rows(const float* peaks, const std::int8_t* steps, std::int64_t m, std::int64_t d, float* out);

// out[i, j] = matrix[rows[i], j] * scale[rows[i]]: int8 catalog rows as the float32 unit vectors
// they stand for (scale = 1 / ||row||), gathered and scaled in one pass.
void scaled_rows(const std::int8_t* matrix, std::int64_t d, const std::int64_t* rows, std::int64_t n,
                 const float* scale, float* out);

}  // namespace pyrerank
