// The sync state in words a worker understands: what is happening, what is
// waiting, and what went wrong, without the technical detail.
import type { ErrorBody, Lang, Refused, SyncState } from './api'
import { errorText } from './api'
import { formatWhen } from './format'
import { i18n } from './i18n'

type T = (key: string, params?: Record<string, unknown>) => string
const tr: T = (key, params) => i18n.global.t(key, params ?? {})
const currentLang = (): Lang => (i18n.global.locale.value === 'en' ? 'en' : 'zh')

export type Tone = 'ok' | 'busy' | 'pending' | 'warn' | 'error'

export interface SyncWords {
  tone: Tone
  /** One line: "正在同步…", "全部已同步", "待上传记录 3 条", or the error in plain words. */
  headline: string
  /** "待上传记录 3 条" (also when the headline says something else). */
  pending: string
  /** "上次成功同步：今天 14:03" or "还没有成功同步过". */
  last: string
  /** The last error in plain words, or "". */
  error: string
}

const KNOWN_ERRORS = new Set([
  'network',
  'unauthorized',
  'unknown_device',
  'forbidden',
  'device_diverged',
  'device_quota',
  'upload_quota',
  'too_large',
  'clock_ahead',
  'internal',
])

/** A sync error in plain words: the known ones rephrased, others as the Rust side says them. */
export function syncErrorText(error: ErrorBody | null | undefined, t: T = tr, lang: Lang = currentLang()): string {
  if (!error) return ''
  if (KNOWN_ERRORS.has(error.code)) return t(`sync.err.${error.code}`)
  return errorText(error, lang, t('app.unknownError'))
}

/** What the progress says: "正在上传记录：已上传 10，还剩 40". */
export function progressText(state: SyncState, t: T = tr): string {
  const p = state.progress
  if (!p) return t('sync.running')
  const num = (v: unknown) => (typeof v === 'number' ? v : 0)
  switch (p.phase) {
    case 'pushing':
    case 'push':
      return t('sync.pushing', { done: num(p.pushed), left: num(p.pending) })
    case 'pulling':
    case 'pull':
      return t('sync.pulling', { done: num(p.pulled) })
    case 'uploading':
    case 'photos': {
      const size = num(p.size)
      return size > 0 ? t('sync.uploadingPart', { pct: Math.min(100, Math.floor((num(p.sent) / size) * 100)) }) : t('sync.uploading')
    }
    default:
      return t('sync.running')
  }
}

export function pendingText(state: SyncState, t: T = tr, lang: Lang = currentLang()): string {
  const parts: string[] = []
  if (state.pending_records > 0 || state.pending_photos === 0) parts.push(t('sync.pending', { n: state.pending_records }))
  if (state.pending_photos > 0) parts.push(t('sync.pendingPhotos', { n: state.pending_photos }))
  return parts.join(lang === 'en' ? ', ' : '，')
}

export function describeSync(state: SyncState, now: Date = new Date(), t: T = tr, lang: Lang = currentLang()): SyncWords {
  const waiting = state.pending_records + state.pending_photos
  const error = syncErrorText(state.last_error, t, lang)
  const last = state.last_success_ms ? t('sync.lastSuccess', { t: formatWhen(state.last_success_ms, now, t) }) : t('sync.never')
  const pending = pendingText(state, t, lang)
  let tone: Tone
  let headline: string
  if (state.running) {
    tone = 'busy'
    headline = progressText(state, t)
  } else if (error) {
    // A network error is expected in the field: a warning, not an alarm.
    tone = state.last_error?.code === 'network' ? 'warn' : 'error'
    headline = error
  } else if (!state.online) {
    tone = 'warn'
    headline = t('sync.offline')
  } else if (waiting > 0) {
    tone = 'pending'
    headline = pending
  } else {
    tone = 'ok'
    headline = t('sync.allSynced')
  }
  return { tone, headline, pending, last, error }
}

/** What the worker should do about a refused edit. */
export function refusedAdvice(refused: Refused, t: T = tr): string {
  switch (refused.code) {
    case 'out_of_scope':
    case 'invalid':
    case 'forbidden':
      return t(`sync.advice.${refused.code}`)
    default:
      return t('sync.advice.other')
  }
}
