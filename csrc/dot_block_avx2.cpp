#define PYRERANK_ISA_AVX2
#define PYRERANK_ISA_NAMESPACE isa_avx2
#define PYRERANK_ISA_NAME "avx2"
#include "dot_block_impl.hpp"
