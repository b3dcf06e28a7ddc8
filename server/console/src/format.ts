// Times in the city's zone (Asia/Shanghai), numbers and names as the
// console shows them.
const ZONE = 'Asia/Shanghai'

const full = new Intl.DateTimeFormat('zh-CN', {
  timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
})

/** `2026-11-27 14:05` in the city's time. */
export function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—'
  const parts = Object.fromEntries(full.formatToParts(new Date(ms)).map((p) => [p.type, p.value]))
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`
}

const dayFormat = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' })

/** Today's date, `2026-11-27`, in the city's time. */
export function today(): string {
  return dayFormat.format(new Date())
}

/** A time a tablet wrote (RFC 3339, any offset) as `14:05` in the city's
 *  time, or `11-27 14:05` when it is not on `day`. */
export function clock(text: unknown, day?: string): string {
  if (typeof text !== 'string' || !text) return '—'
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) return text
  const shown = time(ms)
  return day && shown.startsWith(day) ? shown.slice(11) : shown.slice(5)
}

/** Minutes as `1小时25分` / `1 h 25 min`. */
export function duration(minutes: number, lang: string): string {
  const h = Math.floor(minutes / 60)
  const m = minutes % 60
  if (lang === 'en') return h ? `${h} h ${m} min` : `${m} min`
  return h ? `${h}小时${m}分` : `${m}分钟`
}

/** A share as a percentage with one decimal, or a dash when there is none. */
export function percent(part: number, whole: number): string {
  if (!whole) return '—'
  return `${((part / whole) * 100).toFixed(1)}%`
}

/** Bilingual names from the server (categories, departments). */
export function named(item: { name_zh: string; name_en: string } | undefined, lang: string, fallback = ''): string {
  if (!item) return fallback
  return lang === 'en' ? item.name_en : item.name_zh
}

/** A value of a record's field as text (lists joined). */
/**
 * A value typed at the console as text, read as the same kind of value as
 * `sample` (the field's current or proposed value): a list from words
 * separated by commas or spaces (sorted, as lists are kept), a number, a
 * yes/no, or text; empty is null. `undefined` when the text is not that
 * kind of value (a number with a typo), so that nothing is cleared by
 * mistake.
 */
export function parseTyped(sample: unknown, text: string): string | number | boolean | string[] | null | undefined {
  const trimmed = text.trim()
  if (!trimmed) return null
  if (Array.isArray(sample)) return [...new Set(trimmed.split(/[,、,\s]+/).filter(Boolean))].sort()
  if (typeof sample === 'number') {
    const number = Number(trimmed)
    return Number.isFinite(number) ? number : undefined
  }
  if (typeof sample === 'boolean') {
    const word = trimmed.toLowerCase()
    if (['true', '是', '1', 'yes', '✓'].includes(word)) return true
    if (['false', '否', '0', 'no', '✗'].includes(word)) return false
    return undefined
  }
  return trimmed
}

/** The text a value is edited as: the inverse of {@link parseTyped}. */
export function editText(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (Array.isArray(value)) return value.join(', ')
  return String(value)
}

export function valueText(value: unknown): string {
  if (value === null || value === undefined) return '—'
  if (Array.isArray(value)) return value.join('、')
  if (typeof value === 'boolean') return value ? '✓' : '✗'
  return String(value)
}
