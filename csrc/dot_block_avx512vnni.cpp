#define PYRERANK_ISA_AVX512
#define PYRERANK_ISA_NAMESPACE isa_avx512vnni
#define PYRERANK_ISA_NAME "avx512vnni"
#include "dot_block_impl.hpp"
