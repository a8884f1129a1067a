#define PYRERANK_ISA_GENERIC
#define PYRERANK_ISA_NAMESPACE isa_generic
#define PYRERANK_ISA_NAME "generic"
#include "dot_block_impl.hpp"
