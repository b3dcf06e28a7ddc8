import { onActivated, onBeforeUnmount, onDeactivated, onMounted, ref, shallowRef } from 'vue'
import { useRouter } from 'vue-router'
import { api, type ListQuery, type RecordData } from './api'

/** The current time, ticking every `everyMs` while the component is shown. */
export function useNow(everyMs = 30_000) {
  const now = ref(Date.now())
  let timer: ReturnType<typeof setInterval> | null = null
  const start = () => {
    stop()
    now.value = Date.now()
    timer = setInterval(() => (now.value = Date.now()), everyMs)
  }
  const stop = () => {
    if (timer) clearInterval(timer)
    timer = null
  }
  onMounted(start)
  onActivated(start)
  onDeactivated(stop)
  onBeforeUnmount(stop)
  return now
}

/** Back to where the worker came from, or to `fallback` when the page was opened directly. */
export function useBack() {
  const router = useRouter()
  return (fallback = '/today') => {
    const state = typeof window !== 'undefined' ? (window.history.state as { back?: string } | null) : null
    if (state?.back) router.back()
    else void router.replace(fallback)
  }
}

/** A list_records query shown a page at a time ("加载更多"), oldest first as the store gives them. */
export function usePagedList(query: () => ListQuery | null, pageSize = 100) {
  const items = shallowRef<RecordData[]>([])
  const loading = ref(false)
  const hasMore = ref(false)
  const error = shallowRef<unknown>(null)
  let seq = 0

  async function fetch(more: boolean) {
    const q = query()
    const mine = ++seq
    if (!q) {
      items.value = []
      hasMore.value = false
      return
    }
    loading.value = true
    try {
      const after = more ? items.value[items.value.length - 1]?.id : undefined
      const page = await api.listRecords({ ...q, after, limit: pageSize })
      if (mine !== seq) return
      items.value = more ? [...items.value, ...page] : page
      hasMore.value = page.length >= pageSize
      error.value = null
    } catch (e) {
      if (mine === seq) error.value = e
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  return { items, loading, hasMore, error, reload: () => fetch(false), more: () => fetch(true) }
}
