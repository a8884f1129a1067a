// String item id -> catalog row, for resolving str candidate ids without a Python dict
// lookup per candidate: open addressing over 64-bit hashes, keys owned here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pyrerank {

class StringIndex {
 public:
  // Maps key to row; a key already present keeps its first row (rows never move).
  void insert(std::string_view key, std::int64_t row);
  // out[i] = the row of keys[i], or -1. Hashes every key first and prefetches its slot, so the
  // n lookups' cache misses overlap instead of queueing one behind another.
  void find_many(const std::string_view* keys, std::int64_t n, std::int64_t* out) const;
  std::size_t size() const { return size_; }

 private:
  // One cache-friendly record per slot: the hash and row beside where the key's bytes live.
  struct Slot {
    std::uint64_t hash = 0;
    std::int64_t row = -1;                 // -1: empty
    std::uint32_t offset = 0, length = 0;  // key bytes in arena_
  };
  static std::uint64_t hash(std::string_view key);
  std::int64_t find(std::string_view key, std::uint64_t h) const;
  void place(const Slot& slot);
  void grow();

  std::string arena_;  // every key's bytes, back to back
  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace pyrerank
