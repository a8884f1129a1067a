#include "replay.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace pyrerank {

double decay_pulls(const double* weights, const double* timestamps, std::int64_t n, double per_second,
                   double per_event, float* positive, float* negative) {
  std::vector<double> latest(static_cast<std::size_t>(n));
  double running = timestamps[0];
  for (std::int64_t i = 0; i < n; ++i) latest[i] = running = std::max(running, timestamps[i]);
  const double last = latest[n - 1];
  for (std::int64_t i = 0; i < n; ++i) {
    const double pull = std::fabs(weights[i]) * std::exp((last - latest[i]) * per_second +
                                                         static_cast<double>(n - 1 - i) * per_event);
    positive[i] = weights[i] > 0.0 ? static_cast<float>(pull) : 0.0f;
    negative[i] = weights[i] > 0.0 ? 0.0f : static_cast<float>(pull);
  }
  return last;
}

double decay_replay(const float* vectors, std::int64_t n, std::int64_t d, const double* weights,
                    const double* timestamps, double per_second, double per_event, float* pos, float* neg) {
  std::vector<float> positive(static_cast<std::size_t>(n)), negative(static_cast<std::size_t>(n));
  const double latest =
      decay_pulls(weights, timestamps, n, per_second, per_event, positive.data(), negative.data());
  std::fill(pos, pos + d, 0.0f);
  std::fill(neg, neg + d, 0.0f);
  for (std::int64_t i = 0; i < n; ++i) {
    const float* row = vectors + i * d;
    const float p = positive[i], q = negative[i];
    for (std::int64_t j = 0; j < d; ++j) {
      pos[j] += p * row[j];
      neg[j] += q * row[j];
    }
  }
  return latest;
}

}  // namespace pyrerank
