#include "pack_rows.hpp"

#include <algorithm>
#include <cmath>

#include "prefetch.hpp"

namespace pyrerank {
namespace {

// Rows at least this large are scaled in float (vectorised, exact to float rounding); a smaller
// one in double, where 127 / peak and peak / 127 stay normal numbers.
constexpr float kFloatPeak = 1e-30f;

// Round to nearest (ties to even) for |v| < 2^22 with an add and a subtract, which vectorise
// where the target has no rounding instruction (IEEE arithmetic: the pair is not folded away).
inline float round_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

}  // namespace

void pack_rows(const float* rows, std::int64_t m, std::int64_t d, float* peaks, std::int8_t* steps) {
  for (std::int64_t i = 0; i < m; ++i) {
    const float* row = rows + i * d;
    std::int8_t* out = steps + i * d;
    float peak = 0.0f;
    for (std::int64_t j = 0; j < d; ++j) peak = std::max(peak, std::fabs(row[j]));
    peaks[i] = peak;
    if (peak >= kFloatPeak) {
      const float scale = 127.0f / peak;
      for (std::int64_t j = 0; j < d; ++j) out[j] = static_cast<std::int8_t>(round_even(row[j] * scale));
    } else {
      const double scale = peak > 0.0f ? 127.0 / static_cast<double>(peak) : 0.0;
      for (std::int64_t j = 0; j < d; ++j) out[j] = static_cast<std::int8_t>(std::nearbyint(row[j] * scale));
    }
  }
}

void unpack_rows(const float* peaks, const std::int8_t* steps, std::int64_t m, std::int64_t d, float* out) {
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int8_t* in = steps + i * d;
    float* row = out + i * d;
    if (peaks[i] >= kFloatPeak) {
      const float step = peaks[i] / 127.0f;
      for (std::int64_t j = 0; j < d; ++j) row[j] = static_cast<float>(in[j]) * step;
    } else {
      const double step = static_cast<double>(peaks[i]) / 127.0;
      for (std::int64_t j = 0; j < d; ++j) row[j] = static_cast<float>(in[j] * step);
    }
  }
}

void scaled_rows(const std::int8_t* matrix, std::int64_t d, const std::int64_t* rows, std::int64_t n,
                 const float* scale, float* out) {
  // A user's few rows, all requested before any is read: their misses overlap (a cold user's
  // replay reads 5-32 rows that are rarely in cache).
  for (std::int64_t i = 0; i < std::min<std::int64_t>(n, 64); ++i)
    for (std::int64_t j = 0; j < d; j += 64) prefetch(matrix + rows[i] * d + j);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int8_t* in = matrix + rows[i] * d;
    const float s = scale[rows[i]];
    float* row = out + i * d;
    for (std::int64_t j = 0; j < d; ++j) row[j] = static_cast<float>(in[j]) * s;
  }
}

}  // namespace pyrerank
