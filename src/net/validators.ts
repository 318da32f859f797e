/**
 * A copy's validators (RFC 9110 section 8.8) and the conditional request they make. A module of
 * its own, without the HTTP client: the poll record (src/poll/keep.ts) computes the same
 * headers for a run that must not load undici (an offline repository).
 */
export interface Validators {
  etag?: string | undefined;
  lastModified?: string | undefined;
}

export function conditionalHeaders(v: Validators | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (v?.etag) headers['if-none-match'] = v.etag;
  if (v?.lastModified) headers['if-modified-since'] = v.lastModified;
  return headers;
}
