// The console's one door to the server: every call goes through `call`,
// which sends the session's token and the protocol header and turns the
// server's error answers into `ApiError` (with its message in both
// languages). The types mirror crates/protocol (admin.rs, cases.rs,
// console.rs); the server decides what each caller may see and do.

export const PROTOCOL = '1'

export type Role = 'admin' | 'staff' | 'worker' | 'handler'

export interface UserInfo {
  id: string
  name: string
  role: Role
  grids: string[]
  created_at_ms: number
  department?: string | null
}

export interface Me {
  user: UserInfo
  citywide: boolean
  grids: string[]
  map_tiles: string | null
}

export interface Label {
  zh: string
  en: string
}

export interface Choice {
  code: string
  zh: string
  en: string
}

export interface FieldInfo {
  name: string
  label: Label
  required: boolean
  type: string
  choices?: Choice[]
}

export interface KindInfo {
  kind: string
  label: Label
  fields: FieldInfo[]
}

export interface GridInfo {
  code: string
  name: string
  parent: string | null
  level: string
  boundary: string | null
}

export interface CaseSummary {
  id: string
  grid: string
  handling_grid: string
  category: string
  status: string
  department: string | null
  description: string
  received_at_ms: number
  due_at_ms: number
  on_site_due_at_ms: number | null
  overdue: boolean
  due_soon: boolean
  handled_in_grid: boolean
  latitude?: number | null
  longitude?: number | null
}

export interface CasePage {
  items: CaseSummary[]
  next: string | null
}

export interface CaseStep {
  id: number
  at_ms: number
  step: string
  user_id: string | null
  user_name: string | null
  device_id: string | null
  from_status: string | null
  to_status: string
  department: string | null
  note: string | null
}

export type Value = null | boolean | number | string | string[]

/** What a list exports as: spreadsheets, and GeoJSON where the list has a map. */
export type ExportFormat = 'xlsx' | 'csv' | 'geojson'

export interface CaseView {
  summary: CaseSummary
  fields: Record<string, Value>
  steps: CaseStep[]
  uncounted_years: number[]
  /** The steps the caller may take now (the server's rules decide). */
  open_steps: StepName[]
}

export interface Supervision {
  case: CaseSummary
  at_ms: number
  by: string | null
  note: string | null
}

export interface RecordItem {
  id: string
  kind: string
  grid: string | null
  title: string
  fields: Record<string, Value>
}

export interface RecordPage {
  items: RecordItem[]
  next: string | null
}

export interface FieldVersion {
  value: Value
  winner: boolean
  writer: { number: number; device_id: string | null; user_id: string | null; user_name: string | null }
  counter: number
  at_ms: number
}

export interface FieldHistory {
  field: string
  label_zh: string
  label_en: string
  in_conflict: boolean
  versions: FieldVersion[]
}

export interface RecordView {
  id: string
  kind: string
  grid: string | null
  deleted: boolean
  fields: Record<string, Value>
  history: FieldHistory[]
}

export interface RecordFilter {
  kind: 'resident' | 'household' | 'building'
  grid?: string | null
  q?: string | null
  tag?: string | null
  residence?: string | null
}

export interface WorkerDay {
  worker: string
  patrols: number
  visits: number
  patrol_minutes: number
}

/** A day's patrols and visits (`GET /activity`), earliest first. */
export interface ActivityDay {
  day: string
  patrols: RecordItem[]
  visits: RecordItem[]
  workers: WorkerDay[]
  truncated: boolean
}

/** Each worker's patrols and visits over a span of days. */
export interface ActivityPeriod {
  from: string
  to: string
  patrols: number
  visits: number
  workers: { worker: string; patrols: number; visits: number; days: number }[]
  truncated: boolean
}

export interface ActivityFilter {
  day?: string | null
  grid?: string | null
  worker?: string | null
}

export interface Department {
  code: string
  name_zh: string
  name_en: string
}

export interface Category {
  code: string
  name_zh: string
  name_en: string
  on_site_limit: string | null
  solve_limit: string
  department: string | null
}

export interface CalendarDay {
  day: string
  kind: 'holiday' | 'workday'
  name_zh: string
  name_en: string
}

export interface CalendarYear {
  year: number
  source: string | null
  days: CalendarDay[]
}

export interface Tally {
  key: string
  name?: string
  total: number
  open: number
  overdue: number
  closed: number
  closed_on_time: number
  handled_in_grid: number
}

export interface CaseStats {
  total: number
  open: number
  overdue: number
  due_soon: number
  closed: number
  closed_on_time: number
  handled_in_grid: number
  hours_to_handle: number | null
  hours_to_close: number | null
  by_status: Tally[]
  by_category: Tally[]
  by_department: Tally[]
  by_grid: Tally[]
  by_worker: Tally[]
}

export interface VersionInfo {
  value: Value
  writer: number
  hlc: unknown
  at_ms: number
}

export interface Conflict {
  kind: string
  id: string
  field: string
  winner: VersionInfo
  losers: VersionInfo[]
}

export interface ParkedSummary {
  id: number
  at_ms: number
  device_id: string
  record: string
  kind: string
  code: string
  field: string | null
  message: string
  bytes: number
  grid: string | null
}

export interface ParkedPage {
  items: ParkedSummary[]
  next: number | null
  total: number
  overflow: { device_id: string; code: string; count: number; first_at_ms: number; last_at_ms: number }[]
}

export interface ParkedChange extends Omit<ParkedSummary, 'bytes'> {
  values: unknown
  truncated: unknown
}

export interface DeviceInfo {
  id: string
  number: number
  user_id: string
  user_name: string
  app_version: string
  enrolled_at_ms: number
  last_seen_ms: number | null
  last_sync_ms: number | null
  pending: number
  refused: number
  acked_counter: number
  revoked: boolean
  revoked_at_ms: number | null
}

export interface EnrollmentCode {
  code: string
  user_id: string
  expires_at_ms: number
}

export interface NewUser {
  name: string
  role: Role
  grids: string[]
  password: string | null
  department: string | null
}

export interface NewGrid {
  code: string
  name: string
  parent: string | null
  level: string | null
}

export interface NewCase {
  grid: string
  category: string
  description: string
  location?: string | null
  reporter?: string | null
  reporter_phone?: string | null
  urgency?: string | null
}

export type StepName =
  | 'accept'
  | 'reject'
  | 'dispatch'
  | 'transfer'
  | 'return'
  | 'escalate'
  | 'handle'
  | 'close'
  | 'visit'
  | 'supervise'

export interface StepRequest {
  step: StepName
  department?: string | null
  note?: string | null
  satisfaction?: 'satisfied' | 'basic' | 'unsatisfied' | null
}

/** What the server said went wrong, in both languages. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly messageZh: string,
  ) {
    super(message)
  }

  /** The message in the console's language. */
  said(lang: string): string {
    return lang === 'en' ? this.message : this.messageZh || this.message
  }
}

const TOKEN_KEY = 'gridwork.console.token'

/** The session's token: kept for this browser tab only. */
export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY)
  },
  set token(value: string | null) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value)
    else sessionStorage.removeItem(TOKEN_KEY)
  },
}

/** Called when the server no longer knows the session (expired, logged out). */
let onUnauthorized: () => void = () => {}
export function whenUnauthorized(handler: () => void) {
  onUnauthorized = handler
}

async function raw(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'x-gridwork-protocol': PROTOCOL, accept: 'application/json' }
  if (session.token) headers.authorization = `Bearer ${session.token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  } catch {
    throw new ApiError(0, 'network', 'cannot reach the server: check the network and try again', '无法连接服务器,请检查网络后重试')
  }
  if (!response.ok) {
    let code = 'http', message = `the server answered ${response.status}`, zh = `服务器返回 ${response.status}`
    try {
      const error = (await response.json()).error
      if (error) {
        code = error.code ?? code
        message = error.message ?? message
        zh = error.message_zh ?? zh
      }
    } catch {
      // Not JSON: keep the status.
    }
    if (response.status === 401 && path !== '/api/v1/login') onUnauthorized()
    throw new ApiError(response.status, code, message, zh)
  }
  return response
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await (await raw(method, path, body)).json()) as T
}

function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const q = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '' && value !== false) q.set(key, String(value))
  }
  const text = q.toString()
  return text ? `?${text}` : ''
}

export interface CaseFilter {
  status?: string | null
  category?: string | null
  department?: string | null
  overdue?: boolean
}

export const api = {
  login: (name: string, password: string) =>
    call<{ token: string; expires_at_ms: number }>('POST', '/api/v1/login', { name, password }),
  logout: () => call<{ logged_out: boolean }>('POST', '/api/v1/logout'),
  me: () => call<Me>('GET', '/api/v1/me'),
  schema: () => call<KindInfo[]>('GET', '/api/v1/schema'),
  grids: () => call<GridInfo[]>('GET', '/api/v1/grids'),
  supervisions: () => call<Supervision[]>('GET', '/api/v1/supervisions'),
  stats: (sinceMs?: number) => call<CaseStats>('GET', `/api/v1/stats${query({ since_ms: sinceMs })}`),
  cases: (filter: CaseFilter, after?: string | null, limit = 50) =>
    call<CasePage>('GET', `/api/v1/cases${query({ ...filter, after, limit })}`),
  case: (id: string) => call<CaseView>('GET', `/api/v1/cases/${encodeURIComponent(id)}`),
  step: (id: string, request: StepRequest) =>
    call<CaseView>('POST', `/api/v1/cases/${encodeURIComponent(id)}/steps`, request),
  addCase: (body: NewCase) => call<{ id: string }>('POST', '/api/v1/cases', body),
  /** The list as filtered, as a file. */
  exportAdmin: async (list: 'devices' | 'users' | 'conflicts' | 'parked', format: ExportFormat, lang: string) =>
    (await raw('GET', `/api/v1/admin/${list}/export${query({ format, lang })}`)).blob(),
  exportGrids: async (format: ExportFormat, lang: string) =>
    (await raw('GET', `/api/v1/grids/export${query({ format, lang })}`)).blob(),
  exportCases: async (filter: CaseFilter, format: ExportFormat, lang: string) =>
    (await raw('GET', `/api/v1/cases/export${query({ ...filter, format, lang })}`)).blob(),
  records: (filter: RecordFilter, after?: string | null) =>
    call<RecordPage>('GET', `/api/v1/records${query({ ...filter, after, limit: 50 })}`),
  record: (id: string) => call<RecordView>('GET', `/api/v1/records/${encodeURIComponent(id)}`),
  activity: (filter: ActivityFilter) => call<ActivityDay>('GET', `/api/v1/activity${query({ ...filter })}`),
  activityPeriod: (filter: { from?: string; to?: string; grid?: string | null }) =>
    call<ActivityPeriod>('GET', `/api/v1/activity/period${query({ ...filter })}`),
  exportActivityPeriod: async (filter: { from?: string; to?: string; grid?: string | null }, format: ExportFormat, lang: string) =>
    (await raw('GET', `/api/v1/activity/period/export${query({ ...filter, format, lang })}`)).blob(),
  exportRecords: async (filter: RecordFilter, format: ExportFormat, lang: string) =>
    (await raw('GET', `/api/v1/records/export${query({ ...filter, format, lang })}`)).blob(),
  exportActivity: async (filter: ActivityFilter, kind: 'patrol' | 'visit', format: ExportFormat, lang: string) =>
    (await raw('GET', `/api/v1/activity/export${query({ ...filter, kind, format, lang })}`)).blob(),
  departments: () => call<Department[]>('GET', '/api/v1/departments'),
  addDepartment: (d: Department) => call<{ code: string }>('POST', '/api/v1/admin/departments', d),
  categories: () => call<Category[]>('GET', '/api/v1/categories'),
  updateCategory: (c: Category) =>
    call<Category>('PUT', `/api/v1/admin/categories/${encodeURIComponent(c.code)}`, c),
  calendar: (year: number) => call<CalendarYear>('GET', `/api/v1/calendar/${year}`),
  replaceCalendar: (y: CalendarYear) => call<{ recounted: number }>('PUT', `/api/v1/admin/calendar/${y.year}`, y),
  conflicts: () => call<Conflict[]>('GET', '/api/v1/admin/conflicts'),
  settle: (c: { kind: string; id: string; field: string; value: Value }) =>
    call<{ value: Value }>('POST', '/api/v1/admin/conflicts/settle', c),
  parked: (after?: number | null) => call<ParkedPage>('GET', `/api/v1/admin/parked${query({ after, limit: 50 })}`),
  parkedOne: (id: number) => call<ParkedChange>('GET', `/api/v1/admin/parked/${id}`),
  dismissParked: (id: number) => call<{ dismissed: number }>('POST', `/api/v1/admin/parked/${id}/dismiss`),
  applyParked: (id: number, values: Record<string, Value>) =>
    call<{ applied: number; kind: string; record: string; fields: string[] }>('POST', `/api/v1/admin/parked/${id}/apply`, { values }),
  devices: () => call<DeviceInfo[]>('GET', '/api/v1/admin/devices'),
  revoke: (id: string) => call<{ revoked: string }>('POST', `/api/v1/admin/devices/${encodeURIComponent(id)}/revoke`),
  enrollmentCode: (userId: string, ttlMinutes: number) =>
    call<EnrollmentCode>('POST', '/api/v1/admin/enrollment-codes', { user_id: userId, ttl_minutes: ttlMinutes }),
  users: () => call<UserInfo[]>('GET', '/api/v1/admin/users'),
  addUser: (u: NewUser) => call<{ id: string }>('POST', '/api/v1/admin/users', u),
  addGrid: (g: NewGrid) => call<{ id: string }>('POST', '/api/v1/admin/grids', g),
}
