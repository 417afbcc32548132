/* Hashing and seeded random streams: the same bits on every machine, so
 * that shards, shuffles, augmentation and --init-random weights do not
 * depend on the platform. */
#ifndef BASE_MIX_H
#define BASE_MIX_H

#include <stddef.h>
#include <stdint.h>

/* SplitMix64's increment: a stream's state moves by it each draw. */
#define MIX_GAMMA UINT64_C(0x9e3779b97f4a7c15)

/* A bijective mixer for combining seeds: SplitMix64's output for state x. */
uint64_t mix_u64(uint64_t x);
/* 64-bit hash of bytes (FNV-1a, then mixed). */
uint64_t mix_hash_bytes(const void *p, size_t n);
/* The next number of the SplitMix64 stream in *state. */
uint64_t mix_splitmix64(uint64_t *state);

#endif
