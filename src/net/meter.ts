/**
 * Body bytes received over HTTP(S) by this process (one run of the agent), failed and resumed
 * transfers included: what the metrics file reports as downloaded. A module of its own so that
 * reading it does not load undici.
 */
export const received = { bytes: 0 };
