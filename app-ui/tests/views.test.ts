import { beforeEach, describe, expect, it, vi } from 'vitest'

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }))
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn(async () => () => {}) }))

import { invoke } from '@tauri-apps/api/core'
import { fireEvent, render, screen, waitFor } from '@testing-library/vue'
import type { RecordData, SyncState } from '../src/api'
import GridMap from '../src/components/GridMap.vue'
import { dropAllDrafts } from '../src/form'
import { fitProjection, parseRoute } from '../src/geo'
import { loadSchema, schema } from '../src/schema'
import { grids, resetState, status, syncState } from '../src/state'
import CaseDetail from '../src/views/CaseDetail.vue'
import Patrol from '../src/views/Patrol.vue'
import ReportCase from '../src/views/ReportCase.vue'
import RecordDetail from '../src/views/RecordDetail.vue'
import Settings from '../src/views/Settings.vue'
import Sync from '../src/views/Sync.vue'
import Today from '../src/views/Today.vue'
import { SCHEMA } from '../dev/schema'
import { backend, GRIDS, plugins, READY, settle, type Handler } from './helpers'

const invokeMock = vi.mocked(invoke)
const HOUR = 3_600_000

beforeEach(async () => {
  resetState()
  dropAllDrafts()
  invokeMock.mockReset()
  status.value = READY
  grids.value = GRIDS
  schema.value = null
  backend(invokeMock, { schema: () => SCHEMA })
  await loadSchema()
})

async function show(component: unknown, path: string, handlers: Record<string, Handler>, props: Record<string, unknown> = {}) {
  backend(invokeMock, { schema: () => SCHEMA, ...handlers })
  const { router, plugins: p } = plugins()
  await router.push(path)
  await router.isReady()
  const view = render(component as never, { props, global: { plugins: p } } as never)
  await settle()
  return { router, view }
}

describe('the grid map', () => {
  it('draws the boundary and turns a tap into the lon/lat under it', async () => {
    const boundary = GRIDS[1].boundary
    const { emitted } = render(GridMap, { props: { boundary, route: [], tappable: true }, global: { plugins: plugins().plugins } })
    const svg = screen.getByTestId('patrol-map')
    expect(svg.querySelector('path')?.getAttribute('d')).toMatch(/^M/)
    // The SVG is drawn 500 px wide: half its viewBox.
    svg.getBoundingClientRect = () => ({ left: 0, top: 0, width: 500, height: 320, right: 500, bottom: 320, x: 0, y: 0, toJSON: () => ({}) })
    await fireEvent.click(svg, { clientX: 250, clientY: 160 })
    const [lonlat] = emitted<[[number, number]]>().tap[0]
    // The middle of the map is the middle of the grid.
    expect(lonlat[0]).toBeCloseTo(119.645, 6)
    expect(lonlat[1]).toBeCloseTo(29.085, 6)
    // And a point drawn where it was tapped.
    const p = fitProjection({ minLon: 119.64, maxLon: 119.65, minLat: 29.08, maxLat: 29.09 }, 1000, 640, 36)
    const [x, y] = p.project(lonlat)
    expect(x / 2).toBeCloseTo(250, 6)
    expect(y / 2).toBeCloseTo(160, 6)
  })

  it('ignores taps unless asked for them', async () => {
    const { emitted } = render(GridMap, { props: { boundary: GRIDS[1].boundary, route: [] }, global: { plugins: plugins().plugins } })
    await fireEvent.click(screen.getByTestId('patrol-map'), { clientX: 10, clientY: 10 })
    expect(emitted().tap).toBeUndefined()
  })

  it('says so when the grid has no boundary and no route yet', () => {
    render(GridMap, { props: { boundary: null, route: [] }, global: { plugins: plugins().plugins } })
    expect(screen.getByText(/这个网格没有边界图/)).toBeTruthy()
  })
})

describe('a patrol', () => {
  it('starts, saves each change at once, and ends', async () => {
    let patrol: RecordData | null = null
    const puts: { id?: string; fields: Record<string, unknown> }[] = []
    await show(Patrol, '/patrol', {
      today: () => ({ tasks: [], cases: [], follow_ups: [], patrol, counts: {} }),
      put_record: (args) => {
        const { id, fields } = args as { id?: string; fields: Record<string, unknown> }
        puts.push({ id, fields })
        patrol = { ...(patrol ?? { id: 'p1', kind: 'patrol' }), ...(fields as object) } as RecordData
        return { id: 'p1' }
      },
      get_record: () => ({ record: patrol, fields: [], refused: [] }),
    })
    await fireEvent.click(screen.getByTestId('start-patrol'))
    await settle()
    expect(puts[0].id).toBeUndefined()
    expect(puts[0].fields).toMatchObject({ grid: 'C1-01', worker: '网格员何强艳' })
    expect(String(puts[0].fields.started_at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/)

    // Items from the schema's choices, saved when ticked.
    await fireEvent.click(screen.getByTestId('field-items-fire_safety').querySelector('input')!)
    await settle()
    expect(puts[1]).toEqual({ id: 'p1', fields: { items: ['fire_safety'] } })

    // No geolocation here: the map takes a tap instead, saved as a LineString.
    await fireEvent.click(screen.getByTestId('patrol-locate'))
    await settle(10)
    const svg = screen.getByTestId('patrol-map')
    svg.getBoundingClientRect = () => ({ left: 0, top: 0, width: 1000, height: 640, right: 1000, bottom: 640, x: 0, y: 0, toJSON: () => ({}) })
    await fireEvent.click(svg, { clientX: 500, clientY: 320 })
    await fireEvent.click(svg, { clientX: 600, clientY: 300 })
    await settle()
    const route = parseRoute(puts[puts.length - 1].fields.route)
    expect(route).toHaveLength(2)
    expect(route[0][0]).toBeCloseTo(119.645, 5)
    expect(route[0][1]).toBeCloseTo(29.085, 5)
    expect(screen.getByText('已记录 2 个位置')).toBeTruthy()
    await fireEvent.click(screen.getByTestId('patrol-undo'))
    await settle()
    expect(parseRoute(puts[puts.length - 1].fields.route)).toHaveLength(1)

    // Ending asks first; cancelling keeps the patrol going.
    await fireEvent.click(screen.getByTestId('end-patrol'))
    await fireEvent.click(await waitFor(() => screen.getByTestId('confirm-cancel')))
    await settle()
    expect(screen.getByTestId('end-patrol')).toBeTruthy()
    const before = puts.length
    await fireEvent.click(screen.getByTestId('end-patrol'))
    const oks = await waitFor(() => screen.getAllByTestId('confirm-ok'))
    await fireEvent.click(oks[oks.length - 1])
    await settle()
    expect(puts.length).toBe(before + 1)
    expect(Object.keys(puts[before].fields)).toEqual(['ended_at'])
    expect(String(puts[before].fields.ended_at)).toMatch(/\+08:00$/)
    await waitFor(() => screen.getByTestId('start-patrol'))
  })

  it('turns a finding into a case, prefilled', async () => {
    const patrol = {
      id: 'p1',
      kind: 'patrol',
      grid: 'C1-01',
      worker: '网格员何强艳',
      started_at: '2026-11-27T09:00:00+08:00',
      findings: '井盖破损',
      route: JSON.stringify({ type: 'LineString', coordinates: [[119.641, 29.081], [119.642, 29.082]] }),
    }
    const { router } = await show(Patrol, '/patrol', {
      today: () => ({ tasks: [], cases: [], follow_ups: [], patrol, counts: {} }),
      get_record: () => ({ record: patrol, fields: [], refused: [] }),
    })
    expect((screen.getByTestId('field-findings') as HTMLTextAreaElement).value).toBe('井盖破损')
    await fireEvent.click(screen.getByTestId('patrol-to-case'))
    await settle()
    expect(router.currentRoute.value.path).toBe('/cases/new')
    expect(router.currentRoute.value.query).toMatchObject({
      grid: 'C1-01',
      description: '井盖破损',
      longitude: '119.642',
      latitude: '29.082',
    })
  })
})

describe('reporting a case', () => {
  it('saves photos at once, shows them, and reports with status, time and reporter', async () => {
    const put = vi.fn((_args: unknown) => ({ id: 'c9' }))
    const addPhoto = vi.fn((_bytes: unknown, _options: unknown) => ({ sha256: 'a'.repeat(64), width: 10, height: 10, bytes: 3 }))
    URL.createObjectURL = vi.fn(() => 'blob:thumb')
    const { router } = await show(
      ReportCase,
      '/cases/new',
      {
        add_photo: addPhoto,
        photo: () => new Uint8Array([1, 2, 3]).buffer,
        put_record: put,
        sync_now: () => ({}),
      },
      { prefill: { description: '井盖破损', latitude: '29.08', longitude: '119.64' } },
    )
    await waitFor(() => screen.getByTestId('field-description'))
    expect((screen.getByTestId('field-description') as HTMLTextAreaElement).value).toBe('井盖破损')
    await fireEvent.click(screen.getByTestId('field-category'))
    await fireEvent.click(await waitFor(() => screen.getByTestId('field-category-public_facilities')))

    const file = new File([new Uint8Array([1, 2, 3])], 'IMG_1.jpg', { type: 'image/jpeg' })
    const input = screen.getByTestId('photo-input') as HTMLInputElement
    expect(input.getAttribute('capture')).toBe('environment')
    Object.defineProperty(input, 'files', { value: [file] })
    await fireEvent.change(input)
    await settle(10)
    expect(addPhoto).toHaveBeenCalledWith(new Uint8Array([1, 2, 3]), { headers: { 'x-file-name': 'IMG_1.jpg' } })
    await waitFor(() => expect(screen.getAllByTestId('photo-thumb')).toHaveLength(1))
    await waitFor(() => expect(screen.getByTestId('photo-thumb').querySelector('img')?.getAttribute('src')).toBe('blob:thumb'))

    await fireEvent.click(screen.getByTestId('form-save'))
    await settle()
    const fields = (put.mock.calls[0][0] as { fields: Record<string, unknown> }).fields
    expect(fields).toMatchObject({
      grid: 'C1-01',
      category: 'public_facilities',
      description: '井盖破损',
      urgency: 'normal',
      latitude: '29.08',
      longitude: '119.64',
      attachments: ['a'.repeat(64)],
      status: 'reported',
      reporter: '网格员何强艳',
    })
    expect(String(fields.reported_at)).toMatch(/\+08:00$/)
    expect(router.currentRoute.value.path).toBe('/cases/c9')
  })
})

describe('a case', () => {
  const record = {
    id: 'c1',
    kind: 'case',
    grid: 'C1-01',
    category: 'sanitation',
    description: '垃圾满溢',
    status: 'dispatched',
    deadline: new Date(Date.now() - 26 * HOUR).toISOString(),
    department: '环卫所',
  }

  it('shows its deadline passed, and closes when handled in the grid', async () => {
    const put = vi.fn(() => ({ id: 'c1' }))
    await show(CaseDetail, '/cases/c1', { get_record: () => ({ record, fields: [], refused: [] }), put_record: put }, { id: 'c1' })
    expect(screen.getAllByText('已派遣').length).toBeGreaterThan(0)
    expect(screen.getByTestId('due-tag').textContent?.trim()).toBe('超期 1天2小时')
    await fireEvent.click(screen.getByTestId('case-handle'))
    await fireEvent.click(await waitFor(() => screen.getByTestId('handle-confirm')))
    expect(screen.getByTestId('field-error-result').textContent?.trim()).toBe('请填写处置结果')
    expect(put).not.toHaveBeenCalled()
    await fireEvent.update(screen.getByTestId('field-result'), '已清运')
    await fireEvent.click(screen.getByTestId('handle-confirm'))
    await settle()
    expect(put).toHaveBeenCalledWith({ kind: 'case', id: 'c1', fields: { handled_in_grid: 'true', result: '已清运', status: 'closed' } }, undefined)
  })
})

describe('a record’s history', () => {
  it('shows who wrote each field, and conflicts plainly', async () => {
    const record = { id: 'r1', kind: 'resident', grid: 'C1-01', name: '张三', sex: 'male', phone: '13905791234' }
    await show(
      RecordDetail,
      '/record/resident/r1',
      {
        get_record: () => ({
          record,
          fields: [
            { name: 'name', value: '张三', writer: 7, writer_is_me: true, at_ms: Date.now(), conflicts: [] },
            { name: 'sex', value: 'male', writer: 0, writer_is_me: false, at_ms: Date.now(), conflicts: [] },
            {
              name: 'phone',
              value: '13905791234',
              writer: 12,
              writer_is_me: false,
              at_ms: Date.now(),
              conflicts: [{ value: '13800000000', writer: 7, at_ms: Date.now() - HOUR }],
            },
          ],
          refused: [
            { at_ms: Date.now(), id: 'r1', kind: 'resident', code: 'out_of_scope', field: 'grid', message: 'moved', message_zh: '已迁往其他网格' },
          ],
        }),
        list_records: () => [],
      },
      { kind: 'resident', id: 'r1' },
    )
    expect(screen.getByTestId('view-name').textContent).toContain('本机')
    expect(screen.getByTestId('view-sex').textContent).toContain('男')
    expect(screen.getByTestId('view-sex').textContent).toContain('中心')
    expect(screen.getByTestId('view-phone').textContent).toContain('设备 12')
    const conflict = screen.getByTestId('record-conflict')
    expect(conflict.textContent).toContain('与另一台设备同时修改：保留了 13905791234，另一个值 13800000000')
    expect(conflict.textContent).toContain('另一个值来自本机')
    expect(screen.getByTestId('record-refused').textContent).toContain('已迁往其他网格')
    expect(screen.getByTestId('visit')).toBeTruthy()
  })
})

describe('today', () => {
  it('lists open cases with their countdowns, overdue first as the store gives them', async () => {
    await show(Today, '/today', {
      today: () => ({
        tasks: [{ id: 't1', kind: 'task', title: '出租房屋信息采集', task_type: 'census', status: 'open', due: '2000-01-01' }],
        cases: [
          { id: 'c1', kind: 'case', category: 'sanitation', description: '垃圾满溢', status: 'dispatched', due_in_ms: -(2 * 24 + 3) * HOUR },
          { id: 'c2', kind: 'case', category: 'fire_safety', description: '通道堵塞', status: 'handling', due_in_ms: 5 * HOUR + 1000 },
        ],
        follow_ups: [],
        patrol: null,
        counts: {},
      }),
    })
    const rows = screen.getAllByTestId('today-case')
    expect(rows[0].textContent).toContain('环境卫生')
    expect(rows[0].textContent).toContain('超期 2天3小时')
    expect(rows[1].textContent).toContain('剩余 5小时')
    expect(rows[1].textContent).toContain('处置中')
    expect(screen.getByTestId('today-tasks').textContent).toContain('超期')
    expect(screen.getByTestId('today-patrol').textContent).toContain('开始巡查')
  })

  it('offers to continue a patrol that is running', async () => {
    await show(Today, '/today', {
      today: () => ({ tasks: [], cases: [], follow_ups: [], patrol: { id: 'p1', kind: 'patrol', grid: 'C1-01', started_at: new Date().toISOString() }, counts: {} }),
    })
    expect(screen.getByTestId('today-patrol').textContent).toContain('继续巡查')
  })
})

describe('the sync page', () => {
  const state: SyncState = {
    running: false,
    online: true,
    last_success_ms: Date.now() - HOUR,
    last_attempt_ms: Date.now(),
    pending_records: 4,
    pending_photos: 2,
    last_error: { code: 'network', message: 'connection refused', message_zh: '无法连接服务器' },
    progress: null,
    refused: [{ at_ms: Date.now(), id: 'r1', kind: 'resident', code: 'invalid', field: 'id_number', message: 'bad check digit', message_zh: '校验码错误' }],
    conflicts: 1,
  }

  it('says what waits and what went wrong, lists conflicts and starts a sync', async () => {
    const syncNow = vi.fn(() => ({ ...state, running: true, progress: { phase: 'pushing', pushed: 1, pending: 3 } }))
    await show(Sync, '/sync', {
      sync_state: () => state,
      sync_now: syncNow,
      conflicts: () => [
        { kind: 'resident', id: 'r1', field: 'sex', winner: { value: 'male', writer: 0, at_ms: 1 }, losers: [{ value: 'female', writer: 9, at_ms: 1 }] },
      ],
    })
    expect(screen.getByTestId('sync-pending').textContent).toContain('待上传记录 4 条')
    expect(screen.getByTestId('sync-error').textContent).toContain('暂时连不上服务器，记录已保存在本机')
    expect(screen.getByTestId('refused-item').textContent).toContain('校验码错误')
    expect(screen.getByTestId('refused-item').textContent).toContain('改正后重新保存')
    const conflict = screen.getByTestId('conflict-item')
    expect(conflict.textContent).toContain('人口 · 性别')
    expect(conflict.textContent).toContain('保留：男')
    expect(conflict.textContent).toContain('另一个值：女')
    await fireEvent.click(screen.getByTestId('sync-now'))
    await settle()
    expect(syncNow).toHaveBeenCalled()
    expect(syncState.value?.running).toBe(true)
    expect(screen.getByTestId('sync-headline').textContent).toContain('正在上传记录：已上传 1，还剩 3')
  })
})

describe('settings', () => {
  it('switches the language and remembers it', async () => {
    await show(Settings, '/settings', {})
    expect(screen.getByTestId('settings-key-store').textContent).toBe('密钥保存在本机文件（较弱）')
    await fireEvent.click(screen.getByTestId('lang-en'))
    expect(localStorage.getItem('gridwork.lang')).toBe('en')
    expect(screen.getByTestId('settings-key-store').textContent).toBe('The key is kept in a file on this tablet (weaker)')
    expect(screen.getByTestId('settings-device').textContent).toBe('7')
  })

  it('locks now', async () => {
    const lock = vi.fn(() => ({ ...READY, phase: 'locked' }))
    await show(Settings, '/settings', { lock })
    await fireEvent.click(screen.getByTestId('lock-now'))
    await settle()
    expect(lock).toHaveBeenCalled()
    expect(status.value?.phase).toBe('locked')
  })
})
