#include "item_counts.hpp"

#include <cmath>

// Built with -ffp-contract=off (CMakeLists.txt): a fused multiply-add would round differently
// from one process to another, and from statistics counted before this kernel existed.

namespace pyrerank {

void count_events(double* table, const std::int64_t* rows, const double* weights, const double* times,
                  std::int64_t n, double half_life) {
  for (std::int64_t i = 0; i < n; ++i) {
    double* entry = table + 4 * rows[i];
    const double weight = weights[i], t = times[i];
    const double since = t - entry[2] > 0.0 ? t - entry[2] : 0.0;
    const double fade = std::pow(0.5, since / half_life);
    entry[0] = std::log1p(std::expm1(entry[0]) + weight);
    const double faded = std::expm1(entry[1]) * fade;
    entry[1] = std::log1p(faded + weight);
    if (t > entry[2]) entry[2] = t;
    if (t > entry[3]) entry[3] = t;
  }
}

}  // namespace pyrerank
