// Photos as object URLs for <img>, fetched once through photo() and kept for
// the last few dozen shown (older URLs are revoked to free their memory).
import { photoUrl } from './api'

const KEEP = 60
const cache = new Map<string, Promise<string>>()

export function photoSrc(sha256: string): Promise<string> {
  const known = cache.get(sha256)
  if (known) {
    // Most recently used last.
    cache.delete(sha256)
    cache.set(sha256, known)
    return known
  }
  const loading = photoUrl(sha256)
  cache.set(sha256, loading)
  loading.catch(() => cache.delete(sha256))
  while (cache.size > KEEP) {
    const [oldest, url] = cache.entries().next().value as [string, Promise<string>]
    cache.delete(oldest)
    void url.then((u) => URL.revokeObjectURL(u)).catch(() => undefined)
  }
  return loading
}

export function clearPhotoCache() {
  for (const url of cache.values()) void url.then((u) => URL.revokeObjectURL(u)).catch(() => undefined)
  cache.clear()
}
