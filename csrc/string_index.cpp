#include "string_index.hpp"

namespace pyrerank {

std::uint64_t StringIndex::hash(std::string_view key) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  return h ^ (h >> 29);
}

void StringIndex::grow() {
  const std::size_t cap = slots_.empty() ? 1024 : 2 * slots_.size();
  slots_.assign(cap, -1);
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    std::size_t s = hashes_[i] & (cap - 1);
    while (slots_[s] >= 0) s = (s + 1) & (cap - 1);
    slots_[s] = static_cast<std::int64_t>(i);
  }
}

void StringIndex::insert(std::string_view key, std::int64_t row) {
  if (find(key) >= 0) return;
  if (2 * (keys_.size() + 1) > slots_.size()) grow();
  const std::uint64_t h = hash(key);
  std::size_t s = h & (slots_.size() - 1);
  while (slots_[s] >= 0) s = (s + 1) & (slots_.size() - 1);
  slots_[s] = static_cast<std::int64_t>(keys_.size());
  keys_.emplace_back(key);
  rows_.push_back(row);
  hashes_.push_back(h);
}

std::int64_t StringIndex::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const std::uint64_t h = hash(key);
  for (std::size_t s = h & (slots_.size() - 1);; s = (s + 1) & (slots_.size() - 1)) {
    const std::int64_t i = slots_[s];
    if (i < 0) return -1;
    if (hashes_[i] == h && keys_[i] == key) return rows_[i];
  }
}

}  // namespace pyrerank
