#include "co_scores.hpp"

#include <algorithm>
#include <utility>

namespace pyrerank {

int CoScores::bits_for(std::int64_t capacity) {
  int bits = 4;
  while ((std::size_t{1} << bits) * 3 < static_cast<std::size_t>(4 * capacity) + 4) ++bits;
  return bits;
}

CoScores::CoScores(std::int64_t capacity) {
  const int bits = bits_for(capacity);
  slots_.assign(std::size_t{1} << bits, Slot{-1, 0.0f});
  mask_ = slots_.size() - 1;
  shift_ = 64 - bits;
}

void CoScores::fit() {
  if ((std::size_t{1} << bits_for(size_)) == slots_.size()) return;
  CoScores out(size_);
  for (const Slot& slot : slots_)
    if (slot.row >= 0) out.add(slot.row, slot.value);
  *this = std::move(out);
}

void CoScores::sorted(std::int64_t* rows, float* values) const {
  std::vector<Slot> held;
  held.reserve(static_cast<std::size_t>(size_));
  for (const Slot& slot : slots_)
    if (slot.row >= 0) held.push_back(slot);
  std::sort(held.begin(), held.end(), [](const Slot& a, const Slot& b) { return a.row < b.row; });
  for (std::size_t i = 0; i < held.size(); ++i) {
    rows[i] = held[i].row;
    values[i] = held[i].value;
  }
}

}  // namespace pyrerank
