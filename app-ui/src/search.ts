// The registry's search box: asks as the worker types, after a pause, and
// shows only the answer to the latest text (a slow answer to "张" never
// overwrites the one to "张三").
import { ref, shallowRef } from 'vue'
import type { RecordData } from './api'

export interface SearchOptions {
  search: (text: string, limit: number) => Promise<RecordData[]>
  debounceMs?: number
  pageSize?: number
}

export function createSearch({ search, debounceMs = 150, pageSize = 50 }: SearchOptions) {
  const text = ref('')
  /** The text the shown results answer. */
  const query = ref('')
  const results = shallowRef<RecordData[]>([])
  const loading = ref(false)
  const hasMore = ref(false)
  const error = shallowRef<unknown>(null)
  let limit = pageSize
  let seq = 0
  let timer: ReturnType<typeof setTimeout> | null = null

  async function run(q: string, want: number) {
    const mine = ++seq
    loading.value = true
    try {
      const found = await search(q, want)
      if (mine !== seq) return // a newer question was asked meanwhile
      results.value = found
      query.value = q
      hasMore.value = found.length >= want
      error.value = null
    } catch (e) {
      if (mine !== seq) return
      error.value = e
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  /** The worker typed: ask after a pause, unless they type on. */
  function setText(next: string) {
    text.value = next
    if (timer) clearTimeout(timer)
    const q = next.trim()
    if (!q) {
      seq++ // answers still on their way are stale now
      timer = null
      results.value = []
      query.value = ''
      hasMore.value = false
      loading.value = false
      error.value = null
      return
    }
    timer = setTimeout(() => {
      timer = null
      limit = pageSize
      void run(q, limit)
    }, debounceMs)
  }

  /** The next page: the same text asked for more results. */
  function loadMore(): Promise<void> {
    const q = query.value
    if (!q || !hasMore.value) return Promise.resolve()
    limit += pageSize
    return run(q, limit)
  }

  function clear() {
    setText('')
  }

  return { text, query, results, loading, hasMore, error, setText, loadMore, clear }
}

export type Search = ReturnType<typeof createSearch>
