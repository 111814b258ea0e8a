"""A parallel map that does visible work: count the primes in ranges, each in a container."""

import time

import gworker_client as gw

app = gw.App("parallel-primes")


@app.function(max_workers=4)
def count_primes(start: int, stop: int) -> int:
    sieve_limit = int(stop**0.5) + 1
    small = [p for p in range(2, sieve_limit) if all(p % q for q in range(2, int(p**0.5) + 1))]
    return sum(1 for n in range(max(start, 2), stop) if all(n % p for p in small if p * p <= n))


@app.local_entrypoint()
def main(limit: int = 2_000_000, chunks: int = 40):
    step = limit // chunks
    starts = list(range(0, limit, step))
    began = time.perf_counter()
    total = sum(count_primes.starmap((s, min(s + step, limit)) for s in starts))
    elapsed = time.perf_counter() - began
    print(f"{total} primes below {limit:,}, counted in {chunks} chunks in {elapsed:.2f}s")
