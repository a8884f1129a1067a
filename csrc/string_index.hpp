// String item id -> catalog row, for resolving str candidate ids without a Python dict
// lookup per candidate: open addressing over 64-bit hashes, keys owned here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "huge_pages.hpp"

namespace pyrerank {

class StringIndex {
 public:
  // Maps key to row; a key already present keeps its first row (rows never move).
  void insert(std::string_view key, std::int64_t row);
  // out[i] = the row of keys[i], or -1. A pipelined pass: each key's slot is fetched well before
  // it is probed, so the n lookups' cache misses overlap instead of queueing one behind another.
  void find_many(const std::string_view* keys, std::int64_t n, std::int64_t* out) const;
  std::size_t size() const { return size_; }

 private:
  // One 32-byte record per slot, never split across cache lines: the hash and row, and the
  // key's bytes themselves when they fit (most ids do), so a lookup touches one line, not two.
  static constexpr std::uint32_t kInline = 16;
  struct alignas(32) Slot {
    std::uint64_t hash = 0;
    std::int32_t row = -1;  // -1: empty
    std::uint32_t length = 0;
    union {
      char bytes[kInline] = {};  // length <= kInline
      std::uint64_t offset;      // length > kInline: key bytes in arena_
    };
  };
  const char* key_bytes(const Slot& slot) const {
    return slot.length <= kInline ? slot.bytes : arena_.data() + slot.offset;
  }
  static std::uint64_t hash(std::string_view key);
  std::int64_t find(std::string_view key, std::uint64_t h) const;
  void place(const Slot& slot);
  void grow();

  std::string arena_;  // the bytes of keys longer than kInline, back to back
  std::vector<Slot, HugePageAllocator<Slot>> slots_;
  std::size_t size_ = 0;
};

}  // namespace pyrerank
