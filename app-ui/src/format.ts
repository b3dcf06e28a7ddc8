// Dates, times and durations, shown in the tablet's local time. Every
// formatting of a time in the UI goes through here.
import { i18n } from './i18n'

type T = (key: string, params?: Record<string, unknown>) => string
const tr: T = (key, params) => i18n.global.t(key, params ?? {})

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

const pad = (n: number) => String(n).padStart(2, '0')

/** A length of time in words: "2天3小时", "5小时", "12分钟" (English: "2 d 3 h"). */
export function formatDuration(ms: number, t: T = tr): string {
  const abs = Math.abs(ms)
  if (abs < MINUTE) return t('time.underMinute')
  const days = Math.floor(abs / DAY)
  const hours = Math.floor((abs % DAY) / HOUR)
  const minutes = Math.floor((abs % HOUR) / MINUTE)
  if (days > 0) return hours > 0 ? t('time.daysHours', { d: days, h: hours }) : t('time.days', { d: days })
  if (hours > 0) return minutes > 0 && hours < 3 ? t('time.hoursMinutes', { h: hours, m: minutes }) : t('time.hours', { h: hours })
  return t('time.minutes', { m: minutes })
}

export interface Countdown {
  text: string
  overdue: boolean
  /** Less than a day left. */
  soon: boolean
}

/**
 * The time left to a deadline: "剩余 5小时", or "超期 2天3小时" once past it
 * (`dueInMs` negative).
 */
export function countdown(dueInMs: number, t: T = tr): Countdown {
  const overdue = dueInMs < 0
  const text = overdue
    ? t('time.overdue', { d: formatDuration(dueInMs, t) })
    : t('time.remaining', { d: formatDuration(dueInMs, t) })
  return { text, overdue, soon: !overdue && dueInMs < DAY }
}

/** The calendar date "YYYY-MM-DD" of a moment, in local time. */
export function localDate(d: Date = new Date()): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

function parseLocalDate(date: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date)
  if (!m) return null
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
}

/**
 * A due date (no time of day): "今天到期", "剩余 3天", "超期 2天", counted in
 * local calendar days.
 */
export function dateCountdown(date: string, now: Date = new Date(), t: T = tr): Countdown | null {
  const due = parseLocalDate(date)
  if (!due) return null
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate())
  const days = Math.round((due.getTime() - today.getTime()) / DAY)
  if (days === 0) return { text: t('time.dueToday'), overdue: false, soon: true }
  if (days < 0) return { text: t('time.overdue', { d: t('time.days', { d: -days }) }), overdue: true, soon: false }
  return { text: t('time.remaining', { d: t('time.days', { d: days }) }), overdue: false, soon: days <= 1 }
}

function toDate(at: string | number | Date | null | undefined): Date | null {
  if (at == null || at === '') return null
  const d = at instanceof Date ? at : new Date(at)
  return Number.isNaN(d.getTime()) ? null : d
}

/** "2026-11-27 14:03" in local time. */
export function formatDateTime(at: string | number | Date | null | undefined): string {
  const d = toDate(at)
  if (!d) return typeof at === 'string' ? at : ''
  return `${localDate(d)} ${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/** A stored date "YYYY-MM-DD" as shown (it has no time zone: shown as is). */
export function formatDate(date: string | null | undefined): string {
  return date ?? ''
}

/** "14:03" today, "昨天 09:12", "11-25 14:03" this year, else the full date and time. */
export function formatWhen(at: string | number | Date | null | undefined, now: Date = new Date(), t: T = tr): string {
  const d = toDate(at)
  if (!d) return ''
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`
  const day = localDate(d)
  if (day === localDate(now)) return t('time.todayAt', { t: hm })
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1)
  if (day === localDate(yesterday)) return t('time.yesterdayAt', { t: hm })
  if (d.getFullYear() === now.getFullYear()) return `${day.slice(5)} ${hm}`
  return `${day} ${hm}`
}

/** The local UTC offset of a moment, "+08:00". */
function offset(d: Date): string {
  const minutes = -d.getTimezoneOffset()
  const sign = minutes >= 0 ? '+' : '-'
  const abs = Math.abs(minutes)
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
}

/** RFC 3339 with the local offset and whole seconds: "2026-11-27T14:03:05+08:00". */
export function toRfc3339(d: Date = new Date()): string {
  return `${localDate(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${offset(d)}`
}

/** What an <input type="datetime-local"> shows for a stored date-time: "2026-11-27T14:03". */
export function toDatetimeLocal(value: string | null | undefined): string {
  const d = toDate(value)
  if (!d) return ''
  return `${localDate(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/** Back from an <input type="datetime-local"> to RFC 3339 with the local offset; "" stays "". */
export function fromDatetimeLocal(value: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim())
  if (!m) return value.trim()
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0)
  return toRfc3339(d)
}

/** The milliseconds until an RFC 3339 moment (negative once past), or null. */
export function msUntil(at: string | null | undefined, now: number = Date.now()): number | null {
  const d = toDate(at)
  return d ? d.getTime() - now : null
}

/** Age in whole years on `now` of someone born on `birth` ("YYYY-MM-DD"). */
export function age(birth: string, now: Date = new Date()): number | null {
  const b = parseLocalDate(birth)
  if (!b) return null
  let years = now.getFullYear() - b.getFullYear()
  if (now.getMonth() < b.getMonth() || (now.getMonth() === b.getMonth() && now.getDate() < b.getDate())) years--
  return years
}

/** An ID-card number with its middle hidden, for lists: "330702********002X". */
export function maskIdNumber(id: string): string {
  return id.length > 10 ? id.slice(0, 6) + '*'.repeat(id.length - 10) + id.slice(-4) : id
}

/** A short countdown on a clock face: "0:25", "12:05", "1:00:00". */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`
}
