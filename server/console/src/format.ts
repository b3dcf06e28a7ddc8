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
export function valueText(value: unknown): string {
  if (value === null || value === undefined) return '—'
  if (Array.isArray(value)) return value.join('、')
  if (typeof value === 'boolean') return value ? '✓' : '✗'
  return String(value)
}
