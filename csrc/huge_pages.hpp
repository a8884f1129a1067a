// An allocator for large, randomly probed tables: blocks of 2 MiB or more are aligned to 2 MiB
// and, on Linux, advised to use transparent huge pages (numpy does the same for its arrays), so
// a random probe costs a cache miss but rarely a TLB miss and page walk as well.
#pragma once
#include <algorithm>
#include <cstddef>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pyrerank {

template <class T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    void* p = ::operator new(bytes, alignment(bytes));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= kHuge) madvise(p, bytes, MADV_HUGEPAGE);  // advice: where refused, small pages
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept { ::operator delete(p, alignment(n * sizeof(T))); }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const HugePageAllocator<U>&) const noexcept {
    return false;
  }

 private:
  static constexpr std::size_t kHuge = std::size_t{1} << 21;
  static std::align_val_t alignment(std::size_t bytes) {
    return std::align_val_t(
        std::max<std::size_t>(bytes >= kHuge ? kHuge : alignof(std::max_align_t), alignof(T)));
  }
};

}  // namespace pyrerank
