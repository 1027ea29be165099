// Promise-based pauses for the benches.

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A uniformly random pause in [minMs, maxMs). */
export const randomPause = (minMs: number, maxMs: number): Promise<void> => sleep(minMs + Math.random() * (maxMs - minMs));
