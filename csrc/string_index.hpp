// String item id -> catalog row, for resolving str candidate ids without a Python dict
// lookup per candidate: open addressing over 64-bit hashes, keys owned here.
//
// Lookups may run on other threads while keys are inserted (the Reranker resolves a request's
// ids outside its catalog lock and the GIL): a reader takes table() and looks up in that. An
// insert fills an empty slot and publishes its row last (release/acquire), so a reader sees the
// slot empty or whole; growing builds a new table and leaves readers of the old one theirs; key
// bytes never move. Inserts themselves must not run concurrently with each other.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "huge_pages.hpp"

namespace pyrerank {

class StringIndex {
 public:
  // One 32-byte record per slot, never split across cache lines: the hash and row, and the
  // key's bytes themselves when they fit (most ids do), so a lookup touches one line, not two.
  static constexpr std::uint32_t kInline = 16;
  struct alignas(32) Slot {
    std::uint64_t hash = 0;
    std::atomic<std::int32_t> row{-1};  // -1: empty; written last
    std::uint32_t length = 0;
    union {
      char bytes[kInline] = {};  // length <= kInline
      const char* where;         // length > kInline: the key's bytes in a block of the arena
    };
  };
  using Table = std::vector<Slot, HugePageAllocator<Slot>>;

  // Maps key to row; a key already present keeps its first row (rows never move).
  void insert(std::string_view key, std::int64_t row);
  // The current slots, for find_many on any thread while inserts go on.
  std::shared_ptr<const Table> table() const { return table_; }
  // out[i] = the row of keys[i] in `table`, or -1. A pipelined pass: each key's slot is fetched
  // well before it is probed, so the n lookups' cache misses overlap instead of queueing.
  static void find_many(const Table& table, const std::string_view* keys, std::int64_t n, std::int64_t* out);
  std::size_t size() const { return size_; }

 private:
  static std::uint64_t hash(std::string_view key);
  static std::int64_t find(const Table& table, std::string_view key, std::uint64_t h);
  // Fills the first empty slot on h's probe path, the row last.
  static void place(Table& table, std::uint64_t h, std::int32_t row, std::uint32_t length, const Slot& key);
  void grow();
  const char* keep(std::string_view key);

  std::shared_ptr<Table> table_;
  std::vector<std::unique_ptr<char[]>> arena_;  // keys longer than kInline, in blocks that never move
  char* arena_next_ = nullptr;                  // free bytes at the end of the last block
  std::size_t arena_left_ = 0;
  std::size_t size_ = 0;
};

}  // namespace pyrerank
