import { ElMessage } from 'element-plus'
import { ApiError } from './api'
import { i18n } from './i18n'

/** Shows what went wrong in the console's language. */
export function showError(error: unknown) {
  const lang = i18n.global.locale.value
  const text = error instanceof ApiError ? error.said(lang) : error instanceof Error ? error.message : String(error)
  ElMessage({ type: 'error', message: text, duration: 6000, showClose: true })
}

export function showDone(text: string) {
  ElMessage({ type: 'success', message: text })
}
