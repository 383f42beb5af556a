#ifndef TENSORWIRE_CPREFETCH_H
#define TENSORWIRE_CPREFETCH_H

// A software prefetch, which Swift has no spelling for. Static inline, so it compiles into the caller as one
// prefetch instruction (it never faults, whatever the address). Imported only by AVX512Kernels.
static inline __attribute__((always_inline)) void tw_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
