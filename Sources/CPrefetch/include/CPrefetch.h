#ifndef TENSORWIRE_CPREFETCH_H
#define TENSORWIRE_CPREFETCH_H

// A software prefetch, which Swift has no spelling for. Static inline, so it compiles into the caller as one
// prefetch instruction (it never faults, whatever the address). Imported only by AVX512Kernels.
static inline __attribute__((always_inline)) void tw_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

// The same into the outer caches only (prefetcht1): for data wanted a whole panel block later, which must not push
// the block in use out of L1.
static inline __attribute__((always_inline)) void tw_prefetch_outer(const void *address) {
    __builtin_prefetch(address, 0, 2);
}

#endif
