#define PYRERANK_ISA_AVX512
#define PYRERANK_ISA_NAMESPACE isa_avx512
#define PYRERANK_ISA_NAME "avx512"
#include "dot_block_impl.hpp"
