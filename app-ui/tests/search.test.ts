import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }))
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn(async () => () => {}) }))

import { invoke } from '@tauri-apps/api/core'
import { fireEvent, render, screen } from '@testing-library/vue'
import type { RecordData } from '../src/api'
import { createSearch } from '../src/search'
import { loadSchema, schema } from '../src/schema'
import { grids, resetState, status } from '../src/state'
import Registry from '../src/views/Registry.vue'
import { SCHEMA } from '../dev/schema'
import { backend, GRIDS, plugins, READY, settle } from './helpers'

const resident = (i: number, name = `张${i}`): RecordData => ({ id: `r${i}`, kind: 'resident', grid: 'C1-01', name })

/** A search whose answers the test releases by hand. */
function deferredSearch() {
  const calls: { text: string; limit: number; resolve: (r: RecordData[]) => void }[] = []
  const search = vi.fn((text: string, limit: number) => new Promise<RecordData[]>((resolve) => calls.push({ text, limit, resolve })))
  return { search, calls }
}

describe('the resident search', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('waits for a pause in typing, then asks once with the latest text', async () => {
    const { search, calls } = deferredSearch()
    const s = createSearch({ search })
    s.setText('张')
    vi.advanceTimersByTime(100)
    s.setText('张三')
    vi.advanceTimersByTime(100)
    s.setText('张三丰')
    expect(search).not.toHaveBeenCalled()
    vi.advanceTimersByTime(150)
    expect(search).toHaveBeenCalledTimes(1)
    expect(search).toHaveBeenCalledWith('张三丰', 50)
    calls[0].resolve([resident(1, '张三丰')])
    await vi.runAllTimersAsync()
    expect(s.results.value.map((r) => r.name)).toEqual(['张三丰'])
    expect(s.query.value).toBe('张三丰')
  })

  it('ignores an answer that comes after a newer question', async () => {
    const { search, calls } = deferredSearch()
    const s = createSearch({ search })
    s.setText('张')
    vi.advanceTimersByTime(150)
    s.setText('张三')
    vi.advanceTimersByTime(150)
    expect(calls.map((c) => c.text)).toEqual(['张', '张三'])
    // The newer answer first, then the stale one.
    calls[1].resolve([resident(3, '张三')])
    await vi.runAllTimersAsync()
    calls[0].resolve([resident(1, '张一'), resident(2, '张二')])
    await vi.runAllTimersAsync()
    expect(s.results.value.map((r) => r.name)).toEqual(['张三'])
    expect(s.query.value).toBe('张三')
    expect(s.loading.value).toBe(false)
  })

  it('drops answers still coming when the box is cleared', async () => {
    const { search, calls } = deferredSearch()
    const s = createSearch({ search })
    s.setText('张')
    vi.advanceTimersByTime(150)
    s.setText('')
    calls[0].resolve([resident(1)])
    await vi.runAllTimersAsync()
    expect(s.results.value).toEqual([])
    expect(search).toHaveBeenCalledTimes(1)
  })

  it('shows the first 50 and loads 50 more on demand', async () => {
    const { search, calls } = deferredSearch()
    const s = createSearch({ search })
    s.setText('张')
    vi.advanceTimersByTime(150)
    calls[0].resolve(Array.from({ length: 50 }, (_, i) => resident(i)))
    await vi.runAllTimersAsync()
    expect(s.results.value).toHaveLength(50)
    expect(s.hasMore.value).toBe(true)
    const more = s.loadMore()
    expect(search).toHaveBeenLastCalledWith('张', 100)
    calls[1].resolve(Array.from({ length: 73 }, (_, i) => resident(i)))
    await more
    expect(s.results.value).toHaveLength(73)
    expect(s.hasMore.value).toBe(false)
    await s.loadMore()
    expect(search).toHaveBeenCalledTimes(2)
  })

  it('does not ask for blank text', () => {
    const { search } = deferredSearch()
    const s = createSearch({ search })
    s.setText('   ')
    vi.advanceTimersByTime(500)
    expect(search).not.toHaveBeenCalled()
  })
})

describe('the registry search box', () => {
  beforeEach(async () => {
    resetState()
    status.value = READY
    grids.value = GRIDS
    schema.value = null
    backend(vi.mocked(invoke), {
      schema: () => SCHEMA,
      list_records: () => [],
      search_residents: (args) => {
        const { text, limit } = args as { text: string; limit: number }
        return Array.from({ length: Math.min(limit, 60) }, (_, i) => ({ ...resident(i, `${text}${i}`), sex: 'male', id_number: '33070219530315121X' }))
      },
    })
    await loadSchema()
  })

  it('lists residents as the worker types, a page at a time', async () => {
    const { router, plugins: p } = plugins()
    await router.push('/registry')
    render(Registry, { global: { plugins: p } })
    const box = screen.getByTestId('registry-search')
    await fireEvent.update(box, '张')
    expect(screen.queryAllByTestId('registry-result')).toHaveLength(0)
    await new Promise((r) => setTimeout(r, 200))
    await settle()
    const rows = screen.getAllByTestId('registry-result')
    expect(rows).toHaveLength(50)
    expect(rows[0].textContent).toContain('张0')
    expect(rows[0].textContent).toContain('男')
    // The ID number is masked in the list.
    expect(rows[0].textContent).toContain('330702********121X')
    expect(vi.mocked(invoke)).toHaveBeenCalledWith('search_residents', { text: '张', limit: 50 }, undefined)
    await fireEvent.click(screen.getByTestId('registry-more'))
    await settle()
    expect(screen.getAllByTestId('registry-result')).toHaveLength(60)
    expect(screen.queryByTestId('registry-more')).toBeNull()
  })
})
