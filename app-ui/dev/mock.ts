// A fake device in memory, for `npm run dev` in a plain browser: answers the
// commands of docs/app.md with a small demo grid so every screen can be seen
// and clicked without the Rust side. Loaded only by the dev server (never in
// a build). Start in a given phase with ?phase=ready|locked|set_pin|enroll|key_error;
// the PIN is 123456.
import { mockIPC } from '@tauri-apps/api/mocks'
import { emit } from '@tauri-apps/api/event'
import type { Conflict, FieldHistory, Grid, RecordData, Refused, Status, SyncState, Value } from '../src/api'
import { SCHEMA } from './schema'

const DAY = 86_400_000
const HOUR = 3_600_000

function fail(code: string, message: string, message_zh: string, extra: Record<string, unknown> = {}): never {
  throw { code, message, message_zh, ...extra }
}

function uuid7(): string {
  const ms = Date.now().toString(16).padStart(12, '0')
  const rand = crypto.randomUUID().replace(/-/g, '')
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${rand.slice(13, 16)}-${'89ab'[Math.floor(Math.random() * 4)]}${rand.slice(17, 20)}-${rand.slice(20, 32)}`
}

function rfc3339(ms: number): string {
  const d = new Date(ms)
  const pad = (n: number) => String(n).padStart(2, '0')
  const off = -d.getTimezoneOffset()
  const sign = off >= 0 ? '+' : '-'
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`
}

function date(ms: number): string {
  return rfc3339(ms).slice(0, 10)
}

const square = (lon: number, lat: number, w: number, h: number) =>
  JSON.stringify({
    type: 'Polygon',
    coordinates: [[[lon, lat], [lon + w, lat + h * 0.1], [lon + w * 0.95, lat + h], [lon + w * 0.1, lat + h * 1.05], [lon, lat]]],
  })

const GRIDS: Grid[] = [
  { id: uuid7(), code: '330702', name: '婺城区', level: 'district', parent: null, boundary: null, in_scope: false },
  { id: uuid7(), code: '330702001', name: '城东街道', level: 'street', parent: '330702', boundary: null, in_scope: false },
  { id: uuid7(), code: '330702001001', name: '和平社区', level: 'community', parent: '330702001', boundary: square(119.648, 29.081, 0.012, 0.008), in_scope: true },
  { id: uuid7(), code: '330702001001-01', name: '和平社区第一网格', level: 'unit', parent: '330702001001', boundary: square(119.6485, 29.0815, 0.0055, 0.0037), in_scope: true },
  { id: uuid7(), code: '330702001001-02', name: '和平社区第二网格', level: 'unit', parent: '330702001001', boundary: null, in_scope: true },
]
const GRID = '330702001001-01'

interface Stored {
  record: RecordData
  history: Map<string, FieldHistory>
}
const records = new Map<string, Stored>()
const photos = new Map<string, Uint8Array>()
const refused: Refused[] = []
let pending = 0
let pendingPhotos = 0
let lastSuccess: number | null = Date.now() - 3 * HOUR
let lastError: SyncState['last_error'] = null
let running = false

const DEVICE = 7

function put(kind: string, fields: Record<string, Value | null>, id?: string, writer = DEVICE, at = Date.now()): string {
  const key = id ?? uuid7()
  const stored: Stored = records.get(key) ?? { record: { id: key, kind } as RecordData, history: new Map() }
  for (const [name, value] of Object.entries(fields)) {
    if (value === null || value === '' || (Array.isArray(value) && value.length === 0)) delete stored.record[name]
    else stored.record[name] = value
    stored.history.set(name, { name, value, writer, writer_is_me: writer === DEVICE, at_ms: at, conflicts: [] })
  }
  records.set(key, stored)
  return key
}

function seed() {
  const now = Date.now()
  const b1 = put('building', { grid: GRID, address: '和平路12号', name: '和平里3号楼', floors: 6, units: 2, use: 'residential', rental: 'owner_occupied', risk: 'low', latitude: 29.0829, longitude: 119.6502 }, undefined, 0, now - 40 * DAY)
  const b2 = put('building', { grid: GRID, address: '和平路14号', name: '和平里4号楼', floors: 7, use: 'mixed', rental: 'group_rental', risk: 'medium', risk_notes: '一楼商铺堆放杂物，楼道有电动车充电' }, undefined, 0, now - 40 * DAY)
  put('building', { grid: GRID, address: '解放东路88号', use: 'commercial' }, undefined, 0, now - 30 * DAY)
  const h1 = put('household', { grid: GRID, address: '和平路12号', building: b1, room: '301', head: '张建国', phone: '13905791234', household_type: 'family', tags: ['empty_nest'] }, undefined, 0, now - 35 * DAY)
  const h2 = put('household', { grid: GRID, address: '和平路12号', building: b1, room: '502', head: '李秀英', household_type: 'family', tags: ['low_income'] }, undefined, 0, now - 35 * DAY)
  const h3 = put('household', { grid: GRID, address: '和平路14号', building: b2, room: '201', head: '王磊', household_type: 'rented' }, undefined, 0, now - 20 * DAY)
  const people: [string, string, string, string, string, string[]?][] = [
    ['张建国', '330702195303151217', 'male', '1953-03-15', h1, ['elderly_alone']],
    ['陈玉兰', '330702195508201228', 'female', '1955-08-20', h1],
    ['李秀英', '330702196811021546', 'female', '1968-11-02', h2, ['low_income']],
    ['李明', '33070219920615153X', 'male', '1992-06-15', h2],
    ['王磊', '340104199001011234', 'male', '1990-01-01', h3],
    ['张伟', '330702198507071111', 'male', '1985-07-07', h3],
    ['张丽', '330702198912121222', 'female', '1989-12-12', h3],
  ]
  let firstResident = ''
  for (const [name, idn, sex, birth, household, tags] of people) {
    const id = put('resident', { grid: GRID, name, id_number: idn, sex, birth_date: birth, household, residence_type: 'registered', tags: tags ?? [], phone: '1390579' + idn.slice(-4).replace('X', '0') }, undefined, 0, now - 30 * DAY)
    firstResident ||= id
  }
  // A conflict: the centre and another tablet changed the phone at once.
  const stored = records.get(firstResident)!
  stored.history.get('phone')!.conflicts = [{ value: '13800000000', writer: 12, at_ms: now - 2 * DAY }]
  put('case', { grid: GRID, category: 'public_facilities', description: '和平路12号门口窨井盖破损，有行人绊倒风险', status: 'dispatched', urgency: 'urgent', location: '和平路12号门口', latitude: 29.0826, longitude: 119.6499, reporter: '网格员何强艳', reported_at: rfc3339(now - 3 * DAY), department: '市政园林局', deadline: rfc3339(now - 26 * HOUR) }, undefined, 0, now - 3 * DAY)
  put('case', { grid: GRID, category: 'fire_safety', description: '4号楼楼道内电动车充电，堵塞消防通道', status: 'handling', urgency: 'normal', location: '和平路14号', reporter: '网格员何强艳', reported_at: rfc3339(now - DAY), department: '消防救援大队', deadline: rfc3339(now + 5 * HOUR) }, undefined, 0, now - DAY)
  put('case', { grid: GRID, category: 'sanitation', description: '垃圾桶满溢', status: 'reported', reporter: '网格员何强艳', reported_at: rfc3339(now - 2 * HOUR), deadline: rfc3339(now + 6 * DAY) }, undefined, DEVICE, now - 2 * HOUR)
  put('case', { grid: GRID, category: 'dispute', description: '邻里噪音纠纷，已调解', status: 'closed', handled_in_grid: true, result: '上门调解，双方达成一致', reporter: '网格员何强艳', reported_at: rfc3339(now - 10 * DAY) }, undefined, DEVICE, now - 10 * DAY)
  put('task', { grid: GRID, title: '老年人优待证年审代办', description: '为辖区80岁以上老人代办年审', task_type: 'proxy_service', due: date(now + 2 * DAY), status: 'open' }, undefined, 0, now - 5 * DAY)
  put('task', { grid: GRID, title: '出租房屋信息采集', task_type: 'census', due: date(now - DAY), status: 'in_progress' }, undefined, 0, now - 9 * DAY)
  put('visit', { grid: GRID, household: h1, visited_at: rfc3339(now - 6 * DAY), purpose: 'care', worker: '网格员何强艳', notes: '老人身体尚可，独居', follow_up: '联系社区医生上门测血压', follow_up_due: date(now + DAY) }, undefined, DEVICE, now - 6 * DAY)
  refused.push({ at_ms: now - 5 * HOUR, id: firstResident, kind: 'resident', code: 'out_of_scope', field: 'grid', message: 'resident is not (or no longer) in this device\'s grids; the edit is kept for the centre', message_zh: '人口记录不在(或已不在)本设备负责的网格内,可能已迁往其他网格;此修改已交中心处理' })
  pending = 2
}

function list(kind: string): RecordData[] {
  return [...records.values()].map((s) => s.record).filter((r) => r.kind === kind && !r.deleted).sort((a, b) => a.id.localeCompare(b.id))
}

function syncState(): SyncState {
  return {
    running,
    online: true,
    last_success_ms: lastSuccess,
    last_attempt_ms: lastSuccess,
    pending_records: pending,
    pending_photos: pendingPhotos,
    last_error: lastError,
    progress: running ? { phase: 'pushing', pushed: 1, pending } : null,
    refused,
    conflicts: conflicts().length,
  }
}

function conflicts(): Conflict[] {
  const out: Conflict[] = []
  for (const s of records.values()) {
    for (const h of s.history.values()) {
      if (h.conflicts.length) {
        out.push({ kind: s.record.kind, id: s.record.id, field: h.name, winner: { value: h.value, writer: h.writer, at_ms: h.at_ms }, losers: h.conflicts })
      }
    }
  }
  return out
}

function check(kind: string, fields: Record<string, unknown>, isNew: boolean) {
  const def = SCHEMA.find((k) => k.kind === kind)
  if (!def) fail('invalid', `unknown kind ${kind}`, `未知类型${kind}`)
  for (const f of def.fields) {
    const v = fields[f.name]
    if (isNew && f.required && (v == null || v === '')) fail('invalid', `${f.label.en} is required`, `${f.label.zh}不能为空`, { field: f.name })
    if (typeof v !== 'string' || v === '') continue
    if (f.type === 'id_number' && !/^\d{17}[\dX]$/.test(v)) {
      fail('invalid', `${f.label.en}: an ID-card number has 18 characters, the last a digit or X`, `${f.label.zh}：身份证号应为18位，最后一位为数字或X`, { field: f.name })
    }
    if (f.type === 'phone' && !/^\+?[\d\- ]{7,20}$/.test(v)) fail('invalid', `${f.label.en}: not a phone number`, `${f.label.zh}：不是电话号码`, { field: f.name })
    if ((f.type === 'int' || f.type === 'float') && Number.isNaN(Number(v))) fail('invalid', `${f.label.en}: not a number`, `${f.label.zh}：不是数字`, { field: f.name })
  }
}

function typed(kind: string, fields: Record<string, unknown>): Record<string, Value | null> {
  const def = SCHEMA.find((k) => k.kind === kind)!
  const out: Record<string, Value | null> = {}
  for (const [name, v] of Object.entries(fields)) {
    const f = def.fields.find((x) => x.name === name)
    if (v == null || v === '') out[name] = null
    else if (f?.type === 'int' || f?.type === 'float') out[name] = Number(v)
    else if (f?.type === 'bool') out[name] = v === true || v === 'true'
    else out[name] = v as Value
  }
  return out
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as BufferSource)
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

export function installMock() {
  const phase = new URLSearchParams(location.search).get('phase') ?? 'ready'
  const status: Status = {
    phase: phase as Status['phase'],
    user_name: '网格员何强艳',
    server: 'http://10.0.0.2:8080',
    device_number: DEVICE,
    scope: ['330702001001'],
    key_store: 'key_file',
    retry_at_ms: null,
    error: phase === 'key_error' ? 'the database key in the Secret Service is gone' : null,
  }
  let wrong = 0
  seed()

  const publish = () => void emit('sync-state', syncState())
  ;(window as unknown as { gridworkMock: unknown }).gridworkMock = {
    revoke: () => {
      status.phase = 'enroll'
      void emit('revoked', null)
    },
    offline: () => {
      lastError = { code: 'network', message: 'cannot reach the server: connection refused', message_zh: '无法连接服务器(connection refused)' }
      publish()
    },
    lock: () => {
      status.phase = 'locked'
    },
  }

  mockIPC(
    async (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>
      await new Promise((r) => setTimeout(r, 60))
      switch (cmd) {
        case 'app_status':
          return { ...status }
        case 'enroll': {
          const code = String(args.code ?? '')
          if (code.startsWith('gridwork://')) return (status.phase = 'set_pin'), { ...status }
          if (!/^https?:\/\//.test(String(args.server))) fail('invalid', 'the server address starts with http:// or https://', '服务器地址应以 http:// 或 https:// 开头', { field: 'server' })
          if (String(args.server).includes('offline')) fail('network', 'cannot reach the server: connection refused', '无法连接服务器(connection refused)')
          if (code !== 'ABCD-1234') fail('bad_enrollment_code', 'this enrollment code is unknown, used or expired', '注册码无效、已使用或已过期')
          status.phase = 'set_pin'
          return { ...status }
        }
        case 'set_pin':
          status.phase = 'ready'
          return { ...status }
        case 'unlock':
          if (status.retry_at_ms && status.retry_at_ms > Date.now()) fail('pin_locked_out', 'too many wrong PINs', '密码错误次数过多', { retry_at_ms: status.retry_at_ms })
          if (args.pin !== '123456') {
            wrong++
            if (wrong >= 5) {
              status.retry_at_ms = Date.now() + 30_000
              fail('pin_locked_out', 'too many wrong PINs', '密码错误次数过多', { retry_at_ms: status.retry_at_ms })
            }
            fail('wrong_pin', 'wrong PIN', '密码错误', { attempts_left: 5 - wrong })
          }
          wrong = 0
          status.phase = 'ready'
          return { ...status }
        case 'lock':
          status.phase = 'locked'
          return { ...status }
        case 'schema':
          return SCHEMA
        case 'grids':
          return GRIDS
        case 'list_records': {
          let rows = list(String(args.kind))
          if (args.grid) rows = rows.filter((r) => r.grid === args.grid)
          if (args.building) rows = rows.filter((r) => r.building === args.building)
          if (args.household) rows = rows.filter((r) => r.household === args.household)
          if (args.after) rows = rows.filter((r) => r.id > String(args.after))
          return rows.slice(0, Math.min(Number(args.limit ?? 50), 500))
        }
        case 'search_residents': {
          const text = String(args.text ?? '').trim()
          const rows = list('resident').filter((r) =>
            /^\d/.test(text)
              ? String(r.id_number ?? '').startsWith(text) || String(r.phone ?? '').startsWith(text)
              : String(r.name ?? '').startsWith(text),
          )
          return rows.slice(0, Number(args.limit ?? 50))
        }
        case 'get_record': {
          const s = records.get(String(args.id))
          if (!s || s.record.kind !== args.kind) fail('not_found', 'no such record', '没有这条记录')
          return {
            record: { ...s.record },
            fields: [...s.history.values()],
            refused: refused.filter((r) => r.id === s.record.id),
          }
        }
        case 'put_record': {
          const kind = String(args.kind)
          const fields = (args.fields ?? {}) as Record<string, unknown>
          const id = args.id ? String(args.id) : undefined
          if (id && !records.has(id)) fail('not_found', 'no such record', '没有这条记录')
          check(kind, fields, !id)
          const saved = put(kind, typed(kind, fields), id)
          pending++
          publish()
          return { id: saved }
        }
        case 'delete_record':
          put(String(args.kind), { deleted: true }, String(args.id))
          pending++
          return {}
        case 'today': {
          const now = Date.now()
          const cases = list('case')
            .filter((c) => c.status !== 'closed' && c.status !== 'rejected')
            .map((c) => ({ ...c, due_in_ms: c.deadline ? Date.parse(String(c.deadline)) - now : null }))
            .sort((a, b) => (a.due_in_ms ?? Infinity) - (b.due_in_ms ?? Infinity))
          const soon = date(now + 7 * DAY)
          return {
            tasks: list('task').filter((t) => t.status === 'open' || t.status === 'in_progress').sort((a, b) => String(a.due).localeCompare(String(b.due))),
            cases,
            follow_ups: list('visit').filter((v) => v.follow_up_due && String(v.follow_up_due) <= soon),
            patrol: list('patrol').find((p) => !p.ended_at) ?? null,
            counts: {},
          }
        }
        case 'add_photo': {
          const bytes = payload instanceof Uint8Array ? payload : new Uint8Array(payload as ArrayBuffer)
          const sha = await sha256(bytes)
          photos.set(sha, bytes)
          pendingPhotos++
          publish()
          return { sha256: sha, width: 1600, height: 1200, bytes: bytes.length }
        }
        case 'photo': {
          const bytes = photos.get(String(args.sha256))
          if (!bytes) fail('not_found', 'no such photo', '没有这张照片')
          return bytes.buffer
        }
        case 'sync_now':
          if (!running) {
            running = true
            publish()
            setTimeout(() => {
              running = false
              pending = 0
              pendingPhotos = 0
              lastSuccess = Date.now()
              lastError = null
              publish()
            }, 2500)
          }
          return syncState()
        case 'sync_state':
          return syncState()
        case 'conflicts':
          return conflicts()
        default:
          fail('not_found', `no command ${cmd}`, `没有命令${cmd}`)
      }
    },
    { shouldMockEvents: true },
  )
}
