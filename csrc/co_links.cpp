#include "co_links.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace pyrerank {

void co_bump(const CoLinks& links, std::int64_t a, std::int64_t b, float amount) {
  std::int32_t* neighbors = links.neighbors + a * links.k;
  float* counts = links.counts + a * links.k;
  std::int32_t size = links.sizes[a];
  const bool full = size >= links.k;
  std::int32_t weakest = 0;  // when full: found in the same pass as b (one read of the slots, not two)
  for (std::int32_t i = 0; i < size; ++i) {
    if (neighbors[i] == b) {
      counts[i] += amount;
      ++links.versions[a];
      return;
    }
    if (full && counts[i] < counts[weakest]) weakest = i;
  }
  if (full) {
    if (counts[weakest] > amount) return;
    std::size_t tail = static_cast<std::size_t>(size - weakest - 1);
    std::memmove(neighbors + weakest, neighbors + weakest + 1, tail * sizeof(std::int32_t));
    std::memmove(counts + weakest, counts + weakest + 1, tail * sizeof(float));
    --size;
  }
  neighbors[size] = static_cast<std::int32_t>(b);
  counts[size] = amount;
  links.sizes[a] = size + 1;
  ++links.versions[a];
}

std::int64_t co_user_scores(const CoLinks& links, const std::int64_t* recent, std::int64_t m, double decay,
                            float* scratch, std::int64_t* out_rows, float* out_values) {
  std::int64_t p = 0;
  for (std::int64_t j = 0; j < m; ++j) {
    const std::int64_t row = recent[j];
    const float weight = static_cast<float>(std::pow(decay, static_cast<double>(m - 1 - j)));
    const std::int32_t* neighbors = links.neighbors + row * links.k;
    const float* counts = links.counts + row * links.k;
    for (std::int32_t i = 0; i < links.sizes[row]; ++i) {
      const std::int32_t other = neighbors[i];
      if (scratch[other] == 0.0f) out_rows[p++] = other;
      scratch[other] += counts[i] * weight;
    }
  }
  std::sort(out_rows, out_rows + p);
  for (std::int64_t i = 0; i < p; ++i) {
    out_values[i] = scratch[out_rows[i]];
    scratch[out_rows[i]] = 0.0f;
  }
  return p;
}

}  // namespace pyrerank
